/* The "cells" model family: SCNAS's cell network (stem; reduction and
 * encoder-normal cells; an inter cell; expansion and decoder-normal cells with
 * encoder sums; out block). Without a genotype it is the search super-network
 * (every edge mixes the 8 candidate ops, weighted as in Algorithm 1, see
 * nas_sample.c); with one it is the derived, fixed network. */
#include "nas_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const ps_nas_op_names[NAS_OPS] = {"conv_3x3x3",     "dil_sep_conv_3x3x3_r2", "dil_sep_conv_3x3x3_r3",
                                              "dil_sep_conv_3x3x3_r4", "max_pool_3x3x3", "avg_pool_3x3x3",
                                              "identity",       "zero"};
const char *const ps_nas_cell_names[CT_N] = {"reduction", "encoder_normal", "expansion", "decoder_normal"};
static const uint8_t emit_ops[NAS_OPS] = {1, 1, 1, 1, 1, 1, 1, 0};   /* zero emits nothing */

typedef struct { ps_tensor *w, *dw, *g, *b; int level; } unit;   /* conv weights, depthwise, IN affine */

typedef struct {
  int type, level_out, lop, C;        /* lop: the level its edge ops read (reduction: level_out - 1) */
  int src[2];                         /* sequence index of the inputs' producers (-1: the stem) */
  int pre_mode[2];                    /* 0 same level, 1 from one level finer (1³ stride 2), 2 from coarser (upsample) */
  unit pre[2], out;
  unit op[NAS_MAX_EDGES][NAS_OPS];
} cell;

typedef struct {
  nas_spec s;
  int cin, ncls, n_cells;
  unit stem, head;
  cell cells[NAS_MAX_CELLS];
  ps_tensor *alpha[CT_N];             /* [E, NAS_OPS] in the arch arena (search only) */
  double tau;
  ps_rng *rng;                        /* borrowed; NULL: deterministic top-2 */
  ps_tensor *mac_w[NAS_MAX_CONVS];    /* every conv weight and the level it runs at, for MACs */
  int mac_level[NAS_MAX_CONVS], n_mac;
} cellnet;

static int level_of(const cellnet *n, int src) { return src < 0 ? 0 : n->cells[src].level_out; }
static int width(const cellnet *n, int level) { return n->s.stem << level; }

/* ---- building ---- */
static ps_tensor *decl(cellnet *n, ps_params *p, const char *name, int ndim, const int64_t *sh, int level) {
  ps_tensor *t = ps_params_add(p, name, ndim, sh);
  if (t && ndim == 5) {   /* NAS_MAX_CONVS bounds every layout the spec allows */
    n->mac_w[n->n_mac] = t;
    n->mac_level[n->n_mac++] = level;
  }
  return t;
}

/* LeakyReLU-Conv(k)-InstanceNorm unit cin→cout (depthwise k³ + pointwise when dw) at `level`. */
static ps_status decl_unit(cellnet *n, ps_params *p, unit *u, const char *pre, int cin, int cout, int k, bool dw,
                           int level) {
  char nm[128];
  u->level = level;
  if (dw) {
    snprintf(nm, sizeof nm, "%s.dw.weight", pre);
    if (!(u->dw = decl(n, p, nm, 5, (int64_t[]){cin, 1, 3, 3, 3}, level))) return PS_ERR_INVALID;
    k = 1;
  }
  snprintf(nm, sizeof nm, "%s.weight", pre);
  if (!(u->w = decl(n, p, nm, 5, (int64_t[]){cout, cin, k, k, k}, level))) return PS_ERR_INVALID;
  snprintf(nm, sizeof nm, "%s.norm.weight", pre);
  if (!(u->g = ps_params_add(p, nm, 1, (int64_t[]){cout}))) return PS_ERR_INVALID;
  snprintf(nm, sizeof nm, "%s.norm.bias", pre);
  if (!(u->b = ps_params_add(p, nm, 1, (int64_t[]){cout}))) return PS_ERR_INVALID;
  return PS_OK;
}

/* The sequence: reduction, (encoder-normal, reduction) x (L-1), inter (encoder-normal
 * structure), (expansion, decoder-normal) x L — 4L cells, 12 for the paper's L = 3. */
static void layout(cellnet *n) {
  const int L = n->s.levels;
  int k = 0;
  for (int l = 0; l < L; l++) {
    if (l > 0) n->cells[k++] = (cell){.type = CT_ENC, .level_out = l};
    n->cells[k++] = (cell){.type = CT_RED, .level_out = l + 1};
  }
  n->cells[k++] = (cell){.type = CT_ENC, .level_out = L};
  for (int l = L - 1; l >= 0; l--) {
    n->cells[k++] = (cell){.type = CT_EXP, .level_out = l};
    n->cells[k++] = (cell){.type = CT_DEC, .level_out = l};
  }
  n->n_cells = k;
  for (int i = 0; i < k; i++) {
    cell *c = &n->cells[i];
    c->src[1] = i - 1;                      /* the previous cell (the stem for the first) */
    c->src[0] = i >= 2 ? i - 2 : -1;        /* the one before; the first reduction duplicates the stem */
    c->lop = c->type == CT_RED ? c->level_out - 1 : c->level_out;
    c->C = width(n, c->level_out);
    for (int j = 0; j < 2; j++) {
      int ls = level_of(n, c->src[j]);
      c->pre_mode[j] = ls == c->lop ? 0 : ls == c->lop - 1 ? 1 : 2;
    }
  }
}

/* Edge e of node j reads input (i < 2: a cell input, else intermediate node i - 2). */
static int edge_index(int j, int i) { return j * (j + 3) / 2 + i; }

static ps_status build(cellnet *n, ps_params *P, ps_params *A) {
  char pre[96];
  ps_status st;
  if ((st = decl_unit(n, P, &n->stem, "stem", n->cin, n->s.stem, 3, false, 0))) return st;
  for (int k = 0; k < n->n_cells; k++) {
    cell *c = &n->cells[k];
    for (int j = 0; j < 2; j++) {
      snprintf(pre, sizeof pre, "cell%d.pre%d", k, j);
      if ((st = decl_unit(n, P, &c->pre[j], pre, width(n, level_of(n, c->src[j])), c->C, 1, false, c->lop))) return st;
    }
    for (int j = 0; j < n->s.nodes; j++)
      for (int i = 0; i < j + 2; i++) {
        int e = edge_index(j, i);
        bool red = c->type == CT_RED && i < 2;
        int lvl = red ? c->level_out : c->lop;
        for (int o = 0; o < NAS_OPS; o++) {
          if (n->s.fixed && n->s.geno[c->type][e] != o) continue;
          snprintf(pre, sizeof pre, "cell%d.e%d.%s", k, e, ps_nas_op_names[o]);
          unit *u = &c->op[e][o];
          if (o == OP_CONV) st = decl_unit(n, P, u, pre, c->C, c->C, 3, false, lvl);
          else if (o >= OP_DIL2 && o <= OP_DIL4) st = decl_unit(n, P, u, pre, c->C, c->C, 1, true, lvl);
          else if (o == OP_ID && red) st = decl_unit(n, P, u, pre, c->C, c->C, 1, false, lvl);
          if (st) return st;
        }
      }
    snprintf(pre, sizeof pre, "cell%d.out", k);
    if ((st = decl_unit(n, P, &c->out, pre, n->s.nodes * c->C, c->C, 1, false, c->level_out))) return st;
  }
  n->head.level = 0;
  if (!(n->head.w = decl(n, P, "head.weight", 5, (int64_t[]){n->ncls, n->s.stem, 1, 1, 1}, 0))) return PS_ERR_INVALID;
  if (!(n->head.b = ps_params_add(P, "head.bias", 1, (int64_t[]){n->ncls}))) return PS_ERR_INVALID;
  if (A) {
    const int E = nas_edges(n->s.nodes);
    for (int t = 0; t < CT_N; t++) {
      snprintf(pre, sizeof pre, "alpha.%s", ps_nas_cell_names[t]);
      if (!(n->alpha[t] = ps_params_add(A, pre, 2, (int64_t[]){E, NAS_OPS}))) return PS_ERR_INVALID;
    }
  }
  return PS_OK;
}

/* ---- forward ---- */
typedef struct { cellnet *n; ps_tape *t; bool training; } fwd;

static ps_tensor *lrelu(const fwd *F, ps_tensor *x) { return x ? ps_leaky_relu(F->t, x, (float)F->n->s.slope) : NULL; }

/* y = IN(conv(x)) for a unit whose input is already activated; stride s. */
static ps_tensor *unit_conv(const fwd *F, const unit *u, ps_tensor *ax, int stride, int dil) {
  if (!ax) return NULL;
  ps_conv_params cp = ps_conv_params_default();
  ps_tensor *y = ax;
  if (u->dw) {
    for (int d = 0; d < 3; d++) cp.stride[d] = stride, cp.dilation[d] = dil, cp.pad[d] = dil;
    cp.groups = (int)ax->shape[1];
    y = ps_conv3d(F->t, y, u->dw, NULL, &cp);
    cp = ps_conv_params_default();
    stride = 1;
  }
  int k = (int)u->w->shape[2];
  for (int d = 0; d < 3; d++) cp.stride[d] = stride, cp.pad[d] = k / 2;
  if (y) y = ps_conv3d(F->t, y, u->w, NULL, &cp);
  return y ? ps_instance_norm(F->t, y, u->g, u->b, (float)F->n->s.eps) : NULL;
}

/* One candidate op on input x (ax: x activated, made on first use). */
static ps_tensor *run_op(const fwd *F, const unit *u, int o, ps_tensor *x, ps_tensor **ax, int stride) {
  if ((o <= OP_DIL4 || (o == OP_ID && stride == 2)) && !*ax) *ax = lrelu(F, x);
  switch (o) {
  case OP_CONV: return unit_conv(F, u, *ax, stride, 1);
  case OP_DIL2: case OP_DIL3: case OP_DIL4: return unit_conv(F, u, *ax, stride, o - OP_DIL2 + 2);
  case OP_MAX: case OP_AVG: {
    ps_pool_params pp = {{3, 3, 3}, {stride, stride, stride}, {1, 1, 1}, false};
    return o == OP_MAX ? ps_max_pool3d(F->t, x, &pp) : ps_avg_pool3d(F->t, x, &pp);
  }
  case OP_ID: return stride == 1 ? x : unit_conv(F, u, *ax, 2, 1);
  default: return NULL;
  }
}

/* The ops each edge computes for a cell type, and their weights [1, m] on the tape. */
typedef struct { uint8_t sel[NAS_MAX_EDGES * NAS_OPS]; int off[NAS_MAX_EDGES + 1]; ps_tensor *w; } choice;

static ps_status choose(const fwd *F, int type, choice *ch) {
  cellnet *n = F->n;
  const int E = nas_edges(n->s.nodes);
  const bool sample = F->training && n->rng;
  double eps[NAS_MAX_EDGES * NAS_OPS], z[NAS_OPS];
  const float *alpha = n->alpha[type]->data;   /* the arch arena is host memory (ps_params_create) */
  memset(ch->sel, 0, sizeof ch->sel);
  ch->off[0] = 0;
  for (int e = 0; e < E; e++) {
    uint8_t *s = ch->sel + e * NAS_OPS;
    ps_nas_gumbel_softmax(alpha + e * NAS_OPS, NAS_OPS, n->tau, sample ? n->rng : NULL, eps + e * NAS_OPS, z);
    if (n->s.sample_all) {
      memset(s, 1, NAS_OPS);
    } else if (sample) {
      int a, b;
      ps_nas_sample_pair(z, NAS_OPS, n->rng, &a, &b);
      s[a] = s[b] = 1;
    } else { /* evaluation: the two most likely ops, no noise */
      int a = 0, b = 1;
      if (z[b] > z[a]) a = 1, b = 0;
      for (int o = 2; o < NAS_OPS; o++)
        if (z[o] > z[a]) b = a, a = o;
        else if (z[o] > z[b]) b = o;
      s[a] = s[b] = 1;
    }
    int m = 0;
    for (int o = 0; o < NAS_OPS; o++) m += s[o] && emit_ops[o];
    ch->off[e + 1] = ch->off[e] + m;
  }
  ch->w = ps_nas_edge_weights(F->t, n->alpha[type], sample ? eps : NULL, n->tau, ch->sel, emit_ops);
  return ch->w ? PS_OK : PS_ERR_RUNTIME;
}

static ps_tensor *preprocess(const fwd *F, const cell *c, int j, ps_tensor *x) {
  if (c->pre_mode[j] == 2) {
    int64_t sz[3] = {x->shape[2] * 2, x->shape[3] * 2, x->shape[4] * 2};
    x = ps_upsample3d(F->t, x, sz, PS_UPSAMPLE_TRILINEAR);
  }
  return unit_conv(F, &c->pre[j], lrelu(F, x), c->pre_mode[j] == 1 ? 2 : 1, 1);
}

static ps_tensor *run_cell(const fwd *F, const cell *c, ps_tensor *in0, ps_tensor *in1, const choice *ch) {
  const int nodes = F->n->s.nodes;
  ps_tensor *h[NAS_MAX_NODES + 2] = {preprocess(F, c, 0, in0), preprocess(F, c, 1, in1)};
  ps_tensor *ah[NAS_MAX_NODES + 2] = {0};
  if (!h[0] || !h[1]) return NULL;
  for (int j = 0; j < nodes; j++) {
    ps_tensor *xs[NAS_MAX_NODES * NAS_OPS + 2 * NAS_OPS];
    int m = 0;
    for (int i = 0; i < j + 2; i++) {
      int e = edge_index(j, i), stride = c->type == CT_RED && i < 2 ? 2 : 1;
      for (int o = 0; o < NAS_OPS; o++) {
        bool on = F->n->s.fixed ? F->n->s.geno[c->type][e] == o : ch->sel[e * NAS_OPS + o];
        if (!on || !emit_ops[o]) continue;
        if (!(xs[m++] = run_op(F, &c->op[e][o], o, h[i], &ah[i], stride))) return NULL;
      }
    }
    if (F->n->s.fixed) {
      ps_tensor *sum = xs[0];
      for (int k = 1; k < m && sum; k++) sum = ps_add(F->t, sum, xs[k]);
      h[j + 2] = sum;
    } else {
      int lo = ch->off[edge_index(j, 0)], hi = ch->off[edge_index(j, j + 1) + 1];
      ps_tensor *w = ps_slice(F->t, ch->w, lo, hi - lo);
      h[j + 2] = w ? ps_weighted_sum(F->t, m, xs, w) : NULL;
    }
    if (!h[j + 2]) return NULL;
  }
  ps_tensor *cat = ps_concat(F->t, nodes, h + 2);
  return unit_conv(F, &c->out, lrelu(F, cat), 1, 1);
}

static ps_status cellnet_forward(void *impl, ps_tape *t, ps_tensor *x, bool training, ps_tensor **outs, int *n_outs) {
  cellnet *n = impl;
  fwd F = {n, t, training};
  choice ch[CT_N];
  if (!n->s.fixed)
    for (int ty = 0; ty < CT_N; ty++)
      if (choose(&F, ty, &ch[ty])) return ps_error_prefix(PS_ERR_RUNTIME, "cells: %s weights: ", ps_nas_cell_names[ty]);
  ps_tensor *stem = unit_conv(&F, &n->stem, x, 1, 1);
  if (!stem) return ps_error_prefix(PS_ERR_RUNTIME, "cells: stem: ");
  ps_tensor *out[NAS_MAX_CELLS], *skip[NAS_MAX_LEVELS + 1] = {stem};
  const int L = n->s.levels;
  for (int k = 0; k < n->n_cells; k++) {
    const cell *c = &n->cells[k];
    ps_tensor *in0 = c->src[0] < 0 ? stem : out[c->src[0]];
    ps_tensor *in1 = c->src[1] < 0 ? stem : out[c->src[1]];
    int lp = level_of(n, c->src[1]);
    /* decoder: the previous cell's output plus the encoder output at its level */
    if ((c->type == CT_EXP || c->type == CT_DEC) && lp < L && !(in1 = ps_add(t, in1, skip[lp])))
      return ps_error_prefix(PS_ERR_RUNTIME, "cells: cell%d encoder sum: ", k);
    out[k] = run_cell(&F, c, in0, in1, n->s.fixed ? NULL : &ch[c->type]);
    if (!out[k]) return ps_error_prefix(PS_ERR_RUNTIME, "cells: cell%d (%s): ", k, ps_nas_cell_names[c->type]);
    if (c->type == CT_ENC && c->level_out < L) skip[c->level_out] = out[k];
  }
  ps_tensor *h = lrelu(&F, out[n->n_cells - 1]);
  ps_conv_params one = ps_conv_params_default();
  outs[0] = h ? ps_conv3d(t, h, n->head.w, n->head.b, &one) : NULL;
  if (!outs[0]) return ps_error_prefix(PS_ERR_RUNTIME, "cells: out block: ");
  *n_outs = 1;
  return PS_OK;
}

static int cellnet_patch_divisor(const void *impl, int axis) {
  (void)axis;
  return 1 << ((const cellnet *)impl)->s.levels;
}
static int cellnet_max_outputs(const void *impl) { (void)impl; return 1; }
static int cellnet_stages(const void *impl) { return ((const cellnet *)impl)->s.levels + 1; }
static void cellnet_free(void *impl) { free(impl); }

/* Convs only; a super-network counts every candidate op (an upper bound of any derived net). */
static double cellnet_macs(const void *impl, int64_t d, int64_t h, int64_t w) {
  const cellnet *n = impl;
  double m = 0;
  for (int i = 0; i < n->n_mac; i++) {
    int l = n->mac_level[i];
    double vox = (double)(d >> l) * (double)(h >> l) * (double)(w >> l);
    m += vox * (double)n->mac_w[i]->numel;
  }
  return m;
}

static const ps_model_vt cellnet_vt = {"cells", cellnet_forward, cellnet_patch_divisor, cellnet_max_outputs,
                                       cellnet_stages, cellnet_macs, cellnet_free};

ps_status ps_cellnet_build(ps_net *net, const cJSON *arch, uint64_t seed) {
  cellnet *n = calloc(1, sizeof *n);
  if (!n) return ps_error(PS_ERR_NOMEM, "out of memory");
  ps_status st = nas_spec_parse(arch, &n->s);
  if (st) { free(n); return st; }
  net->vt = &cellnet_vt;
  net->impl = n;
  n->cin = net->cin;
  n->ncls = net->ncls;
  n->tau = 1.0;
  layout(n);
  if (!(net->resolved = nas_spec_to_json(&n->s))) return ps_error(PS_ERR_NOMEM, "out of memory");
  if (!n->s.fixed && !(net->arch_params = ps_params_create())) return ps_error(PS_ERR_NOMEM, "out of memory");
  if ((st = build(n, net->params, net->arch_params))) return st;
  if ((st = ps_params_finalize(net->params)) || (st = ps_params_finalize(net->buffers))) return st;
  ps_net_init_params(net->params, net->buffers, n->s.slope, seed);
  if (net->arch_params) {
    if ((st = ps_params_finalize(net->arch_params))) return st;
    /* DARTS's init: 1e-3 N(0, 1), so no op starts favoured */
    ps_rng *r = ps_rng_create(ps_seed_derive(seed, 77));
    if (!r) return ps_error(PS_ERR_NOMEM, "out of memory");
    float *a = ps_params_data(net->arch_params);
    for (size_t i = 0; i < ps_params_numel(net->arch_params); i++) a[i] = (float)ps_rng_normal(r, 1e-3);
    ps_rng_free(r);
  }
  return PS_OK;
}

/* ---- NAS controls ---- */
static cellnet *search_net(ps_net *net, const char *what) {
  if (!net || strcmp(net->vt->family, "cells") || !net->arch_params) {
    ps_error(PS_ERR_INVALID, "%s: the network is not a cell search super-network (family 'cells' without a genotype)",
             what);
    return NULL;
  }
  return net->impl;
}

ps_status ps_net_nas_set_sampling(ps_net *net, double tau, ps_rng *rng) {
  cellnet *n = search_net(net, "nas sampling");
  if (!n) return PS_ERR_INVALID;
  if (!(tau > 0)) return ps_error(PS_ERR_INVALID, "nas sampling: temperature %g must be > 0", tau);
  n->tau = tau;
  n->rng = rng;
  return PS_OK;
}

ps_status ps_net_nas_genotype(ps_net *net, cJSON **out) {
  *out = NULL;
  cellnet *n = search_net(net, "nas genotype");
  if (!n) return PS_ERR_INVALID;
  return nas_genotype_from_alpha(&n->s, (const float *const[CT_N]){n->alpha[0]->data, n->alpha[1]->data,
                                                                    n->alpha[2]->data, n->alpha[3]->data},
                                 out);
}
