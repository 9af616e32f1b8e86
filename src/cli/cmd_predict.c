/* proxyseg predict: sliding-window prediction with a trained checkpoint. Each
 * input is preprocessed with the plan stored in the checkpoint, predicted, and
 * mapped back (uncrop, resample, reorient) so the written label map has the
 * input's own shape, affine and orientation and overlays it in any viewer. */
#include "cli.h"
#include "proxyseg/dataset.h"
#include "proxyseg/infer.h"
#include "proxyseg/nifti.h"
#include "proxyseg/preprocess.h"
#include "proxyseg/train.h"
#include <stdlib.h>
#include <string.h>

/* Predict one loaded image (img: C x D x H x W, consumed) and write out_path. */
static ps_status predict_one(ps_net *net, const cJSON *cfg, const cJSON *plan, ps_volume *img, const char *what,
                             const char *out_path, double overlap, bool mirror) {
  ps_labelmap pred = {0}, orig = {0};
  cJSON *props = NULL;
  float *probs = NULL;
  ps_tape *tape = ps_tape_create();
  ps_status st = PS_OK;
  if (img->c != ps_net_in_channels(net))
    st = ps_error(PS_ERR_DATA, "%s: %lld channels, the model expects %d", what, (long long)img->c, ps_net_in_channels(net));
  if (!st && (st = ps_preprocess_case(plan, img, NULL, &props))) ps_error_prefix(st, "%s: ", what);
  int K = ps_net_n_classes(net);
  ps_net_predictor P = {net, tape, (int)img->c, K, {0, 0, 0}};
  const cJSON *patch = cJSON_GetObjectItemCaseSensitive(cfg, "patch");
  for (int a = 0; a < 3; a++) P.patch[a] = cJSON_GetArrayItem(patch, a)->valueint;
  if (!st) {
    probs = malloc((size_t)(img->d * img->h * img->w * K) * sizeof(float));
    if (!probs) st = ps_error(PS_ERR_NOMEM, "%s: out of memory", what);
  }
  if (!st) st = ps_sliding_window(img, P.patch, K, overlap, true, mirror, 2, ps_net_predict_patches, &P, probs);
  if (!st) st = ps_probs_argmax(probs, K, img->d, img->h, img->w, img, &pred);
  if (!st) st = ps_preprocess_invert_labels(props, &pred, &orig);
  if (!st) st = ps_nifti_write_labels(out_path, &orig);
  free(probs);
  ps_volume_free(img);
  ps_labelmap_free(&pred);
  ps_labelmap_free(&orig);
  cJSON_Delete(props);
  ps_tape_free(tape);
  return st;
}

/* CASE.nii.gz for CASE_0000.nii.gz (nnU-Net's channel suffix) or CASE.nii.gz */
static char *out_name(const char *out_dir, const char *id, const char *first_file) {
  const char *ending = strstr(first_file, ".nii.gz") ? ".nii.gz" : ".nii";
  return ps_strfmt("%s/%s%s", out_dir, id, ending);
}

/* Every case of a folder, in case-id order; a failed case is reported and
 * skipped; the status names every failure. */
static ps_status predict_folder(ps_net *net, const cJSON *cfg, const cJSON *plan, const char *input, const char *out,
                                double overlap, bool mirror) {
  ps_dataset *d = NULL;
  ps_status st = ps_dataset_open_images(input, ps_net_in_channels(net), &d);
  if (st) return st;
  int n = ps_dataset_n_test(d), n_failed = 0;
  ps_status first = PS_OK;
  size_t cap = 1024, len = 0;
  char *failed = calloc(cap, 1);
  for (int i = 0; i < n; i++) {
    const char *id = ps_dataset_test_id(d, i);
    ps_volume img = {0};
    double t0 = ps_now();
    char *op = out_name(out, id, ps_dataset_test_path(d, i, 0));
    ps_status cs = ps_dataset_load_test(d, i, &img, NULL);
    if (!cs) cs = predict_one(net, cfg, plan, &img, id, op, overlap, mirror);
    if (!cs) ps_info("predict %d/%d %s -> %s (%.1f s)", i + 1, n, id, op, ps_now() - t0);
    else {
      ps_log(PS_LOG_ERROR, "predict %d/%d %s failed: %s", i + 1, n, id, ps_last_error());
      if (!first) first = cs;
      n_failed++;
      size_t need = len + strlen(id) + 3;
      if (need > cap && failed) { cap = 2 * need; char *nf = realloc(failed, cap); if (!nf) free(failed); failed = nf; }
      if (failed) len += (size_t)snprintf(failed + len, cap - len, "%s%s", len ? ", " : "", id);
    }
    free(op);
  }
  if (n_failed)
    st = ps_error(first, "%d of %d cases failed (%s); the others were written to %s", n_failed, n,
                  failed ? failed : "out of memory listing them", out);
  free(failed);
  ps_dataset_free(d);
  return st;
}

static void usage(FILE *f) {
  fprintf(f, "usage: proxyseg predict --model CKPT --input FILE|DIR --out DIR [--overlap 0.5] [--mirror]\n"
             "  --model CKPT    a checkpoint.h5 (a study's best/checkpoint.h5, or train's)\n"
             "  --input         a NIfTI file, or a folder of them; nnU-Net channel files CASE_0000, CASE_0001, ...\n"
             "                  are one case\n"
             "  --out DIR       one CASE.nii.gz label map per case, in the input's own geometry\n"
             "  --overlap F     sliding-window overlap in [0, 0.95] (default 0.5)\n"
             "  --mirror        test-time mirroring along every axis (8x slower)\n");
}

int cmd_predict(int argc, char **argv) {
  const char *model = NULL, *input = NULL, *out = NULL;
  double overlap = 0.5;
  bool mirror = false;
  static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"input", required_argument, 0, 'i'},
                                       {"out", required_argument, 0, 'o'},   {"overlap", required_argument, 0, 'O'},
                                       {"mirror", no_argument, 0, 'M'},      {0, 0, 0, 0}};
  int c, rc = 0;
  optind = 1;
  while ((c = ps_cli_getopt("predict", argc, argv, opts, usage, &rc)) != -1) {
    switch (c) {
    case PS_CLI_RETURN: return rc;
    case 'm': model = optarg; break;
    case 'i': input = optarg; break;
    case 'o': out = optarg; break;
    case 'O': if (!ps_cli_num("predict", "overlap", optarg, 0, 0.95, &overlap)) return 2; break;
    case 'M': mirror = true; break;
    }
  }
  if ((rc = ps_cli_no_positional("predict", argc, argv))) return rc;
  if (!model || !input || !out) {
    fprintf(stderr, "proxyseg predict: --model, --input and --out are required\n");
    usage(stderr);
    return 2;
  }
  ps_net *net = NULL;
  cJSON *state = NULL;
  ps_status st = ps_checkpoint_load_net(model, &net);
  if (!st) st = ps_checkpoint_load(model, net, NULL, &state, NULL);
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(state, "config"), *plan = cJSON_GetObjectItemCaseSensitive(state, "plan");
  if (!st && (!cfg || !plan)) st = ps_error(PS_ERR_DATA, "%s: the checkpoint holds no training config or preprocessing plan", model);
  if (!st) st = ps_mkdir_p(out);
  if (!st) st = ps_threads_set(0);
  if (!st && ps_is_dir(input)) {
    st = predict_folder(net, cfg, plan, input, out, overlap, mirror);
  } else if (!st) { /* one file: one case holding every channel */
    ps_volume img = {0};
    const char *base = strrchr(input, '/');
    char *stem = ps_strdup(base ? base + 1 : input);
    char *cut = strstr(stem, ".nii");
    if (cut) *cut = 0;
    size_t l = strlen(stem);
    if (l > 5 && !strcmp(stem + l - 5, "_0000")) stem[l - 5] = 0; /* nnU-Net's channel 0 of a one-channel case */
    char *op = out_name(out, stem, input);
    st = ps_nifti_read(input, &img, NULL);
    if (!st) st = predict_one(net, cfg, plan, &img, input, op, overlap, mirror);
    if (!st) ps_info("predict %s -> %s", input, op);
    free(op);
    free(stem);
  }
  cJSON_Delete(state);
  ps_net_free(net);
  return st ? ps_cli_fail("predict", st) : 0;
}
