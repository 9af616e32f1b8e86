/* The "cells" architecture JSON: defaults, validation (errors name the key),
 * the resolved form checkpoints store, the proxy shrink, and the genotype —
 * the derived cell structures, read back for re-training and transfer. */
#include "nas_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *known[] = {"family", "name", "stem_features", "levels", "nodes", "keep", "leaky_slope",
                              "norm_eps", "sampling", "genotype", NULL};

static int op_index(const char *name) {
  for (int o = 0; o < NAS_OPS; o++)
    if (!strcmp(name, ps_nas_op_names[o])) return o;
  return -1;
}

static ps_status parse_genotype(const cJSON *g, nas_spec *s) {
  if (!cJSON_IsObject(g)) return ps_error(PS_ERR_INVALID, "arch: 'genotype' must be an object of the four cell types");
  memset(s->geno, -1, sizeof s->geno);
  for (int t = 0; t < CT_N; t++) {
    const cJSON *cell = cJSON_GetObjectItemCaseSensitive(g, ps_nas_cell_names[t]);
    if (!cJSON_IsArray(cell) || cJSON_GetArraySize(cell) != s->nodes)
      return ps_error(PS_ERR_INVALID, "arch: genotype.%s must be a list of %d nodes", ps_nas_cell_names[t], s->nodes);
    for (int j = 0; j < s->nodes; j++) {
      const cJSON *node = cJSON_GetArrayItem(cell, j), *ed;
      if (!cJSON_IsArray(node) || cJSON_GetArraySize(node) < 1)
        return ps_error(PS_ERR_INVALID, "arch: genotype.%s[%d] must be a non-empty list of {from, op}",
                        ps_nas_cell_names[t], j);
      cJSON_ArrayForEach(ed, node) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(ed, "from");
        const char *op = ps_json_str(ed, "op", "");
        int o = op_index(op);
        if (!cJSON_IsNumber(f) || f->valueint < 0 || f->valueint >= j + 2)
          return ps_error(PS_ERR_INVALID, "arch: genotype.%s[%d]: 'from' must be 0..%d (0, 1: cell inputs, k+2: node k)",
                          ps_nas_cell_names[t], j, j + 1);
        if (o < 0 || o == OP_ZERO)
          return ps_error(PS_ERR_INVALID, "arch: genotype.%s[%d]: op '%s' is not a non-zero candidate op",
                          ps_nas_cell_names[t], j, op);
        int e = j * (j + 3) / 2 + f->valueint;
        if (s->geno[t][e] >= 0)
          return ps_error(PS_ERR_INVALID, "arch: genotype.%s[%d]: input %d listed twice", ps_nas_cell_names[t], j,
                          f->valueint);
        s->geno[t][e] = (int8_t)o;
      }
    }
  }
  return PS_OK;
}

ps_status nas_spec_parse(const cJSON *arch, nas_spec *s) {
  memset(s, 0, sizeof *s);
  if (arch && !cJSON_IsObject(arch)) return ps_error(PS_ERR_INVALID, "arch: must be a JSON object");
  const cJSON *c;
  cJSON_ArrayForEach(c, arch) {
    bool ok = false;
    for (int i = 0; known[i]; i++) ok |= !strcmp(c->string, known[i]);
    if (!ok) return ps_error(PS_ERR_INVALID, "arch: unknown key '%s' for family 'cells'", c->string);
  }
  s->stem = ps_json_int(arch, "stem_features", 16);
  s->levels = ps_json_int(arch, "levels", 3);
  s->nodes = ps_json_int(arch, "nodes", 4);
  s->keep = ps_json_int(arch, "keep", 2);
  s->slope = ps_json_num(arch, "leaky_slope", 0.01);
  s->eps = ps_json_num(arch, "norm_eps", 1e-5);
  const char *smp = ps_json_str(arch, "sampling", "pair");
  if (s->stem < 1 || s->stem > 1024) return ps_error(PS_ERR_INVALID, "arch: stem_features %d must be 1..1024", s->stem);
  if (s->levels < 1 || s->levels > NAS_MAX_LEVELS)
    return ps_error(PS_ERR_INVALID, "arch: levels %d must be 1..%d", s->levels, NAS_MAX_LEVELS);
  if (s->nodes < 1 || s->nodes > NAS_MAX_NODES)
    return ps_error(PS_ERR_INVALID, "arch: nodes %d must be 1..%d", s->nodes, NAS_MAX_NODES);
  if (s->keep < 1 || s->keep > 2) return ps_error(PS_ERR_INVALID, "arch: keep %d must be 1 or 2", s->keep);
  if (!(s->eps > 0) || !(s->slope >= 0)) return ps_error(PS_ERR_INVALID, "arch: norm_eps must be > 0, leaky_slope >= 0");
  if (strcmp(smp, "pair") && strcmp(smp, "all"))
    return ps_error(PS_ERR_INVALID, "arch: sampling '%s' must be 'pair' (Algorithm 1) or 'all'", smp);
  s->sample_all = !strcmp(smp, "all");
  const cJSON *g = cJSON_GetObjectItemCaseSensitive(arch, "genotype");
  s->fixed = g && !cJSON_IsNull(g);
  return s->fixed ? parse_genotype(g, s) : PS_OK;
}

static cJSON *genotype_json(const nas_spec *s, const int8_t geno[CT_N][NAS_MAX_EDGES]) {
  cJSON *g = cJSON_CreateObject();
  for (int t = 0; t < CT_N; t++) {
    cJSON *cell = cJSON_AddArrayToObject(g, ps_nas_cell_names[t]);
    for (int j = 0; j < s->nodes; j++) {
      cJSON *node = cJSON_CreateArray();
      for (int i = 0; i < j + 2; i++) {
        int o = geno[t][j * (j + 3) / 2 + i];
        if (o < 0) continue;
        cJSON *ed = cJSON_CreateObject();
        cJSON_AddNumberToObject(ed, "from", i);
        cJSON_AddStringToObject(ed, "op", ps_nas_op_names[o]);
        cJSON_AddItemToArray(node, ed);
      }
      cJSON_AddItemToArray(cell, node);
    }
  }
  return g;
}

cJSON *nas_spec_to_json(const nas_spec *s) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "family", "cells");
  cJSON_AddNumberToObject(j, "stem_features", s->stem);
  cJSON_AddNumberToObject(j, "levels", s->levels);
  cJSON_AddNumberToObject(j, "nodes", s->nodes);
  cJSON_AddNumberToObject(j, "keep", s->keep);
  cJSON_AddNumberToObject(j, "leaky_slope", s->slope);
  cJSON_AddNumberToObject(j, "norm_eps", s->eps);
  if (s->fixed) cJSON_AddItemToObject(j, "genotype", genotype_json(s, s->geno));
  else cJSON_AddStringToObject(j, "sampling", s->sample_all ? "all" : "pair");
  return j;
}

ps_status ps_cellnet_arch_resolve(const cJSON *arch, cJSON **out) {
  nas_spec s;
  ps_status st = nas_spec_parse(arch, &s);
  if (st) return st;
  *out = nas_spec_to_json(&s);
  return *out ? PS_OK : ps_error(PS_ERR_NOMEM, "out of memory");
}

/* The proxy: stem width scaled (every level's width follows it), levels removed from the bottom. */
ps_status ps_cellnet_arch_shrink(const cJSON *arch, double width_factor, int depth_reduction, cJSON **out) {
  if (!(width_factor > 0) || width_factor > 1e3)
    return ps_error(PS_ERR_INVALID, "arch shrink: width_factor %g must be positive", width_factor);
  if (depth_reduction < 0) return ps_error(PS_ERR_INVALID, "arch shrink: depth_reduction %d must be >= 0", depth_reduction);
  nas_spec s;
  ps_status st = nas_spec_parse(arch, &s);
  if (st) return ps_error_prefix(st, "arch shrink: ");
  long w = lround(s.stem * width_factor);
  s.stem = w < 2 ? 2 : (int)w;
  s.levels = s.levels - depth_reduction < 1 ? 1 : s.levels - depth_reduction;
  *out = nas_spec_to_json(&s);
  return *out ? PS_OK : ps_error(PS_ERR_NOMEM, "out of memory");
}

/* DARTS's rule: per node keep the `keep` incoming edges whose strongest non-zero op
 * has the largest softmax(alpha) weight; on each kept edge, that op. */
ps_status nas_genotype_from_alpha(const nas_spec *s, const float *const alpha[CT_N], cJSON **out) {
  nas_spec d = *s;
  d.fixed = true;
  memset(d.geno, -1, sizeof d.geno);
  for (int t = 0; t < CT_N; t++)
    for (int j = 0; j < s->nodes; j++) {
      double best_w[NAS_MAX_NODES + 2];
      int best_o[NAS_MAX_NODES + 2];
      for (int i = 0; i < j + 2; i++) {
        const float *a = alpha[t] + (size_t)(j * (j + 3) / 2 + i) * NAS_OPS;
        double mx = a[0], sum = 0;
        for (int o = 1; o < NAS_OPS; o++) mx = a[o] > mx ? a[o] : mx;
        for (int o = 0; o < NAS_OPS; o++) sum += exp(a[o] - mx);
        best_w[i] = -1;
        best_o[i] = 0;
        for (int o = 0; o < NAS_OPS; o++) {
          double p = exp(a[o] - mx) / sum;
          if (o != OP_ZERO && p > best_w[i]) best_w[i] = p, best_o[i] = o;
        }
      }
      for (int k = 0; k < s->keep && k < j + 2; k++) {
        int bi = -1;
        for (int i = 0; i < j + 2; i++)
          if (d.geno[t][j * (j + 3) / 2 + i] < 0 && (bi < 0 || best_w[i] > best_w[bi])) bi = i;
        d.geno[t][j * (j + 3) / 2 + bi] = (int8_t)best_o[bi];
      }
    }
  *out = nas_spec_to_json(&d);
  return *out ? PS_OK : ps_error(PS_ERR_NOMEM, "out of memory");
}
