/* Sliding-window validation: softmax probabilities over whole cases, argmax,
 * Dice per class and case (NaN when a class is absent from both prediction and
 * truth, excluded from the means as in nnU-Net) and the mean cross-entropy. */
#include "proxyseg/infer.h"
#include "proxyseg/train.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ps_val_result_free(ps_val_result *v) {
  if (!v) return;
  free(v->class_dice);
  cJSON_Delete(v->per_case);
  v->class_dice = NULL;
  v->per_case = NULL;
}

ps_status ps_net_predict_patches(void *ud, const float *patches, int b, float *probs) {
  ps_net_predictor *P = ud;
  ps_tape_reset(P->tape);
  bool was = ps_tape_grad_enabled(P->tape);
  ps_tape_set_grad_enabled(P->tape, false);
  int64_t shape[5] = {b, P->channels, P->patch[0], P->patch[1], P->patch[2]};
  ps_tensor *x = ps_tape_wrap(P->tape, (float *)patches, 5, shape);
  ps_tensor *outs[8];
  int n_outs = 0;
  ps_status st = x ? ps_net_forward(P->net, P->tape, x, false, outs, &n_outs)
                   : ps_error_prefix(PS_ERR_NOMEM, "validation patches: ");
  ps_tensor *p = st ? NULL : ps_softmax(P->tape, outs[0]);
  if (!st && !p) st = PS_ERR_RUNTIME;
  if (!st) memcpy(probs, p->data, (size_t)p->numel * sizeof(float));
  ps_tape_set_grad_enabled(P->tape, was);
  ps_tape_reset(P->tape);
  return st;
}

ps_status ps_validate(ps_net *net, ps_tape *tape, const cJSON *cfg, const ps_case *cases, const int *idx, int n,
                      int n_classes, ps_val_result *out) {
  memset(out, 0, sizeof *out);
  out->n_fg = n_classes - 1;
  out->class_dice = calloc((size_t)(out->n_fg ? out->n_fg : 1), sizeof(double));
  int *class_n = calloc((size_t)(out->n_fg ? out->n_fg : 1), sizeof(int));
  out->per_case = cJSON_CreateArray();
  if (!out->class_dice || !class_n || !out->per_case) { free(class_n); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  ps_net_predictor P = {net, tape, (int)cases[idx[0]].image.c, n_classes, {0, 0, 0}};
  const cJSON *patch = cJSON_GetObjectItemCaseSensitive(cfg, "patch");
  for (int a = 0; a < 3; a++) P.patch[a] = cJSON_GetArrayItem(patch, a)->valueint;
  double overlap = ps_json_num(cfg, "val.overlap", 0.5);
  bool gaussian = ps_json_bool(cfg, "val.gaussian", true), mirror = ps_json_bool(cfg, "val.mirror", false);
  int vb = ps_json_int(cfg, "val.batch", 2);
  double loss_sum = 0;
  int64_t loss_n = 0;
  ps_status st = PS_OK;
  for (int ci = 0; ci < n && !st; ci++) {
    const ps_case *c = &cases[idx[ci]];
    int64_t nv = c->image.d * c->image.h * c->image.w;
    float *probs = malloc((size_t)(nv * n_classes) * sizeof(float));
    if (!probs) { st = ps_error(PS_ERR_NOMEM, "out of memory"); break; }
    st = ps_sliding_window(&c->image, P.patch, n_classes, overlap, gaussian, mirror, vb, ps_net_predict_patches, &P, probs);
    if (st) { free(probs); break; }
    int64_t *tp = calloc((size_t)n_classes * 3, sizeof(int64_t)), *fp = tp + n_classes, *fn = fp + n_classes;
    if (!tp) { free(probs); st = ps_error(PS_ERR_NOMEM, "out of memory"); break; }
    for (int64_t v = 0; v < nv; v++) {
      int best = 0;
      float bp = probs[v];
      for (int k = 1; k < n_classes; k++)
        if (probs[k * nv + v] > bp) { bp = probs[k * nv + v]; best = k; }
      int truth = c->label.data[v];
      if (truth >= n_classes) continue;
      loss_sum -= log(probs[truth * nv + v] + 1e-8);
      loss_n++;
      if (best == truth) tp[best]++;
      else { fp[best]++; fn[truth]++; }
    }
    cJSON *cj = cJSON_CreateObject();
    cJSON_AddStringToObject(cj, "id", c->id);
    cJSON *dj = cJSON_AddArrayToObject(cj, "dice");
    for (int k = 1; k < n_classes; k++) {
      int64_t den = 2 * tp[k] + fp[k] + fn[k];
      double d = den ? 2.0 * tp[k] / den : NAN;
      cJSON_AddItemToArray(dj, isfinite(d) ? cJSON_CreateNumber(d) : cJSON_CreateNull());
      if (isfinite(d)) { out->class_dice[k - 1] += d; class_n[k - 1]++; }
    }
    cJSON_AddItemToArray(out->per_case, cj);
    free(tp);
    free(probs);
  }
  double sum = 0;
  int m = 0;
  for (int k = 0; k < out->n_fg; k++) {
    out->class_dice[k] = class_n[k] ? out->class_dice[k] / class_n[k] : NAN;
    if (class_n[k]) { sum += out->class_dice[k]; m++; }
  }
  out->mean_dice = m ? sum / m : 0.0; /* no foreground anywhere: nothing was found, score 0 */
  out->loss = loss_n ? loss_sum / (double)loss_n : NAN;
  free(class_n);
  return st;
}
