/* Internal CPU kernels of the 3D convolution: plain reference loops
 * (../cpu-ref/conv_ref.c), the dedicated vol2col/col2vol (vol2col.c) and the GEMM fast
 * path (conv_gemm.c). The transposed conv is expressed through the same
 * geometry: its output is the conv's input and vice versa (see op_conv.c). */
#ifndef PS_CONV_KERNELS_H
#define PS_CONV_KERNELS_H

#include "proxyseg/backend.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- reference loops (../cpu-ref/conv_ref.c): direct, double accumulation, single thread ---- */
/* y [n, k, out] (+)= conv(x, w) + b (b may be NULL). */
ps_status ps_conv_ref_forward(const ps_conv_geom *g, const float *x, const float *w, const float *b, float *y,
                              bool accumulate);
/* dx [n, c, in] (+)= conv^T(dy, w); accumulate=false overwrites. */
ps_status ps_conv_ref_backward_data(const ps_conv_geom *g, const float *dy, const float *w, float *dx, bool accumulate);
/* dw [k, c/groups, ks] (+)= sum over n, out of dy * x. */
ps_status ps_conv_ref_backward_weight(const ps_conv_geom *g, const float *x, const float *dy, float *dw, bool accumulate);
/* db [k] (+)= sum over n, out of dy. */
void ps_conv_ref_backward_bias(const ps_conv_geom *g, const float *dy, float *db, bool accumulate);

/* ---- vol2col / col2vol (vol2col.c) for one sample and one group ----
 * The column matrix of output lines [l0, l1) (a line = one (od, oh) pair, i.e.
 * OW contiguous outputs) has rows (c, kz, ky, kx) over the group's cg input
 * channels and columns (line, ow): col [cg * kvol, (l1 - l0) * OW].
 * x points at the group's first input channel of the sample. Parallel inside
 * (OpenMP); never call from within a parallel region. */
void ps_vol2col(const ps_conv_geom *g, const float *x, int64_t cg, int64_t l0, int64_t l1, float *col);
/* dx += col2vol(col): the adjoint of ps_vol2col. assign: write (=) instead, valid
 * only when every input voxel is reached exactly once (ps_conv_tiles). */
void ps_col2vol(const ps_conv_geom *g, const float *col, int64_t cg, int64_t l0, int64_t l1, float *dx,
                bool assign);
/* True when the kernel tiles the input: ks == stride, pad 0, in == out * stride
 * (e.g. the U-Net's 2x2x2 stride-2 transposed convs), so col2vol can assign. */
bool ps_conv_tiles(const ps_conv_geom *g);

/* ---- fast path (conv_gemm.c): vol2col slabs + cblas_sgemm, direct depthwise ---- */
ps_status ps_conv_fast_forward(const ps_conv_geom *g, const float *x, const float *w, const float *b, float *y,
                               bool accumulate);
ps_status ps_conv_fast_backward_data(const ps_conv_geom *g, const float *dy, const float *w, float *dx, bool accumulate);
ps_status ps_conv_fast_backward_weight(const ps_conv_geom *g, const float *x, const float *dy, float *dw, bool accumulate);
void ps_conv_fast_backward_bias(const ps_conv_geom *g, const float *dy, float *db, bool accumulate);
/* A transposed conv's whole backward in one pass over dy (the big tensor) when
 * ps_conv_convt_fusable(g) (g: its adjoint conv; a 2^3 stride-2 "tiles" conv):
 * dx [n, k, out] (+)= conv(dy, w), dw (+)= backward_weight(dy, x), db [c] (+)=
 * sum of dy; each of dx, dw, db may be NULL. */
bool ps_conv_convt_fusable(const ps_conv_geom *g);
/* Whether the fast kernels honour g->x_nstride: the fusable geometries with one
 * group (their slab paths), with samples at least c * in voxels apart. */
bool ps_conv_strided_ok(const ps_conv_geom *g);
ps_status ps_conv_fast_convt_backward(const ps_conv_geom *g, const float *dy, const float *x, const float *w,
                                      float *dx, bool dx_acc, float *dw, bool dw_acc, float *db, bool db_acc);

/* The GEMM the fast path issues, for benchmarks: per sample and group, `calls`
 * sgemm calls of (m, n, k) for the full slabs (the last slab may be narrower;
 * total_cols is the exact column count per sample). direct: no GEMM
 * (depthwise kernel); no_col: 1x1x1 stride 1, no vol2col. */
typedef struct {
  int64_t m, n, k;         /* forward: m = k/groups, n = slab columns, k = c/groups * kvol */
  int64_t slabs;           /* slabs per sample and group */
  int64_t total_cols;      /* columns per sample (= out voxels) */
  bool direct, no_col;
} ps_conv_gemm_plan;
ps_conv_gemm_plan ps_conv_plan(const ps_conv_geom *g);

/* Stride-1 backward-data runs as a forward conv of dy (flipped weight, padding
 * dil*(k-1) - pad) when that unfolds no more rows than col2vol would; the
 * geometry of that adjoint conv. */
bool ps_conv_bwd_data_as_conv(const ps_conv_geom *g);
ps_conv_geom ps_conv_bwd_data_geom(const ps_conv_geom *g);

/* Cap of the column buffer in bytes (default 2 MiB, so a slab stays near L2/L3;
 * env PS_CONV_SCRATCH_MB). A single output line wider than the cap is still one slab. */
void ps_conv_set_scratch_cap(size_t bytes);
/* col2vol of a 2^3 stride-2 transposed conv writes with non-temporal stores
 * when one sample's output has at least this many bytes (default 2 MiB, env
 * PS_CONV_STREAM_MB; 0: whenever the rows are aligned). */
void ps_conv_set_stream_min(size_t bytes);
/* The column buffer is cached per calling thread and reused across calls;
 * this frees the calling thread's buffer (it is also freed at exit for the main thread). */
void ps_conv_scratch_release(void);

/* Per-thread scratch shared by the slab-parallel GEMM convs and the Winograd
 * convs: ps_conv_thread_bufs_init() once from serial code (frees the pool at
 * exit), then ps_conv_thread_buf(omp_get_thread_num(), elems) inside the
 * parallel region; grown on demand, 64-byte aligned, NULL when out of memory. */
#define PS_CONV_MAX_THREADS 256
void ps_conv_thread_bufs_init(void);
float *ps_conv_thread_buf(int tid, size_t elems);

/* ---- Winograd F(2x2x2, 3x3x3) (conv_winograd.c) for 3^3 stride-1 pad-1
 * dilation-1 single-group convs whose output size equals the input size ---- */
bool ps_conv_wino_applicable(const ps_conv_geom *g);
ps_status ps_conv_wino_forward(const ps_conv_geom *g, const float *x, const float *w, const float *b, float *y,
                               bool accumulate);
ps_status ps_conv_wino_backward_data(const ps_conv_geom *g, const float *dy, const float *w, float *dx, bool accumulate);
ps_status ps_conv_wino_backward_weight(const ps_conv_geom *g, const float *x, const float *dy, float *dw, bool accumulate);

/* Outputs per tile and axis (2 or 4) of g's Winograd convs, every direction. */
int ps_conv_wino_tile(const ps_conv_geom *g);

/* Which algorithm the fast path uses for the convs Winograd covers: env
 * PS_CONV_ALGO=gemm|winograd|winograd2|winograd4|auto (default auto: Winograd
 * where it measured faster, see ps_conv_use_winograd; winograd: always, with
 * the default tile rule, ps_conv_wino_tile; winograd2 and winograd4 force
 * F(2,3) or F(4,3)). Every other conv takes the GEMM path. */
typedef enum {
  PS_CONV_ALGO_AUTO,
  PS_CONV_ALGO_GEMM,
  PS_CONV_ALGO_WINOGRAD,
  PS_CONV_ALGO_WINOGRAD2,
  PS_CONV_ALGO_WINOGRAD4
} ps_conv_algo;
void ps_conv_set_algo(ps_conv_algo a);
ps_conv_algo ps_conv_get_algo(void);
/* direction: 0 forward, 1 backward-data, 2 backward-weight (the measured rule
 * does not depend on it so far) */
bool ps_conv_use_winograd(const ps_conv_geom *g, int direction);

#endif
