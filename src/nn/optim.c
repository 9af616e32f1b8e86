/* Optimisers (SGD with momentum/Nesterov, Adam, AdamW) as one backend kernel
 * pass over the contiguous value/gradient blocks of a parameter arena, following
 * PyTorch's update rules exactly so trajectories can be compared. State buffers
 * are memory of the arena's backend. */
#include "proxyseg/nn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW } opt_kind;

struct ps_optim {
  opt_kind kind;
  ps_params *p;
  cJSON *hp;
  double momentum, weight_decay, beta1, beta2, eps;
  bool nesterov;
  int64_t steps;
  int n_state;
  float *state[2];
  const char *state_name[2];
};

static const char *kind_names[] = {"sgd", "adam", "adamw"};

static void optim_free_bufs(ps_optim *o) {
  ps_backend *be = ps_params_backend(o->p);
  for (int i = 0; i < 2; i++) be->free(be, o->state[i]);
}

ps_optim *ps_optim_create(const char *kind, ps_params *p, const cJSON *hp) {
  if (!kind || !p) { ps_error(PS_ERR_INVALID, "optimiser: kind and parameters are required"); return NULL; }
  opt_kind k;
  if (!strcmp(kind, "sgd")) k = OPT_SGD;
  else if (!strcmp(kind, "adam")) k = OPT_ADAM;
  else if (!strcmp(kind, "adamw")) k = OPT_ADAMW;
  else { ps_error(PS_ERR_INVALID, "optimiser: unknown kind '%s' (sgd, adam, adamw)", kind); return NULL; }
  if (ps_params_finalize(p)) return NULL;
  ps_optim *o = calloc(1, sizeof *o);
  if (!o) { ps_error(PS_ERR_NOMEM, "out of memory"); return NULL; }
  o->kind = k;
  o->p = p;
  o->hp = cJSON_CreateObject();
  if (k == OPT_SGD) {
    o->momentum = ps_json_num(hp, "momentum", 0.99);
    o->nesterov = ps_json_bool(hp, "nesterov", true);
    o->weight_decay = ps_json_num(hp, "weight_decay", 3e-5);
    cJSON_AddNumberToObject(o->hp, "momentum", o->momentum);
    cJSON_AddBoolToObject(o->hp, "nesterov", o->nesterov);
    if (o->momentum < 0 || (o->nesterov && o->momentum <= 0)) {
      ps_error(PS_ERR_INVALID, "optimiser sgd: momentum %g invalid (Nesterov needs momentum > 0)", o->momentum);
      goto fail;
    }
  } else {
    o->beta1 = ps_json_num(hp, "beta1", 0.9);
    o->beta2 = ps_json_num(hp, "beta2", 0.999);
    o->eps = ps_json_num(hp, "eps", 1e-8);
    o->weight_decay = ps_json_num(hp, "weight_decay", k == OPT_ADAMW ? 0.01 : 0.0);
    cJSON_AddNumberToObject(o->hp, "beta1", o->beta1);
    cJSON_AddNumberToObject(o->hp, "beta2", o->beta2);
    cJSON_AddNumberToObject(o->hp, "eps", o->eps);
    if (!(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->eps > 0)) {
      ps_error(PS_ERR_INVALID, "optimiser %s: betas must be in [0,1) and eps > 0", kind);
      goto fail;
    }
  }
  cJSON_AddNumberToObject(o->hp, "weight_decay", o->weight_decay);
  if (o->weight_decay < 0) { ps_error(PS_ERR_INVALID, "optimiser %s: negative weight_decay", kind); goto fail; }
  o->n_state = k == OPT_SGD ? (o->momentum > 0 ? 1 : 0) : 2;
  o->state_name[0] = k == OPT_SGD ? "momentum_buffer" : "exp_avg";
  o->state_name[1] = "exp_avg_sq";
  size_t n = ps_params_numel(p);
  ps_backend *be = ps_params_backend(p);
  for (int i = 0; i < o->n_state; i++) {
    o->state[i] = be->alloc(be, (n ? n : 1) * sizeof(float));
    if (!o->state[i] || be->memset0(be, o->state[i], (n ? n : 1) * sizeof(float)) != PS_OK) {
      ps_error_prefix(PS_ERR_NOMEM, "optimiser state");
      goto fail;
    }
  }
  return o;
fail:
  optim_free_bufs(o);
  cJSON_Delete(o->hp);
  free(o);
  return NULL;
}

void ps_optim_free(ps_optim *o) {
  if (!o) return;
  optim_free_bufs(o);
  cJSON_Delete(o->hp);
  free(o);
}

const char *ps_optim_kind(const ps_optim *o) { return kind_names[o->kind]; }
const cJSON *ps_optim_hparams(const ps_optim *o) { return o->hp; }
int64_t ps_optim_step_count(const ps_optim *o) { return o->steps; }
void ps_optim_set_step_count(ps_optim *o, int64_t steps) { o->steps = steps; }
int ps_optim_state_count(const ps_optim *o) { return o->n_state; }
ps_params *ps_optim_params(const ps_optim *o) { return o->p; }
float *ps_optim_state(ps_optim *o, int i, const char **name) {
  if (i < 0 || i >= o->n_state) return NULL;
  if (name) *name = o->state_name[i];
  return o->state[i];
}

ps_status ps_optim_step(ps_optim *o, float lr) {
  ps_params *p = o->p;
  ps_backend *be = ps_params_backend(p);
  if (!ps_params_grad_finite(p)) return ps_error(PS_ERR_NONFINITE, "optimiser: non-finite gradient, update skipped");
  const ps_opt_params op = {.kind = o->kind == OPT_SGD ? PS_OPT_SGD : o->kind == OPT_ADAM ? PS_OPT_ADAM : PS_OPT_ADAMW,
                            .lr = lr,
                            .weight_decay = (float)o->weight_decay,
                            .momentum = (float)o->momentum,
                            .beta1 = (float)o->beta1,
                            .beta2 = (float)o->beta2,
                            .eps = (float)o->eps,
                            .nesterov = o->nesterov,
                            .step = o->steps + 1};
  ps_status st = be->optim_step(be, &op, ps_params_data(p), ps_params_grad(p), o->n_state > 0 ? o->state[0] : NULL,
                                o->n_state > 1 ? o->state[1] : NULL, (int64_t)ps_params_numel(p));
  if (st) return st;
  o->steps++;
  return PS_OK;
}

float ps_clip_grad_norm(ps_params *p, float max_norm) {
  ps_backend *be = ps_params_backend(p);
  const int64_t n = (int64_t)ps_params_numel(p);
  float *g = ps_params_grad(p);
  if (!g || n == 0) return 0.0f;
  float norm;
  /* a failed kernel reads as a non-finite norm: the caller skips the step */
  if (be->grad_norm(be, g, n, &norm) != PS_OK) return NAN;
  if (!isfinite(norm) || max_norm <= 0) return norm;
  /* PyTorch: clip_coef = max_norm / (norm + 1e-6), applied only when < 1 */
  const float coef = (float)(max_norm / (norm + 1e-6));
  if (coef < 1.0f && be->axpby(be, coef, g, g, n, false) != PS_OK) return NAN;
  return norm;
}
