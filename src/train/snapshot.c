/* Weight snapshots for look-ahead steps (ASNG's θ step, NAS's architecture
 * step): one flat copy of the parameter and buffer arenas and, on request, of
 * the optimiser's state buffers and step count. */
#include "proxyseg/train.h"
#include <stdlib.h>
#include <string.h>

#define MAX_OPT_STATES 4

struct ps_weight_snapshot {
  size_t n_par, n_buf;
  float *par, *buf;
  int n_opt;                      /* -1: taken without the optimiser */
  float *opt[MAX_OPT_STATES];     /* [n_par] each */
  int64_t opt_steps;
};

void ps_weight_snapshot_free(ps_weight_snapshot *s) {
  if (!s) return;
  free(s->par);
  free(s->buf);
  for (int i = 0; i < MAX_OPT_STATES; i++) free(s->opt[i]);
  free(s);
}

static float *copy_of(const float *src, size_t n) {
  float *d = malloc((n ? n : 1) * sizeof(float));
  if (d && n) memcpy(d, src, n * sizeof(float));
  return d;
}

ps_status ps_weight_snapshot_take(ps_net *net, ps_optim *opt, ps_weight_snapshot **out) {
  *out = NULL;
  if (!net) return ps_error(PS_ERR_INVALID, "weight snapshot: no network");
  ps_weight_snapshot *s = calloc(1, sizeof *s);
  if (!s) return ps_error(PS_ERR_NOMEM, "weight snapshot: out of memory");
  ps_params *p = ps_net_params(net), *b = ps_net_buffers(net);
  s->n_par = ps_params_numel(p);
  s->n_buf = b ? ps_params_numel(b) : 0;
  s->par = copy_of(ps_params_data(p), s->n_par);
  s->buf = copy_of(s->n_buf ? ps_params_data(b) : NULL, s->n_buf);
  bool ok = s->par && s->buf;
  s->n_opt = -1;
  if (opt && ok) {
    s->n_opt = ps_optim_state_count(opt);
    if (s->n_opt > MAX_OPT_STATES) {
      ps_weight_snapshot_free(s);
      return ps_error(PS_ERR_INVALID, "weight snapshot: optimiser has %d state buffers (at most %d)", ps_optim_state_count(opt), MAX_OPT_STATES);
    }
    for (int i = 0; i < s->n_opt && ok; i++) ok = (s->opt[i] = copy_of(ps_optim_state(opt, i, NULL), s->n_par)) != NULL;
    s->opt_steps = ps_optim_step_count(opt);
  }
  if (!ok) {
    ps_weight_snapshot_free(s);
    return ps_error(PS_ERR_NOMEM, "weight snapshot: out of memory (%zu parameters)", ps_params_numel(p));
  }
  *out = s;
  return PS_OK;
}

void ps_weight_snapshot_restore(const ps_weight_snapshot *s, ps_net *net, ps_optim *opt) {
  if (!s || !net) return;
  memcpy(ps_params_data(ps_net_params(net)), s->par, s->n_par * sizeof(float));
  if (s->n_buf) memcpy(ps_params_data(ps_net_buffers(net)), s->buf, s->n_buf * sizeof(float));
  if (opt && s->n_opt >= 0) {
    for (int i = 0; i < s->n_opt; i++) memcpy(ps_optim_state(opt, i, NULL), s->opt[i], s->n_par * sizeof(float));
    ps_optim_set_step_count(opt, s->opt_steps);
  }
}
