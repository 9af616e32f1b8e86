/* The conv variants that test_conv.c (fast vs reference vs finite differences)
 * and test_conv_torch.c (vs PyTorch) both cover, and a helper that runs one
 * case through the tape: forward, then backward from a given upstream grad. */
#ifndef PS_CONV_CASES_H
#define PS_CONV_CASES_H
#include "proxyseg/ops.h"
#include <string.h>

typedef struct {
  const char *name;
  int n, cin, cout, d, h, w;
  int k[3], s[3], p[3], dil[3], op[3];
  int groups;
  bool bias, transposed;
} conv_case;

#define K3(a) {a, a, a}
static const conv_case conv_cases[] = {
    /* name                 n cin cout d  h  w   kernel      stride  pad     dil     outpad g  bias transposed */
    {"k3s1p1",              2, 3, 4,   5, 6, 7,  K3(3),      K3(1),  K3(1),  K3(1),  K3(0), 1, 1, 0},
    {"k1s1p0 (no vol2col)", 2, 4, 3,   5, 4, 6,  K3(1),      K3(1),  K3(0),  K3(1),  K3(0), 1, 1, 0},
    {"k1s2p0",              2, 4, 3,   5, 6, 7,  K3(1),      K3(2),  K3(0),  K3(1),  K3(0), 1, 0, 0},
    {"k5s1p2",              2, 2, 3,   6, 5, 7,  K3(5),      K3(1),  K3(2),  K3(1),  K3(0), 1, 1, 0},
    {"k3s2p1 odd",          2, 3, 5,   7, 5, 9,  K3(3),      K3(2),  K3(1),  K3(1),  K3(0), 1, 1, 0},
    {"k3s2p0",              2, 2, 3,   8, 7, 6,  K3(3),      K3(2),  K3(0),  K3(1),  K3(0), 1, 0, 0},
    {"k3d2p2",              2, 3, 4,   7, 6, 8,  K3(3),      K3(1),  K3(2),  K3(2),  K3(0), 1, 1, 0},
    {"k3d3p3",              2, 2, 3,   7, 8, 9,  K3(3),      K3(1),  K3(3),  K3(3),  K3(0), 1, 0, 0},
    {"k3d4p4",              2, 2, 2,   9, 9, 9,  K3(3),      K3(1),  K3(4),  K3(4),  K3(0), 1, 1, 0},
    {"k3d2p1s2",            2, 2, 3,   9, 8, 7,  K3(3),      K3(2),  K3(1),  K3(2),  K3(0), 1, 1, 0},
    {"k3p2 (pad > reach)",  2, 2, 2,   4, 5, 3,  K3(3),      K3(1),  K3(2),  K3(1),  K3(0), 1, 1, 0},
    {"k3s1p1 4->2 (bwd as conv)", 2, 4, 2, 5, 6, 7, K3(3),   K3(1),  K3(1),  K3(1),  K3(0), 1, 1, 0},
    {"groups2 8->4 (bwd as conv)", 2, 8, 4, 5, 4, 6, K3(3),  K3(1),  K3(1),  K3(1),  K3(0), 2, 1, 0},
    {"k3p3 (pad > span)",   2, 3, 2,   4, 5, 4,  K3(3),      K3(1),  K3(3),  K3(1),  K3(0), 1, 1, 0},
    {"k1p1 (pad, no span)", 2, 3, 2,   3, 4, 5,  K3(1),      K3(1),  K3(1),  K3(1),  K3(0), 1, 1, 0},
    {"groups2",             2, 4, 6,   5, 6, 5,  K3(3),      K3(1),  K3(1),  K3(1),  K3(0), 2, 1, 0},
    {"groups2 s2 nobias",   2, 6, 4,   7, 6, 5,  K3(3),      K3(2),  K3(1),  K3(1),  K3(0), 2, 0, 0},
    {"depthwise k3",        2, 4, 4,   6, 5, 7,  K3(3),      K3(1),  K3(1),  K3(1),  K3(0), 4, 1, 0},
    {"depthwise k5 s2 d2",  2, 3, 3,   9, 8, 9,  K3(5),      K3(2),  K3(3),  K3(2),  K3(0), 3, 0, 0},
    {"NAS dil sep r3 s2",   2, 4, 4,   8, 6, 8,  K3(3),      K3(2),  K3(3),  K3(3),  K3(0), 4, 0, 0},
    {"NAS dil sep r4",      1, 3, 3,   9, 8, 7,  K3(3),      K3(1),  K3(4),  K3(4),  K3(0), 3, 0, 0},
    {"depthwise x2 (mult)", 2, 3, 6,   5, 5, 6,  K3(3),      K3(1),  K3(1),  K3(1),  K3(0), 3, 1, 0},
    {"aniso k133 p011",     2, 3, 2,   4, 6, 5,  {1, 3, 3},  K3(1),  {0, 1, 1}, K3(1), K3(0), 1, 1, 0},
    {"even k2s1p0",         2, 2, 3,   5, 4, 6,  K3(2),      K3(1),  K3(0),  K3(1),  K3(0), 1, 1, 0},
    {"even k4s2p1",         2, 2, 3,   8, 7, 9,  K3(4),      K3(2),  K3(1),  K3(1),  K3(0), 1, 1, 0},
    {"mixed stride 1,2,3",  2, 2, 2,   7, 8, 10, K3(3),      {1, 2, 3}, K3(1), K3(1), K3(0), 1, 1, 0},
    {"T k2s2 (tiles)",      2, 4, 3,   3, 4, 5,  K3(2),      K3(2),  K3(0),  K3(1),  K3(0), 1, 1, 1},
    {"T k2s2 nobias",       2, 3, 2,   2, 3, 4,  K3(2),      K3(2),  K3(0),  K3(1),  K3(0), 1, 0, 1},
    {"T k3s2p1 op1",        2, 3, 4,   4, 3, 5,  K3(3),      K3(2),  K3(1),  K3(1),  K3(1), 1, 1, 1},
    {"T k3s1p1",            2, 3, 2,   4, 5, 6,  K3(3),      K3(1),  K3(1),  K3(1),  K3(0), 1, 1, 1},
    {"T k3s1p1 2->4 (as conv)", 2, 2, 4, 4, 5, 6, K3(3),     K3(1),  K3(1),  K3(1),  K3(0), 1, 1, 1},
    {"T k1s1",              2, 4, 3,   3, 4, 5,  K3(1),      K3(1),  K3(0),  K3(1),  K3(0), 1, 1, 1},
    {"T groups2 k3s2p1",    2, 4, 6,   3, 4, 3,  K3(3),      K3(2),  K3(1),  K3(1),  {1, 0, 1}, 2, 1, 1},
    {"T depthwise k3s2p1",  2, 4, 4,   3, 4, 5,  K3(3),      K3(2),  K3(1),  K3(1),  K3(1), 4, 1, 1},
    {"T k3s1d2 op1",        2, 2, 3,   4, 5, 4,  K3(3),      K3(1),  K3(2),  K3(2),  K3(1), 1, 1, 1},
    {"T k4s2p1",            2, 2, 3,   3, 4, 3,  K3(4),      K3(2),  K3(1),  K3(1),  K3(0), 1, 0, 1},
    /* rows of >= 16 voxels: vol2col.c's AVX-512 stride-2 gather and interleave, fresh and accumulating */
    {"T k2s2 rows >= 16",   1, 2, 2,   2, 2, 19, K3(2),      K3(2),  K3(0),  K3(1),  K3(0), 1, 1, 1},
    {"k2s2 rows >= 16",     1, 2, 3,   2, 4, 38, K3(2),      K3(2),  K3(0),  K3(1),  K3(0), 1, 1, 0},
    /* output rows of 32 (a multiple of 16 floats): col2vol's streamed stores */
    {"T k2s2 rows of 32",   2, 2, 3,   2, 3, 16, K3(2),      K3(2),  K3(0),  K3(1),  K3(0), 1, 1, 1},
};
#define CONV_NCASES ((int)(sizeof conv_cases / sizeof conv_cases[0]))

static ps_conv_params conv_case_params(const conv_case *c) {
  ps_conv_params p = ps_conv_params_default();
  for (int i = 0; i < 3; i++) {
    p.stride[i] = c->s[i];
    p.pad[i] = c->p[i];
    p.dilation[i] = c->dil[i];
    p.output_padding[i] = c->op[i];
  }
  p.groups = c->groups;
  return p;
}

/* Shapes of x, w and b for a case. */
static void conv_case_shapes(const conv_case *c, int64_t xs[5], int64_t ws[5], int64_t bs[1]) {
  xs[0] = c->n; xs[1] = c->cin; xs[2] = c->d; xs[3] = c->h; xs[4] = c->w;
  ws[0] = c->transposed ? c->cin : c->cout;
  ws[1] = c->transposed ? c->cout / c->groups : c->cin / c->groups;
  for (int i = 0; i < 3; i++) ws[2 + i] = c->k[i];
  bs[0] = c->cout;
}

static ps_tensor *conv_case_apply(ps_tape *t, const conv_case *c, ps_tensor *x, ps_tensor *w, ps_tensor *b) {
  ps_conv_params p = conv_case_params(c);
  return c->transposed ? ps_conv_transpose3d(t, x, w, c->bias ? b : NULL, &p)
                       : ps_conv3d(t, x, w, c->bias ? b : NULL, &p);
}
#endif
