/* Internal to the NAS cell-network files (nas_cells.c, nas_arch.c): the
 * candidate ops, cell types, the parsed "cells" architecture and genotype. */
#ifndef PS_NAS_INTERNAL_H
#define PS_NAS_INTERNAL_H
#include "net_internal.h"

#define NAS_OPS 8
#define NAS_MAX_NODES 6
#define NAS_MAX_EDGES (NAS_MAX_NODES * (NAS_MAX_NODES + 3) / 2)
#define NAS_MAX_LEVELS 5
#define NAS_MAX_CELLS (4 * NAS_MAX_LEVELS)
/* conv weights: per cell 2 inputs + edges x (conv, 3 x (depthwise, pointwise), identity/2) + output; stem, head */
#define NAS_MAX_CONVS (NAS_MAX_CELLS * (3 + NAS_MAX_EDGES * 8) + 2)

enum { OP_CONV, OP_DIL2, OP_DIL3, OP_DIL4, OP_MAX, OP_AVG, OP_ID, OP_ZERO };
enum { CT_RED, CT_ENC, CT_EXP, CT_DEC, CT_N };
extern const char *const ps_nas_op_names[NAS_OPS];
extern const char *const ps_nas_cell_names[CT_N];

/* Edges of a cell with `nodes` intermediate nodes: node j has j + 2 inputs. */
static inline int nas_edges(int nodes) { return nodes * (nodes + 3) / 2; }

typedef struct {
  int stem, levels, nodes, keep;   /* keep: incoming edges per node a derived genotype keeps */
  double slope, eps;
  bool sample_all;                 /* search: every op on every edge (DARTS-style) instead of a sampled pair */
  bool fixed;                      /* a genotype is given: the derived network */
  int8_t geno[CT_N][NAS_MAX_EDGES];/* fixed: the op of each edge, -1 = no edge */
} nas_spec;

ps_status nas_spec_parse(const cJSON *arch, nas_spec *s);
cJSON *nas_spec_to_json(const nas_spec *s);
/* The derived genotype (see nn.h for the rule) from alpha[type] [E, NAS_OPS]. */
ps_status nas_genotype_from_alpha(const nas_spec *s, const float *const alpha[CT_N], cJSON **out);
#endif
