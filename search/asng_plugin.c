/* ASNG augmentation search (Xu et al., MICCAI 2020) as a trainer plugin: it
 * owns the weight step. Per training step, as the paper's run_iteration:
 *  (a) weights: mean loss of lambda sampled policies on the same batch, one step;
 *  (b) theta: per fresh policy a look-ahead step, its loss on a held-out
 *      mini-batch, weights restored; then the ASNG update on those losses.
 * theta.jsonl gets a line per update; policy.json the argmax policy as
 * training-config keys (usable with `train --config`). */
#include "asng_plugin.h"
#include "asng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The space (reference table 2.1): 7 interval ops with a left and a right
 * bound variable, then 4 probabilities. Angles in degrees here, radians in the policy. */
typedef struct { const char *name; double lo, hi; } var_def;
static const var_def space[] = {
    {"scale.lo", 0.5, 1.0},   {"scale.hi", 1.0, 1.5},
    {"rot_x.lo", -30, 0},     {"rot_x.hi", 0, 30},
    {"rot_y.lo", -30, 0},     {"rot_y.hi", 0, 30},
    {"rot_z.lo", -30, 0},     {"rot_z.hi", 0, 30},
    {"elastic_alpha.lo", 0, 450}, {"elastic_alpha.hi", 450, 900},
    {"elastic_sigma.lo", 0, 7},   {"elastic_sigma.hi", 7, 14},
    {"gamma.lo", 0.5, 1.0},   {"gamma.hi", 1.0, 1.5},
    {"p_scale", 0, 1}, {"p_rot", 0, 1}, {"p_eldef", 0, 1}, {"p_gamma", 0, 1}};
#define NV ((int)(sizeof space / sizeof *space))

int ps_asng_space_size(void) { return NV; }
const char *ps_asng_space_name(int i) { return i >= 0 && i < NV ? space[i].name : NULL; }

static double level_value(int i, int k, int levels) { return space[i].lo + (space[i].hi - space[i].lo) * k / (levels - 1); }
double ps_asng_level_value(int i, int k, int levels) { return i >= 0 && i < NV && levels > 1 ? level_value(i, k, levels) : 0; }

void ps_asng_policy_of(const int *c, int levels, ps_aug_policy *pol) {
  double v[NV];
  for (int i = 0; i < NV; i++) v[i] = level_value(i, c[i], levels);
  const double rad = M_PI / 180;
  /* the paper's transforms: spatial (scale, rotation, elastic), gamma, mirror; nothing else */
  *pol = ps_aug_policy_none();
  pol->mirror_p[0] = pol->mirror_p[1] = pol->mirror_p[2] = 0.5;
  pol->scale = (ps_aug_op){v[14], v[0], v[1]};
  pol->rot_x = (ps_aug_op){v[15], v[2] * rad, v[3] * rad};
  pol->rot_y = (ps_aug_op){v[15], v[4] * rad, v[5] * rad};
  pol->rot_z = (ps_aug_op){v[15], v[6] * rad, v[7] * rad};
  pol->elastic_alpha = (ps_aug_op){v[16], v[8], v[9]};
  pol->elastic_sigma = (ps_aug_op){v[16], v[10], v[11]};
  pol->gamma = (ps_aug_op){v[17], v[12], v[13]};
}

cJSON *ps_asng_policy_config(const int *c, int levels) {
  ps_aug_policy pol;
  ps_asng_policy_of(c, levels, &pol);
  cJSON *cfg = cJSON_CreateObject(), *aug = cJSON_AddObjectToObject(cfg, "aug");
  cJSON_AddStringToObject(aug, "preset", "none");
  cJSON *m = cJSON_AddObjectToObject(aug, "mirror");
  cJSON_AddNumberToObject(m, "p", 0.5);
  const char *names[] = {"scale", "rot_x", "rot_y", "rot_z", "elastic_alpha", "elastic_sigma", "gamma"};
  const ps_aug_op *ops[] = {&pol.scale, &pol.rot_x, &pol.rot_y, &pol.rot_z, &pol.elastic_alpha, &pol.elastic_sigma, &pol.gamma};
  for (int i = 0; i < 7; i++) {
    cJSON *o = cJSON_AddObjectToObject(aug, names[i]);
    cJSON_AddNumberToObject(o, "p", ops[i]->p);
    cJSON_AddNumberToObject(o, "lo", ops[i]->lo);
    cJSON_AddNumberToObject(o, "hi", ops[i]->hi);
  }
  return cfg;
}

typedef struct {
  ps_asng *asng;
  int lam, levels, theta_every;
  bool restore_opt;
  int *samples;      /* [lam][NV] */
  double *losses;    /* [lam] */
  float *vimg;       /* validation mini-batch */
  uint8_t *vlab;
  char *log;         /* theta.jsonl content so far (one line per update) */
  size_t log_len, log_cap;
  int64_t lines;
  char *dir;         /* the run's folder (theta.jsonl is rewritten at each checkpoint) */
} asng_state;

static void asng_destroy(void *p) {
  asng_state *s = p;
  if (!s) return;
  ps_asng_free(s->asng);
  free(s->samples);
  free(s->losses);
  free(s->vimg);
  free(s->vlab);
  free(s->log);
  free(s->dir);
  free(s);
}

static ps_status asng_create(const cJSON *opts, ps_train_ctx *c, void **out) {
  *out = NULL;
  if (opts && !cJSON_IsObject(opts)) return ps_error(PS_ERR_INVALID, "asng options: expected an object");
  const char *known[] = {"lambda", "alpha", "delta_init", "levels", "restore_optimizer", "theta_every"};
  for (const cJSON *it = opts ? opts->child : NULL; it; it = it->next) {
    bool ok = false;
    for (size_t k = 0; k < sizeof known / sizeof *known; k++) ok |= !strcmp(it->string, known[k]);
    if (!ok) return ps_error(PS_ERR_INVALID, "asng option '%s': unknown (known: lambda, alpha, delta_init, levels, restore_optimizer, theta_every)", it->string);
  }
  asng_state *s = calloc(1, sizeof *s);
  if (!s) return ps_error(PS_ERR_NOMEM, "out of memory");
  s->lam = ps_json_int(opts, "lambda", 2);
  s->levels = ps_json_int(opts, "levels", 11);
  s->theta_every = ps_json_int(opts, "theta_every", 1);
  s->restore_opt = ps_json_bool(opts, "restore_optimizer", false);
  s->dir = ps_strdup(c->out_dir);
  if (s->levels < 2 || s->theta_every < 1) {
    ps_status e = ps_error(PS_ERR_INVALID, "asng options: levels (%d) must be >= 2 and theta_every (%d) >= 1", s->levels, s->theta_every);
    asng_destroy(s);
    return e;
  }
  int cats[NV];
  for (int i = 0; i < NV; i++) cats[i] = s->levels;
  ps_status st = ps_asng_create(NV, cats, s->lam, ps_json_num(opts, "alpha", 1.5), ps_json_num(opts, "delta_init", 1.0), true, &s->asng);
  if (st) { asng_destroy(s); return st; }
  size_t pv = (size_t)c->patch[0] * c->patch[1] * c->patch[2];
  s->samples = malloc((size_t)s->lam * NV * sizeof(int));
  s->losses = malloc((size_t)s->lam * sizeof(double));
  s->vimg = malloc((size_t)c->batch * c->channels * pv * sizeof(float));
  s->vlab = malloc((size_t)c->batch * pv);
  if (!s->samples || !s->losses || !s->vimg || !s->vlab) { asng_destroy(s); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  ps_info("asng: %d variables x %d levels, lambda %d, theta step every %d training step(s)", NV, s->levels, s->lam, s->theta_every);
  *out = s;
  return PS_OK;
}

/* (a) the weight step: gradient of the mean loss over lambda policies, one batch */
static ps_status weight_step(asng_state *s, ps_train_ctx *c) {
  ps_params *p = ps_net_params(c->net);
  ps_params_zero_grad(p);
  double sum = 0;
  for (int k = 0; k < s->lam; k++) {
    int m[NV];
    ps_aug_policy pol;
    ps_asng_sample(s->asng, c->rng, m);
    ps_asng_policy_of(m, s->levels, &pol);
    double l;
    ps_status st = ps_train_ctx_batch(c, &pol, c->img, c->lab);
    if (!st) st = ps_train_ctx_loss(c, c->img, c->lab, true, &l); /* gradients accumulate */
    if (st) return st;
    sum += l;
  }
  float *g = ps_params_grad(p);
  size_t n = ps_params_numel(p);
  const float inv = 1.0f / (float)s->lam;
  for (size_t i = 0; i < n; i++) g[i] *= inv;
  c->loss_value = sum / s->lam;
  return ps_train_ctx_apply_step(c);
}

static ps_status log_append(asng_state *s, const char *line) {
  size_t n = strlen(line);
  if (s->log_len + n + 2 > s->log_cap) {
    size_t cap = (s->log_cap + n + 2) * 2;
    char *t = realloc(s->log, cap);
    if (!t) return ps_error(PS_ERR_NOMEM, "out of memory");
    s->log = t;
    s->log_cap = cap;
  }
  memcpy(s->log + s->log_len, line, n);
  s->log_len += n;
  s->log[s->log_len++] = '\n';
  s->log[s->log_len] = 0;
  s->lines++;
  return PS_OK;
}

static ps_status log_update(asng_state *s, ps_train_ctx *c, bool updated) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "iteration", (double)(s->lines + 1));
  cJSON_AddBoolToObject(j, "updated", updated); /* false: equal losses, no information (the reference skips) */
  cJSON_AddNumberToObject(j, "epoch", c->epoch);
  cJSON_AddNumberToObject(j, "step", c->iter);
  cJSON_AddNumberToObject(j, "delta", ps_asng_delta(s->asng));
  cJSON_AddNumberToObject(j, "convergence", ps_asng_convergence(s->asng));
  cJSON *ls = cJSON_AddArrayToObject(j, "val_losses");
  for (int k = 0; k < s->lam; k++) cJSON_AddItemToArray(ls, cJSON_CreateNumber(s->losses[k]));
  cJSON *th = cJSON_AddArrayToObject(j, "theta");
  const double *t = ps_asng_theta(s->asng);
  int cm = ps_asng_cmax(s->asng);
  for (int i = 0; i < NV; i++) {
    cJSON *row = cJSON_CreateArray();
    for (int k = 0; k < s->levels; k++) cJSON_AddItemToArray(row, cJSON_CreateNumber(t[i * cm + k]));
    cJSON_AddItemToArray(th, row);
  }
  char *line = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!line) return ps_error(PS_ERR_NOMEM, "out of memory");
  ps_status st = log_append(s, line);
  free(line);
  return st;
}

/* (b) the theta step: one look-ahead step per fresh policy, scored on a held-out mini-batch */
static ps_status theta_step(asng_state *s, ps_train_ctx *c) {
  ps_weight_snapshot *snap = NULL;
  ps_status st = ps_train_ctx_val_batch(c, s->vimg, s->vlab);
  if (!st) st = ps_weight_snapshot_take(c->net, s->restore_opt ? c->opt : NULL, &snap);
  for (int k = 0; k < s->lam && !st; k++) {
    int *m = s->samples + (size_t)k * NV;
    ps_aug_policy pol;
    ps_asng_sample(s->asng, c->rng, m);
    ps_asng_policy_of(m, s->levels, &pol);
    double l;
    st = ps_train_ctx_batch(c, &pol, c->img, c->lab);
    if (!st) {
      ps_params_zero_grad(ps_net_params(c->net));
      st = ps_train_ctx_loss(c, c->img, c->lab, true, &l);
    }
    if (!st) {
      c->lookahead = true;
      st = ps_train_ctx_apply_step(c);
      c->lookahead = false;
    }
    if (!st) st = ps_train_ctx_loss(c, s->vimg, s->vlab, false, &s->losses[k]);
    ps_weight_snapshot_restore(snap, c->net, s->restore_opt ? c->opt : NULL);
  }
  ps_weight_snapshot_free(snap);
  bool updated = false;
  if (!st) st = ps_asng_update(s->asng, s->samples, s->losses, &updated);
  if (!st) st = log_update(s, c, updated);
  return st;
}

static ps_status asng_step(void *p, ps_train_ctx *c) {
  asng_state *s = p;
  ps_status st = weight_step(s, c);
  int64_t global = (int64_t)c->epoch * c->iters_per_epoch + c->iter;
  if (!st && global % s->theta_every == 0) st = theta_step(s, c);
  return st;
}

static ps_status write_log(asng_state *s, const char *dir) {
  char *p = ps_path_join(dir, "theta.jsonl");
  ps_status st = ps_write_file_atomic(p, s->log ? s->log : "", s->log_len);
  free(p);
  return st;
}

static ps_status asng_save(void *p, cJSON **out) {
  asng_state *s = p;
  *out = cJSON_CreateObject();
  cJSON_AddItemToObject(*out, "asng", ps_asng_save(s->asng));
  cJSON_AddNumberToObject(*out, "log_lines", (double)s->lines);
  return write_log(s, s->dir);
}

static ps_status asng_reload_log(asng_state *s, const char *dir, int64_t want) {
  char *path = ps_path_join(dir, "theta.jsonl"), *data = NULL;
  size_t n = 0;
  ps_status st = ps_path_exists(path) ? ps_read_file(path, 0, &data, &n) : PS_OK;
  free(path);
  if (st) return st;
  char *q = data;
  while (!st && s->lines < want && q && *q) {
    char *e = strchr(q, '\n');
    if (!e) break;
    *e = 0;
    st = log_append(s, q);
    q = e + 1;
  }
  free(data);
  if (!st && s->lines != want)
    st = ps_error(PS_ERR_DATA, "theta.jsonl has %lld lines, the checkpoint expects %lld", (long long)s->lines, (long long)want);
  return st;
}

/* Resume: ASNG's state from the checkpoint, theta.jsonl cut back to the lines
 * the checkpoint had seen (a killed run may have written more). */
static ps_status asng_load(void *p, const cJSON *in) {
  asng_state *s = p;
  if (!in) return ps_error(PS_ERR_DATA, "the checkpoint has no ASNG state (was it written by a run without --algo asng?)");
  ps_status st = ps_asng_load(s->asng, cJSON_GetObjectItemCaseSensitive(in, "asng"));
  if (st) return st;
  s->log_len = 0;
  s->lines = 0;
  return asng_reload_log(s, s->dir, (int64_t)ps_json_num(in, "log_lines", 0));
}

static ps_status asng_result(void *p, ps_train_ctx *c) {
  asng_state *s = p;
  int m[NV];
  ps_asng_mle(s->asng, m);
  cJSON *cfg = ps_asng_policy_config(m, s->levels);
  cJSON *info = cJSON_AddObjectToObject(cfg, "asng");
  cJSON *lv = cJSON_AddObjectToObject(info, "levels");
  for (int i = 0; i < NV; i++) cJSON_AddNumberToObject(lv, space[i].name, m[i]);
  cJSON_AddNumberToObject(info, "updates", (double)ps_asng_updates(s->asng));
  cJSON_AddNumberToObject(info, "convergence", ps_asng_convergence(s->asng));
  cJSON_AddNumberToObject(info, "delta", ps_asng_delta(s->asng));
  /* policy.json is for `train --config`, which refuses unknown keys: the info goes beside it */
  cJSON *pol = cJSON_Duplicate(cfg, 1);
  cJSON_DeleteItemFromObjectCaseSensitive(pol, "asng");
  char *pp = ps_path_join(c->out_dir, "policy.json"), *ip = ps_path_join(c->out_dir, "asng.json");
  ps_status st = ps_json_write(pp, pol);
  if (!st) st = ps_json_write(ip, info);
  if (!st) st = write_log(s, c->out_dir);
  free(pp);
  free(ip);
  cJSON_Delete(pol);
  cJSON_Delete(cfg);
  return st;
}

const ps_train_plugin ps_asng_plugin = {
    .name = "asng", .needs_holdout = true, .create = asng_create, .step = asng_step, .save_state = asng_save,
    .load_state = asng_load, .result = asng_result, .destroy = asng_destroy};
