/* Gumbel-softmax NAS (SCNAS, Kim et al. MICCAI 2019) as a trainer plugin: the
 * trainer fits the super-network's weights on 4/5 of the training cases; after
 * each weight step this plugin takes one architecture step on a mini-batch of
 * the held-out 1/5 (bi-level, alternating), anneals the temperature per epoch,
 * and at the end writes genotype.json (the derived arch), genotype.svg and
 * alpha_history.json. */
#include "proxyseg/gumbel_nas.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  double tau_max, tau_min, alpha_lr, beta1, beta2, weight_decay;
  int warmup_epochs;
  bool exponential;
  ps_optim *aopt;           /* Adam over the arch-parameter arena */
  float *img;               /* [B, C, pd, ph, pw] held-out mini-batch */
  uint8_t *lab;
  double tau, arch_loss_sum;
  int arch_steps_epoch, last_epoch, recorded;   /* recorded: the last epoch in history */
  ps_net *net;
  cJSON *opts;
  cJSON *history;           /* per epoch: {epoch, tau, arch_loss, probs: {cell type: [[8] per edge]}} */
} gnas;

double ps_gumbel_nas_tau(const cJSON *opts, int epoch, int epochs) {
  double hi = ps_json_num(opts, "tau_max", 10.0), lo = ps_json_num(opts, "tau_min", 0.1);
  double f = epochs > 1 ? (double)epoch / (double)(epochs - 1) : 1.0;
  if (f > 1) f = 1;
  if (!strcmp(ps_json_str(opts, "tau_schedule", "linear"), "exponential")) return hi * pow(lo / hi, f);
  return hi - (hi - lo) * f;
}

static ps_status gn_create(const cJSON *opts, ps_train_ctx *ctx, void **state) {
  *state = NULL;
  ps_params *ap = ps_net_arch_params(ctx->net);
  if (!ap)
    return ps_error(PS_ERR_INVALID, "gumbel-nas: the network is not a cell search super-network (set net.family=cells "
                                    "without a genotype)");
  static const char *known[] = {"tau_max", "tau_min", "tau_schedule", "alpha_lr", "alpha_beta1", "alpha_beta2",
                                "alpha_weight_decay", "warmup_epochs", NULL};
  const cJSON *it;
  cJSON_ArrayForEach(it, opts) {
    bool ok = false;
    for (int i = 0; known[i]; i++) ok |= !strcmp(it->string, known[i]);
    if (!ok) return ps_error(PS_ERR_INVALID, "gumbel-nas: unknown option '%s'", it->string);
  }
  gnas *g = calloc(1, sizeof *g);
  if (!g) return ps_error(PS_ERR_NOMEM, "out of memory");
  g->tau_max = ps_json_num(opts, "tau_max", 10.0);
  g->tau_min = ps_json_num(opts, "tau_min", 0.1);
  const char *sched = ps_json_str(opts, "tau_schedule", "linear");
  g->exponential = !strcmp(sched, "exponential");
  g->alpha_lr = ps_json_num(opts, "alpha_lr", 3e-3);
  g->beta1 = ps_json_num(opts, "alpha_beta1", 0.5);
  g->beta2 = ps_json_num(opts, "alpha_beta2", 0.999);
  g->weight_decay = ps_json_num(opts, "alpha_weight_decay", 0.0);
  g->warmup_epochs = ps_json_int(opts, "warmup_epochs", 0);
  g->last_epoch = g->recorded = -1;
  g->net = ctx->net;
  g->opts = opts ? cJSON_Duplicate(opts, 1) : cJSON_CreateObject();
  *state = g;
  if (!(g->tau_min > 0) || !(g->tau_max >= g->tau_min))
    return ps_error(PS_ERR_INVALID, "gumbel-nas: need 0 < tau_min <= tau_max (got %g, %g)", g->tau_min, g->tau_max);
  if (!g->exponential && strcmp(sched, "linear"))
    return ps_error(PS_ERR_INVALID, "gumbel-nas: tau_schedule '%s' must be linear or exponential", sched);
  if (!(g->alpha_lr > 0) || g->warmup_epochs < 0)
    return ps_error(PS_ERR_INVALID, "gumbel-nas: alpha_lr must be > 0 and warmup_epochs >= 0");
  cJSON *hp = cJSON_CreateObject();
  cJSON_AddNumberToObject(hp, "beta1", g->beta1);
  cJSON_AddNumberToObject(hp, "beta2", g->beta2);
  cJSON_AddNumberToObject(hp, "weight_decay", g->weight_decay);
  g->aopt = ps_optim_create("adam", ap, hp);
  cJSON_Delete(hp);
  if (!g->aopt) return ps_error_prefix(PS_ERR_INVALID, "gumbel-nas: alpha optimiser: ");
  size_t vox = (size_t)ctx->patch[0] * ctx->patch[1] * ctx->patch[2] * ctx->batch;
  g->img = malloc(vox * ctx->channels * sizeof(float));
  g->lab = malloc(vox);
  g->history = cJSON_CreateArray();
  if (!g->img || !g->lab || !g->history) return ps_error(PS_ERR_NOMEM, "gumbel-nas: out of memory");
  return PS_OK;
}

/* softmax(alpha) per edge of each cell type, for the history. */
static cJSON *alpha_probs(ps_net *net) {
  ps_params *ap = ps_net_arch_params(net);
  cJSON *o = cJSON_CreateObject();
  for (size_t i = 0; i < ps_params_count(ap); i++) {
    ps_tensor *a = ps_params_get(ap, i);
    cJSON *edges = cJSON_AddArrayToObject(o, a->name + strlen("alpha."));
    for (int64_t e = 0; e < a->shape[0]; e++) {
      const float *r = a->data + e * a->shape[1];
      double mx = r[0], s = 0, p[64];
      for (int64_t k = 1; k < a->shape[1]; k++) mx = fmax(mx, r[k]);
      for (int64_t k = 0; k < a->shape[1]; k++) s += (p[k] = exp(r[k] - mx));
      cJSON *row = cJSON_CreateArray();
      for (int64_t k = 0; k < a->shape[1]; k++) cJSON_AddItemToArray(row, cJSON_CreateNumber(round(p[k] / s * 1e5) / 1e5));
      cJSON_AddItemToArray(edges, row);
    }
  }
  return o;
}

static void record_epoch(gnas *g, int epoch) {
  if (epoch < 0 || epoch <= g->recorded) return;
  g->recorded = epoch;
  cJSON *h = cJSON_CreateObject();
  cJSON_AddNumberToObject(h, "epoch", epoch);
  cJSON_AddNumberToObject(h, "tau", g->tau);
  cJSON_AddNumberToObject(h, "arch_steps", g->arch_steps_epoch);
  if (g->arch_steps_epoch) cJSON_AddNumberToObject(h, "arch_loss", g->arch_loss_sum / g->arch_steps_epoch);
  cJSON_AddItemToObject(h, "probs", alpha_probs(g->net));
  cJSON_AddItemToArray(g->history, h);
}

static ps_status gn_before_step(void *state, ps_train_ctx *ctx) {
  gnas *g = state;
  if (ctx->epoch != g->last_epoch) {
    record_epoch(g, g->last_epoch);
    g->last_epoch = ctx->epoch;
    g->arch_loss_sum = 0;
    g->arch_steps_epoch = 0;
    g->tau = ps_gumbel_nas_tau(g->opts, ctx->epoch, ctx->epochs);
    ps_info("gumbel-nas: epoch %d, temperature %.4g%s", ctx->epoch, g->tau,
            ctx->epoch < g->warmup_epochs ? " (warm-up: weights only)" : "");
  }
  /* the plugins' stream is reseeded per epoch: a resumed run samples what an uninterrupted one did */
  return ps_net_nas_set_sampling(ctx->net, g->tau, ctx->rng);
}

/* The architecture step: gradient of the held-out loss to alpha through the
 * renormalised weights of freshly sampled pairs, one Adam step. */
static ps_status gn_after_step(void *state, ps_train_ctx *ctx) {
  gnas *g = state;
  if (ctx->epoch < g->warmup_epochs) return PS_OK;
  ps_params *ap = ps_net_arch_params(ctx->net);
  ps_status st = ps_train_ctx_val_batch(ctx, g->img, g->lab);
  if (st) return st;
  ps_params_zero_grad(ap);
  double loss;
  if ((st = ps_train_ctx_loss(ctx, g->img, g->lab, true, &loss))) return st;
  /* the weights' gradients of this loss must not leak into the next weight step */
  ps_params_zero_grad(ps_net_params(ctx->net));
  st = ps_optim_step(g->aopt, (float)g->alpha_lr);
  if (st == PS_ERR_NONFINITE) return ps_error(st, "diverged: non-finite architecture gradient at epoch %d", ctx->epoch);
  g->arch_loss_sum += loss;
  g->arch_steps_epoch++;
  return st;
}

static cJSON *floats(const float *v, size_t n) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
  return a;
}

/* Alpha itself is in the checkpoint (/arch_params); here its Adam moments and the history. */
static ps_status gn_save(void *state, cJSON **out) {
  gnas *g = state;
  record_epoch(g, g->last_epoch);   /* checkpoints are taken at epoch ends */
  cJSON *s = cJSON_CreateObject();
  cJSON_AddNumberToObject(s, "alpha_step", (double)ps_optim_step_count(g->aopt));
  size_t n = ps_params_numel(ps_optim_params(g->aopt));
  for (int i = 0; i < ps_optim_state_count(g->aopt); i++) {
    const char *name;
    float *b = ps_optim_state(g->aopt, i, &name);
    cJSON_AddItemToObject(s, name, floats(b, n));
  }
  cJSON_AddNumberToObject(s, "recorded", g->recorded);
  cJSON_AddItemToObject(s, "history", cJSON_Duplicate(g->history, 1));
  *out = s;
  return PS_OK;
}

static ps_status gn_load(void *state, const cJSON *in) {
  gnas *g = state;
  if (!in) return PS_OK;
  size_t n = ps_params_numel(ps_optim_params(g->aopt));
  for (int i = 0; i < ps_optim_state_count(g->aopt); i++) {
    const char *name;
    float *b = ps_optim_state(g->aopt, i, &name);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(in, name);
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n)
      return ps_error(PS_ERR_DATA, "gumbel-nas: the checkpoint's '%s' does not match the architecture", name);
    size_t k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) b[k++] = (float)v->valuedouble;
  }
  ps_optim_set_step_count(g->aopt, (int64_t)ps_json_num(in, "alpha_step", 0));
  g->recorded = ps_json_int(in, "recorded", -1);
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(in, "history");
  if (cJSON_IsArray(h)) {
    cJSON_Delete(g->history);
    g->history = cJSON_Duplicate(h, 1);
  }
  return PS_OK;   /* runs resume at epoch boundaries: before_step sets the next epoch's temperature */
}

static ps_status gn_result(void *state, ps_train_ctx *ctx) {
  gnas *g = state;
  record_epoch(g, g->last_epoch);
  cJSON *geno = NULL;
  ps_status st = ps_net_nas_genotype(ctx->net, &geno);
  char *p = ps_path_join(ctx->out_dir, "genotype.json");
  if (!st) st = ps_json_write(p, geno);
  free(p);
  p = ps_path_join(ctx->out_dir, "genotype.svg");
  if (!st) st = ps_gumbel_nas_svg(geno, p);
  free(p);
  cJSON_Delete(geno);
  cJSON *h = cJSON_CreateObject();
  cJSON_AddStringToObject(h, "op_order", "conv_3x3x3, dil_sep_conv_3x3x3_r2, dil_sep_conv_3x3x3_r3, "
                                         "dil_sep_conv_3x3x3_r4, max_pool_3x3x3, avg_pool_3x3x3, identity, zero");
  cJSON_AddStringToObject(h, "probs", "softmax(alpha) per cell type, per edge (node j's edges from inputs 0..j+1 in order)");
  cJSON_AddItemToObject(h, "epochs", cJSON_Duplicate(g->history, 1));
  p = ps_path_join(ctx->out_dir, "alpha_history.json");
  if (!st) st = ps_json_write(p, h);
  free(p);
  cJSON_Delete(h);
  if (!st) ps_info("gumbel-nas: wrote genotype.json, genotype.svg and alpha_history.json to %s", ctx->out_dir);
  return st;
}

static void gn_destroy(void *state) {
  gnas *g = state;
  if (!g) return;
  ps_optim_free(g->aopt);
  free(g->img);
  free(g->lab);
  cJSON_Delete(g->history);
  cJSON_Delete(g->opts);
  free(g);
}

const ps_train_plugin ps_gumbel_nas_plugin = {
    .name = "gumbel-nas",
    .needs_holdout = true,
    .create = gn_create,
    .before_step = gn_before_step,
    .after_step = gn_after_step,
    .save_state = gn_save,
    .load_state = gn_load,
    .result = gn_result,
    .destroy = gn_destroy,
};
