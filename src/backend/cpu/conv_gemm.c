/* Fast CPU 3D conv: per sample and group, slabs of output lines are unfolded
 * by vol2col into a capped, reused column buffer and multiplied with
 * cblas_sgemm (called outside any parallel region, so OpenBLAS threads are the
 * only level). 1x1x1 stride-1 convs multiply the volume directly; depthwise
 * convs use a direct kernel. Also the reference/fast dispatch. */
#include "backend/cpu/conv_kernels.h"
#include "backend/cpu/cpu_internal.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- column scratch: cached per calling thread, grown on demand ---- */
static size_t g_cap_bytes = 0; /* 0: not yet read from the environment */
static _Thread_local float *t_buf = NULL;
static _Thread_local size_t t_buf_elems = 0;
static bool g_atexit_done = false;

void ps_conv_scratch_release(void) {
  free(t_buf);
  t_buf = NULL;
  t_buf_elems = 0;
}

static void release_at_exit(void) { ps_conv_scratch_release(); }

void ps_conv_set_scratch_cap(size_t bytes) { g_cap_bytes = bytes < 4096 ? 4096 : bytes; }

static size_t scratch_cap(void) {
  if (!g_cap_bytes) {
    const char *e = getenv("PS_CONV_SCRATCH_MB");
    long mb = e ? strtol(e, NULL, 10) : 0;
    g_cap_bytes = mb > 0 ? (size_t)mb << 20 : (size_t)2 << 20;
  }
  return g_cap_bytes;
}

static float *scratch(size_t elems) {
  if (elems <= t_buf_elems) return t_buf;
  free(t_buf);
  size_t bytes = (elems * sizeof(float) + 63) & ~(size_t)63;
  t_buf = aligned_alloc(64, bytes);
  t_buf_elems = t_buf ? elems : 0;
  if (!t_buf) ps_error(PS_ERR_NOMEM, "conv_gemm.c: cannot allocate a %zu-byte column buffer", bytes);
  if (t_buf && !g_atexit_done) {
    g_atexit_done = true;
    atexit(release_at_exit);
  }
  return t_buf;
}

/* Per-thread scratch of the slab-parallel GEMM convs and the Winograd convs
 * (indexed by omp_get_thread_num(); one pool, since a conv uses one path at a
 * time; freed at exit). */
static float *g_thread_buf[PS_CONV_MAX_THREADS];
static size_t g_thread_elems[PS_CONV_MAX_THREADS];
static bool g_thread_atexit = false;

static void thread_bufs_release(void) {
  for (int i = 0; i < PS_CONV_MAX_THREADS; i++) {
    free(g_thread_buf[i]);
    g_thread_buf[i] = NULL;
    g_thread_elems[i] = 0;
  }
}

void ps_conv_thread_bufs_init(void) {
  if (g_thread_atexit) return;
  g_thread_atexit = true;
  atexit(thread_bufs_release);
}

/* Called by the owner thread only, so no lock is needed. */
float *ps_conv_thread_buf(int tid, size_t elems) {
  if (elems <= g_thread_elems[tid]) return g_thread_buf[tid];
  free(g_thread_buf[tid]);
  g_thread_buf[tid] = aligned_alloc(64, (elems * sizeof(float) + 63) & ~(size_t)63);
  g_thread_elems[tid] = g_thread_buf[tid] ? elems : 0;
  return g_thread_buf[tid];
}

/* ---- plan ---- */
static int64_t kvol_of(const ps_conv_geom *g) { return (int64_t)g->ks[0] * g->ks[1] * g->ks[2]; }
static int64_t in_vox(const ps_conv_geom *g) { return g->in[0] * g->in[1] * g->in[2]; }
static int64_t out_vox(const ps_conv_geom *g) { return g->out[0] * g->out[1] * g->out[2]; }
/* floats between samples of x */
static int64_t x_ns(const ps_conv_geom *g) { return g->x_nstride ? g->x_nstride : g->c * in_vox(g); }
/* the slab paths of the 2^3 stride-2 convs honour x_nstride; every other path reads dense samples */
static ps_status strided_refused(void) {
  return ps_error(PS_ERR_UNSUPPORTED, "conv_gemm.c: strided samples (x_nstride) need a 2^3 stride-2 conv, one group");
}

bool ps_conv_tiles(const ps_conv_geom *g) {
  for (int i = 0; i < 3; i++)
    if (g->ks[i] != g->stride[i] || g->pad[i] != 0 || (g->ks[i] > 1 && g->dil[i] != 1) ||
        g->in[i] != g->out[i] * g->stride[i])
      return false;
  return true;
}

ps_conv_gemm_plan ps_conv_plan(const ps_conv_geom *g) {
  ps_conv_gemm_plan p = {0};
  const int64_t cg = g->c / g->groups, kg = g->k / g->groups, rows = cg * kvol_of(g);
  const int64_t lines = g->out[0] * g->out[1], OW = g->out[2];
  p.direct = g->groups > 1 && cg == 1 && kg == 1;
  p.no_col = kvol_of(g) == 1;
  for (int i = 0; i < 3; i++)
    if (g->stride[i] != 1 || g->pad[i] != 0 || g->in[i] != g->out[i]) p.no_col = false;
  p.m = kg;
  p.k = rows;
  p.total_cols = lines * OW;
  if (p.no_col) {
    p.n = p.total_cols;
    p.slabs = 1;
  } else {
    int64_t per = (int64_t)(scratch_cap() / sizeof(float)) / (rows * OW);
    if (per < 1) per = 1;
    if (per > lines) per = lines;
    p.n = per * OW;
    p.slabs = (lines + per - 1) / per;
  }
  return p;
}

static void zero_floats(float *p, int64_t n) {
  const int64_t chunk = 1 << 16, nch = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (nch > 1)
  for (int64_t i = 0; i < nch; i++) {
    int64_t a = i * chunk, b = a + chunk < n ? a + chunk : n;
    memset(p + a, 0, (size_t)(b - a) * sizeof(float));
  }
}

/* ---- depthwise (one input and one output channel per group): direct loops over
 * output rows, each tap adding a scaled input run; parallel over (n, channel). ---- */
typedef struct {
  int64_t lo, hi;  /* valid ow range for one kx */
} run;

static void runs_for(const ps_conv_geom *g, run *rx) {
  for (int kx = 0; kx < g->ks[2]; kx++) {
    int64_t ix0 = (int64_t)kx * g->dil[2] - g->pad[2], s = g->stride[2];
    int64_t a = ix0 < 0 ? (-ix0 + s - 1) / s : 0;
    int64_t b = g->in[2] - 1 - ix0 < 0 ? 0 : (g->in[2] - 1 - ix0) / s + 1;
    if (b > g->out[2]) b = g->out[2];
    if (a > b) a = b;
    rx[kx].lo = a;
    rx[kx].hi = b;
  }
}

/* mode 0: y = b + conv(x); 1: dx (+)= conv^T(dy); 2: dw += (in double) */
static ps_status depthwise(const ps_conv_geom *g, int mode, const float *x, const float *w, const float *b,
                           float *y, bool accumulate, double *dwacc) {
  const int64_t D = g->in[0], H = g->in[1], W = g->in[2], OD = g->out[0], OH = g->out[1], OW = g->out[2];
  const int kd = g->ks[0], kh = g->ks[1], kw = g->ks[2], sw = g->stride[2];
  const int64_t kvol = kvol_of(g), C = g->c;
  run *rx = malloc((size_t)kw * sizeof *rx);
  if (!rx) return ps_error(PS_ERR_NOMEM, "conv_gemm.c: out of memory");
  runs_for(g, rx);
  /* weight-grad reduces over n inside one task, so parallelise over channels only */
  const int64_t tasks = mode == 2 ? C : g->n * C;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t task = 0; task < tasks; task++) {
    const int64_t ch = mode == 2 ? task : task % C;
    const int64_t n0 = mode == 2 ? 0 : task / C, n1 = mode == 2 ? g->n : n0 + 1;
    const float *wc = w ? w + ch * kvol : NULL;
    for (int64_t n = n0; n < n1; n++) {
      const float *xp = x + (n * C + ch) * D * H * W;     /* mode 1: unused */
      float *yp = y + (n * C + ch) * (mode == 1 ? D * H * W : OD * OH * OW);
      if (mode == 0) {
        const float bv = b ? b[ch] : 0.0f;
        if (accumulate)
          for (int64_t i = 0; i < OD * OH * OW; i++) yp[i] += bv;
        else
          for (int64_t i = 0; i < OD * OH * OW; i++) yp[i] = bv;
      } else if (mode == 1 && !accumulate) {
        memset(yp, 0, (size_t)(D * H * W) * sizeof(float));
      }
      for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++) {
          for (int kz = 0; kz < kd; kz++) {
            const int64_t iz = od * g->stride[0] - g->pad[0] + (int64_t)kz * g->dil[0];
            if (iz < 0 || iz >= D) continue;
            for (int ky = 0; ky < kh; ky++) {
              const int64_t iy = oh * g->stride[1] - g->pad[1] + (int64_t)ky * g->dil[1];
              if (iy < 0 || iy >= H) continue;
              for (int kx = 0; kx < kw; kx++) {
                const int64_t t = ((int64_t)kz * kh + ky) * kw + kx, lo = rx[kx].lo, nrun = rx[kx].hi - lo;
                const int64_t ioff = (iz * H + iy) * W + (int64_t)kx * g->dil[2] - g->pad[2] + lo * sw;
                const int64_t ooff = (od * OH + oh) * OW + lo;
                if (mode == 0) {
                  const float wv = wc[t];
                  const float *s = xp + ioff;
                  float *d = yp + ooff;
                  if (sw == 1)
                    for (int64_t i = 0; i < nrun; i++) d[i] += wv * s[i];
                  else
                    for (int64_t i = 0; i < nrun; i++) d[i] += wv * s[i * sw];
                } else if (mode == 1) {
                  const float wv = wc[t];
                  const float *s = x + (n * C + ch) * OD * OH * OW + ooff; /* x is dy here */
                  float *d = yp + ioff;
                  if (sw == 1)
                    for (int64_t i = 0; i < nrun; i++) d[i] += wv * s[i];
                  else
                    for (int64_t i = 0; i < nrun; i++) d[i * sw] += wv * s[i];
                } else {
                  const float *s = xp + ioff, *dy = b + (n * C + ch) * OD * OH * OW + ooff; /* b is dy here */
                  float acc = 0;
                  if (sw == 1)
                    for (int64_t i = 0; i < nrun; i++) acc += dy[i] * s[i];
                  else
                    for (int64_t i = 0; i < nrun; i++) acc += dy[i] * s[i * sw];
                  dwacc[ch * kvol + t] += acc;
                }
              }
            }
          }
        }
    }
  }
  free(rx);
  return PS_OK;
}

/* ---- GEMM path ---- */
/* threads for a parallel region over `tasks` slabs: at most one per slab */
static int slab_threads(int64_t tasks) {
  int threads = omp_get_max_threads();
  if (threads > PS_CONV_MAX_THREADS) threads = PS_CONV_MAX_THREADS;
  return threads > tasks ? (int)tasks : threads;
}

/* Runs fn(ctx, t, col, tid) for every slab task t in [0, tasks): in ONE parallel
 * region of `threads` threads, each with its own column buffer of col_elems
 * floats (static_sched: a fixed task-to-thread assignment, for reductions that
 * must not depend on timing; else dynamic). With one thread it opens no region
 * at all, so that the kernels inside (vol2col's loops, OpenBLAS) may use every
 * thread: inside even a one-thread region they would start a nested team, and
 * libgomp starts fresh threads for each (the decoder's per-sample transposed
 * convs ran 10x slower that way). false: a column buffer could not be allocated. */
typedef void (*slab_task_fn)(void *ctx, int64_t t, float *col, int tid);
static bool run_slabs(int64_t tasks, int threads, size_t col_elems, bool static_sched, slab_task_fn fn, void *ctx) {
  ps_conv_thread_bufs_init();
  if (threads <= 1) {
    float *col = ps_conv_thread_buf(0, col_elems);
    if (!col) return false;
    for (int64_t t = 0; t < tasks; t++) fn(ctx, t, col, 0);
    return true;
  }
  int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
  {
    const int tid = omp_get_thread_num();
    float *col = ps_conv_thread_buf(tid, col_elems);
    if (!col) failed = 1;
    if (static_sched) {
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tasks; t++)
        if (col) fn(ctx, t, col, tid);
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < tasks; t++)
        if (col) fn(ctx, t, col, tid);
    }
  }
  return !failed;
}

/* what a slab task reads: the conv, its plan and operands */
typedef struct {
  const ps_conv_geom *g;
  ps_conv_gemm_plan p;
  const float *a, *b, *w; /* per function: see each task */
  float *out, *part;      /* out: the written tensor; part: per-thread partial sums, `stride` apart */
  int64_t stride;
  bool assign, tiles_bwd, acc_out, dw, db;
} slab_ctx;

/* the lines [l0, l1) and column count of slab s */
static void slab_lines(const slab_ctx *c, int64_t s, int64_t *l0, int64_t *l1, int64_t *nc) {
  const int64_t OW = c->g->out[2], lines = c->g->out[0] * c->g->out[1], per = c->p.n / OW;
  *l0 = s * per;
  *l1 = *l0 + per < lines ? *l0 + per : lines;
  *nc = (*l1 - *l0) * OW;
}

static void add_bias(const ps_conv_geom *g, const float *b, float *y) {
  const int64_t P = out_vox(g), rows = g->n * g->k;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float bv = b[r % g->k];
    float *p = y + r * P;
    for (int64_t i = 0; i < P; i++) p[i] += bv;
  }
}

/* The slab GEMMs of a conv over (sample, group, slab) tasks (run_slabs), each
 * thread with its own column buffer and a single-threaded GEMM.
 * !tiles_bwd: out (= when assign, else +=) conv(in, w): vol2col of the slab,
 * then GEMM into out's slab of lines. tiles_bwd (ps_conv_tiles geometries only):
 * in is dy, out is dx: GEMM into the column buffer, then col2vol; the tiles are
 * disjoint, so the slabs write disjoint parts of dx. */
static void slab_gemm_task(void *ctx, int64_t t, float *col, int tid) {
  (void)tid;
  const slab_ctx *c = ctx;
  const ps_conv_geom *g = c->g;
  const int64_t cg = g->c / g->groups, kg = g->k / g->groups, R = c->p.k, P = out_vox(g), V = in_vox(g);
  const int64_t s = t % c->p.slabs, grp = (t / c->p.slabs) % g->groups, n = t / (c->p.slabs * g->groups);
  int64_t l0, l1, nc;
  slab_lines(c, s, &l0, &l1, &nc);
  const float *wg = c->w + grp * kg * R;
  const int64_t big = n * x_ns(g) + grp * cg * V, small = (n * g->k + grp * kg) * P + l0 * g->out[2];
  if (!c->tiles_bwd) { /* a: x (big side), out: y */
    ps_vol2col(g, c->a + big, cg, l0, l1, col);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)kg, (int)nc, (int)R, 1.0f, wg, (int)R, col, (int)nc,
                c->assign ? 0.0f : 1.0f, c->out + small, (int)P);
  } else { /* a: dy, out: dx (big side) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)R, (int)nc, (int)kg, 1.0f, wg, (int)R, c->a + small,
                (int)P, 0.0f, col, (int)nc);
    ps_col2vol(g, col, cg, l0, l1, c->out + big, c->assign);
  }
}

static ps_status slab_gemms(const ps_conv_geom *g, bool tiles_bwd, const float *in, const float *w, float *out,
                            bool assign) {
  slab_ctx c = {.g = g, .p = ps_conv_plan(g), .a = in, .w = w, .out = out, .assign = assign, .tiles_bwd = tiles_bwd};
  const int64_t tasks = g->n * g->groups * c.p.slabs;
  if (!run_slabs(tasks, slab_threads(tasks), (size_t)(c.p.k * c.p.n), false, slab_gemm_task, &c))
    return ps_error(PS_ERR_NOMEM, "conv_gemm.c: cannot allocate the column buffers");
  return PS_OK;
}

/* y (=, or += when beta is 1) conv(x, w) without bias, through vol2col + sgemm.
 * Slabs run in ONE parallel region (slab_gemms): OpenBLAS's OpenMP build runs
 * single-threaded inside it, so nothing nests. Compared with a parallel
 * vol2col followed by a 2-thread GEMM per slab, this removes a fork/join and a
 * BLAS hand-off per slab: with 2 MiB slabs the big layers have hundreds of
 * slabs per call. */
static ps_status gemm_forward(const ps_conv_geom *g, const float *x, const float *w, float *y, float beta) {
  ps_conv_gemm_plan p = ps_conv_plan(g);
  const int64_t cg = g->c / g->groups, kg = g->k / g->groups, R = p.k, P = out_vox(g);
  if (p.no_col) {
    for (int64_t n = 0; n < g->n; n++)
      for (int grp = 0; grp < g->groups; grp++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)kg, (int)P, (int)cg, 1.0f,
                    w + grp * kg * R, (int)R, x + (n * g->c + grp * cg) * in_vox(g), (int)P, beta,
                    y + (n * g->k + grp * kg) * P, (int)P);
    return PS_OK;
  }
  return slab_gemms(g, false, x, w, y, beta == 0.0f);
}

ps_status ps_conv_fast_forward(const ps_conv_geom *g, const float *x, const float *w, const float *b, float *y,
                               bool accumulate) {
  if (g->x_nstride && !ps_conv_strided_ok(g)) return strided_refused();
  if (ps_conv_use_winograd(g, 0)) return ps_conv_wino_forward(g, x, w, b, y, accumulate);
  if (ps_conv_plan(g).direct) return depthwise(g, 0, x, w, b, y, accumulate, NULL);
  ps_status st = gemm_forward(g, x, w, y, accumulate ? 1.0f : 0.0f);
  if (st == PS_OK && b) add_bias(g, b, y);
  return st;
}

/* With stride 1 the backward-data is itself a conv: of dy, padded by
 * dil*(k-1) - pad (possibly negative), with the weight flipped and its channel
 * axes swapped per group. Running it as a forward conv avoids col2vol's
 * scatter and the zero fill of dx. */
bool ps_conv_bwd_data_as_conv(const ps_conv_geom *g) {
  /* with fewer output than input channels per group (e.g. 1 -> 16) the adjoint
   * conv would unfold more rows than col2vol scatters */
  if (g->k / g->groups > g->c / g->groups || kvol_of(g) == 1) return false;
  for (int i = 0; i < 3; i++)
    if (g->stride[i] != 1) return false;
  return true;
}

ps_conv_geom ps_conv_bwd_data_geom(const ps_conv_geom *g) {
  ps_conv_geom a = *g;
  a.c = g->k;
  a.k = g->c;
  for (int i = 0; i < 3; i++) {
    a.in[i] = g->out[i];
    a.out[i] = g->in[i];
    a.pad[i] = g->dil[i] * (g->ks[i] - 1) - g->pad[i];
  }
  return a;
}

static ps_status bwd_data_via_forward(const ps_conv_geom *g, const float *dy, const float *w, float *dx,
                                      bool accumulate) {
  const int64_t cg = g->c / g->groups, kg = g->k / g->groups, kvol = kvol_of(g);
  const ps_conv_geom a = ps_conv_bwd_data_geom(g);
  /* wf [c, k/groups, ks]: wf[grp*cg + ci, ko, t] = w[grp*kg + ko, ci, kvol-1-t] */
  float *wf = malloc((size_t)(g->c * kg * kvol) * sizeof(float));
  if (!wf) return ps_error(PS_ERR_NOMEM, "conv_gemm.c: out of memory for the flipped weight");
  for (int grp = 0; grp < g->groups; grp++)
    for (int64_t ko = 0; ko < kg; ko++)
      for (int64_t ci = 0; ci < cg; ci++) {
        const float *src = w + ((grp * kg + ko) * cg + ci) * kvol;
        float *dst = wf + ((grp * cg + ci) * kg + ko) * kvol;
        for (int64_t t = 0; t < kvol; t++) dst[t] = src[kvol - 1 - t];
      }
  ps_status st = gemm_forward(&a, dy, wf, dx, accumulate ? 1.0f : 0.0f);
  free(wf);
  return st;
}

ps_status ps_conv_fast_backward_data(const ps_conv_geom *g, const float *dy, const float *w, float *dx,
                                     bool accumulate) {
  if (g->x_nstride && !ps_conv_strided_ok(g)) return strided_refused();
  if (ps_conv_use_winograd(g, 1)) return ps_conv_wino_backward_data(g, dy, w, dx, accumulate);
  ps_conv_gemm_plan p = ps_conv_plan(g);
  if (p.direct) return depthwise(g, 1, dy, w, NULL, dx, accumulate, NULL);
  const int64_t cg = g->c / g->groups, kg = g->k / g->groups, R = p.k, P = out_vox(g), OW = g->out[2];
  const int64_t lines = g->out[0] * g->out[1], per = p.n / OW, V = in_vox(g);
  if (!p.no_col && ps_conv_bwd_data_as_conv(g)) return bwd_data_via_forward(g, dy, w, dx, accumulate);
  /* kernel = stride (the transposed convs' adjoint): slab-parallel, not a serial
   * slab loop around small 2-thread GEMMs */
  if (!p.no_col && ps_conv_tiles(g)) return slab_gemms(g, true, dy, w, dx, !accumulate);
  const bool assign = !accumulate && ps_conv_tiles(g);
  float *col = p.no_col ? NULL : scratch((size_t)(R * p.n));
  if (!p.no_col && !col) return PS_ERR_NOMEM;
  if (!p.no_col && !accumulate && !assign) zero_floats(dx, g->n * g->c * V);
  for (int64_t n = 0; n < g->n; n++)
    for (int grp = 0; grp < g->groups; grp++) {
      const float *dyg = dy + (n * g->k + grp * kg) * P, *wg = w + grp * kg * R;
      float *dxg = dx + (n * g->c + grp * cg) * V;
      if (p.no_col) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)cg, (int)P, (int)kg, 1.0f, wg, (int)R, dyg,
                    (int)P, accumulate ? 1.0f : 0.0f, dxg, (int)P);
        continue;
      }
      for (int64_t l0 = 0; l0 < lines; l0 += per) {
        const int64_t l1 = l0 + per < lines ? l0 + per : lines, nc = (l1 - l0) * OW;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)R, (int)nc, (int)kg, 1.0f, wg, (int)R,
                    dyg + l0 * OW, (int)P, 0.0f, col, (int)nc);
        ps_col2vol(g, col, cg, l0, l1, dxg, assign);
      }
    }
  return PS_OK;
}

/* dst[i] (=, or += when acc) the sum over threads of part[th * stride + i], i < n,
 * in thread order (so the result depends only on the thread count) */
static void add_parts(const float *part, int threads, int64_t stride, int64_t n, float *dst, bool acc) {
  for (int64_t i = 0; i < n; i++) {
    float sum = acc ? dst[i] : 0.0f;
    for (int th = 0; th < threads; th++) sum += part[th * stride + i];
    dst[i] = sum;
  }
}

/* backward_weight's slab task: a = x (big side), b = dy; dw partial of thread tid */
static void weight_task(void *ctx, int64_t t, float *col, int tid) {
  const slab_ctx *c = ctx;
  const ps_conv_geom *g = c->g;
  const int64_t cg = g->c / g->groups, kg = g->k / g->groups, R = c->p.k, P = out_vox(g), slabs = c->p.slabs;
  const int64_t s = t % slabs, n = (t / slabs) % g->n, grp = t / (slabs * g->n);
  int64_t l0, l1, nc;
  slab_lines(c, s, &l0, &l1, &nc);
  ps_vol2col(g, c->a + n * x_ns(g) + grp * cg * in_vox(g), cg, l0, l1, col);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)kg, (int)R, (int)nc, 1.0f,
              c->b + (n * g->k + grp * kg) * P + l0 * g->out[2], (int)P, col, (int)nc, 1.0f,
              c->part + tid * c->stride + grp * kg * R, (int)R);
}

ps_status ps_conv_fast_backward_weight(const ps_conv_geom *g, const float *x, const float *dy, float *dw,
                                       bool accumulate) {
  if (g->x_nstride && !ps_conv_strided_ok(g)) return strided_refused();
  if (ps_conv_use_winograd(g, 2)) return ps_conv_wino_backward_weight(g, x, dy, dw, accumulate);
  ps_conv_gemm_plan p = ps_conv_plan(g);
  const int64_t kvol = kvol_of(g);
  if (p.direct) {
    double *acc = calloc((size_t)(g->c * kvol), sizeof *acc);
    if (!acc) return ps_error(PS_ERR_NOMEM, "conv_gemm.c: out of memory");
    ps_status st = depthwise(g, 2, x, NULL, dy, NULL, false, acc);
    for (int64_t i = 0; i < g->c * kvol && st == PS_OK; i++)
      dw[i] = accumulate ? (float)(dw[i] + acc[i]) : (float)acc[i];
    free(acc);
    return st;
  }
  const int64_t cg = g->c / g->groups, kg = g->k / g->groups, R = p.k, P = out_vox(g), V = in_vox(g);
  if (p.no_col) {
    for (int grp = 0; grp < g->groups; grp++)
      for (int64_t n = 0; n < g->n; n++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)kg, (int)cg, (int)P, 1.0f,
                    dy + (n * g->k + grp * kg) * P, (int)P, x + (n * g->c + grp * cg) * V, (int)P,
                    (accumulate || n > 0) ? 1.0f : 0.0f, dw + grp * kg * R, (int)R);
    return PS_OK;
  }
  /* Slab-parallel like the forward: each thread sums its slabs into a private
   * copy of dw with a single-threaded GEMM; the copies are added in thread
   * order. Static scheduling fixes which slabs each thread sums, so the result
   * is the same on every run with the same thread count. */
  const int64_t tasks = g->n * g->groups * p.slabs, wn = g->k * R;
  const int threads = slab_threads(tasks);
  float *part = calloc((size_t)(threads * wn), sizeof(float));
  if (!part) return ps_error(PS_ERR_NOMEM, "conv_gemm.c: out of memory");
  slab_ctx c = {.g = g, .p = p, .a = x, .b = dy, .part = part, .stride = wn};
  const bool ok = run_slabs(tasks, threads, (size_t)(R * p.n), true, weight_task, &c);
  if (ok) add_parts(part, threads, wn, wn, dw, accumulate);
  free(part);
  return ok ? PS_OK : ps_error(PS_ERR_NOMEM, "conv_gemm.c: cannot allocate the column buffers");
}

/* The transposed conv's backward (g its adjoint conv, a fusable geometry: dy is
 * the adjoint conv's input, x its output). Per slab, ONE vol2col of dy feeds
 * dx = conv(dy, w), dw += x (x) col and db += col's row sums (each dy voxel is
 * in exactly one column entry): one pass over dy, the big tensor, instead of
 * three (bias_grad, backward_weight's and the forward's vol2col). Partial dw and
 * db per thread, added in thread order as in backward_weight. The slab task:
 * a = dy (big side), b = x, w; out = dx; dw (and db after it) partials of thread tid. */
static void convt_task(void *ctx, int64_t t, float *col, int tid) {
  const slab_ctx *c = ctx;
  const ps_conv_geom *g = c->g;
  const int64_t cg = g->c / g->groups, kg = g->k / g->groups, R = c->p.k, P = out_vox(g), slabs = c->p.slabs;
  const int64_t s = t % slabs, n = (t / slabs) % g->n, grp = t / (slabs * g->n), wn = g->k * R;
  int64_t l0, l1, nc;
  slab_lines(c, s, &l0, &l1, &nc);
  const int64_t small = (n * g->k + grp * kg) * P + l0 * g->out[2], kvol = kvol_of(g);
  float *mine = c->part + tid * c->stride;
  ps_vol2col(g, c->a + n * x_ns(g) + grp * cg * in_vox(g), cg, l0, l1, col);
  if (c->out)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)kg, (int)nc, (int)R, 1.0f, c->w + grp * kg * R,
                (int)R, col, (int)nc, c->acc_out ? 1.0f : 0.0f, c->out + small, (int)P);
  if (c->dw)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)kg, (int)R, (int)nc, 1.0f, c->b + small, (int)P, col,
                (int)nc, 1.0f, mine + grp * kg * R, (int)R);
  if (c->db)
    for (int64_t r = 0; r < R; r++) mine[wn + grp * cg + r / kvol] += (float)ps_sum_f32(col + r * nc, nc);
}

ps_status ps_conv_fast_convt_backward(const ps_conv_geom *g, const float *dy, const float *x, const float *w,
                                      float *dx, bool dx_acc, float *dw, bool dw_acc, float *db, bool db_acc) {
  if (!ps_conv_convt_fusable(g) || (g->x_nstride && !ps_conv_strided_ok(g)))
    return ps_error(PS_ERR_INVALID, "conv_gemm.c: fused transposed-conv backward on a geometry it cannot fuse");
  const ps_conv_gemm_plan p = ps_conv_plan(g);
  const int64_t tasks = g->n * g->groups * p.slabs, wn = g->k * p.k, stride = wn + g->c;
  const int threads = slab_threads(tasks);
  float *part = calloc((size_t)(threads * stride), sizeof(float)); /* [thread][dw, db] */
  if (!part) return ps_error(PS_ERR_NOMEM, "conv_gemm.c: out of memory");
  slab_ctx c = {.g = g, .p = p, .a = dy, .b = x, .w = w, .out = dx, .part = part, .stride = stride,
                .acc_out = dx_acc, .dw = dw != NULL, .db = db != NULL};
  const bool ok = run_slabs(tasks, threads, (size_t)(p.k * p.n), true, convt_task, &c);
  if (ok) {
    if (dw) add_parts(part, threads, stride, wn, dw, dw_acc);
    if (db) add_parts(part + wn, threads, stride, g->c, db, db_acc);
  }
  free(part);
  return ok ? PS_OK : ps_error(PS_ERR_NOMEM, "conv_gemm.c: cannot allocate the column buffers");
}

bool ps_conv_strided_ok(const ps_conv_geom *g) {
  return g->groups == 1 && ps_conv_convt_fusable(g) && g->x_nstride >= g->c * in_vox(g);
}

bool ps_conv_convt_fusable(const ps_conv_geom *g) {
  return ps_conv_tiles(g) && !ps_conv_plan(g).no_col && !ps_conv_use_winograd(g, 0);
}

void ps_conv_fast_backward_bias(const ps_conv_geom *g, const float *dy, float *db, bool accumulate) {
  const int64_t P = out_vox(g);
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < g->k; k++) {
    double s = 0;
    for (int64_t n = 0; n < g->n; n++) {
      const float *p = dy + (n * g->k + k) * P;
      float part = 0;
      for (int64_t i = 0; i < P; i++) part += p[i];
      s += part;
    }
    db[k] = accumulate ? (float)(db[k] + s) : (float)s;
  }
}
