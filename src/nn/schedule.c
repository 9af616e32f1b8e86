/* Learning-rate schedules by epoch: constant, poly (nnU-Net), cosine, step and
 * reduce-on-plateau, each with an optional linear warm-up. Plateau is the only
 * stateful one; its state round-trips through JSON for checkpoints. */
#include "proxyseg/nn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_CONSTANT, S_POLY, S_COSINE, S_STEP, S_PLATEAU } sched_kind;
static const char *sched_names[] = {"constant", "poly", "cosine", "step", "plateau"};

struct ps_sched {
  sched_kind kind;
  double lr0, power, min_lr, gamma, factor, threshold;
  int max_epochs, step_size, patience, warmup;
  bool mode_max;
  /* plateau state */
  double cur_lr, best;
  int bad_epochs;
  bool has_best;
};

ps_status ps_sched_create(const cJSON *cfg, double lr0, int max_epochs, ps_sched **out) {
  *out = NULL;
  const char *kind = ps_json_str(cfg, "kind", "poly");
  int k = -1;
  for (int i = 0; i < 5; i++)
    if (!strcmp(kind, sched_names[i])) k = i;
  if (k < 0) return ps_error(PS_ERR_INVALID, "lr schedule: unknown kind '%s' (constant, poly, cosine, step, plateau)", kind);
  if (!(lr0 > 0) || max_epochs < 1) return ps_error(PS_ERR_INVALID, "lr schedule: need lr > 0 and max_epochs >= 1 (got %g, %d)", lr0, max_epochs);
  ps_sched *s = calloc(1, sizeof *s);
  if (!s) return ps_error(PS_ERR_NOMEM, "out of memory");
  s->kind = (sched_kind)k;
  s->lr0 = lr0;
  s->max_epochs = max_epochs;
  s->power = ps_json_num(cfg, "power", 0.9);
  s->min_lr = ps_json_num(cfg, "min_lr", 0.0);
  s->gamma = ps_json_num(cfg, "gamma", 0.1);
  s->step_size = ps_json_int(cfg, "step_size", 30);
  s->factor = ps_json_num(cfg, "factor", 0.1);
  s->patience = ps_json_int(cfg, "patience", 10);
  s->threshold = ps_json_num(cfg, "threshold", 1e-4);
  s->warmup = ps_json_int(cfg, "warmup_epochs", 0);
  const char *mode = ps_json_str(cfg, "mode", "min");
  s->mode_max = !strcmp(mode, "max");
  ps_status st = PS_OK;
  if (strcmp(mode, "min") && strcmp(mode, "max")) st = ps_error(PS_ERR_INVALID, "lr schedule: mode '%s' must be min or max", mode);
  else if (s->step_size < 1) st = ps_error(PS_ERR_INVALID, "lr schedule: step_size must be >= 1");
  else if (s->warmup < 0 || s->warmup >= max_epochs) st = ps_error(PS_ERR_INVALID, "lr schedule: warmup_epochs %d must be in [0, max_epochs)", s->warmup);
  else if (!(s->factor > 0 && s->factor < 1)) st = ps_error(PS_ERR_INVALID, "lr schedule: factor must be in (0,1)");
  if (st) { free(s); return st; }
  s->cur_lr = lr0;
  *out = s;
  return PS_OK;
}

void ps_sched_free(ps_sched *s) { free(s); }

double ps_lr_at(ps_sched *s, int epoch) {
  if (epoch < 0) epoch = 0;
  if (epoch < s->warmup) return s->lr0 * (epoch + 1) / (s->warmup + 1);
  double e = epoch - s->warmup, m = s->max_epochs - s->warmup;
  if (e > m) e = m;
  switch (s->kind) {
  case S_CONSTANT: return s->lr0;
  case S_POLY: return s->lr0 * pow(1.0 - e / m, s->power);
  case S_COSINE: return s->min_lr + 0.5 * (s->lr0 - s->min_lr) * (1.0 + cos(M_PI * e / m));
  case S_STEP: return s->lr0 * pow(s->gamma, floor(e / s->step_size));
  case S_PLATEAU: return s->cur_lr;
  }
  return s->lr0;
}

/* PyTorch ReduceLROnPlateau with threshold_mode 'rel'. */
void ps_lr_observe(ps_sched *s, double metric) {
  if (s->kind != S_PLATEAU || !isfinite(metric)) return;
  bool better;
  if (!s->has_best) better = true;
  else if (s->mode_max) better = metric > s->best * (1.0 + s->threshold);
  else better = metric < s->best * (1.0 - s->threshold);
  if (better) {
    s->best = metric;
    s->has_best = true;
    s->bad_epochs = 0;
  } else if (++s->bad_epochs > s->patience) {
    double nl = s->cur_lr * s->factor;
    s->cur_lr = nl > s->min_lr ? nl : s->min_lr;
    s->bad_epochs = 0;
  }
}

cJSON *ps_sched_state(const ps_sched *s) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "kind", sched_names[s->kind]);
  cJSON_AddNumberToObject(j, "lr0", s->lr0);
  cJSON_AddNumberToObject(j, "max_epochs", s->max_epochs);
  cJSON_AddNumberToObject(j, "power", s->power);
  cJSON_AddNumberToObject(j, "min_lr", s->min_lr);
  cJSON_AddNumberToObject(j, "gamma", s->gamma);
  cJSON_AddNumberToObject(j, "step_size", s->step_size);
  cJSON_AddNumberToObject(j, "factor", s->factor);
  cJSON_AddNumberToObject(j, "patience", s->patience);
  cJSON_AddNumberToObject(j, "threshold", s->threshold);
  cJSON_AddStringToObject(j, "mode", s->mode_max ? "max" : "min");
  cJSON_AddNumberToObject(j, "warmup_epochs", s->warmup);
  cJSON_AddNumberToObject(j, "current_lr", s->cur_lr);
  cJSON_AddNumberToObject(j, "bad_epochs", s->bad_epochs);
  if (s->has_best) cJSON_AddNumberToObject(j, "best", s->best);
  return j;
}

ps_status ps_sched_load_state(ps_sched *s, const cJSON *st) {
  if (!cJSON_IsObject(st)) return ps_error(PS_ERR_DATA, "lr schedule state: not an object");
  s->cur_lr = ps_json_num(st, "current_lr", s->lr0);
  s->bad_epochs = ps_json_int(st, "bad_epochs", 0);
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(st, "best");
  s->has_best = cJSON_IsNumber(b);
  if (s->has_best) s->best = b->valuedouble;
  return PS_OK;
}
