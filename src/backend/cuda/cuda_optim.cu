/* Optimiser updates over the flat parameter arena on the GPU (one kernel per
 * step, PyTorch's rules exactly as src/nn/optim.c: SGD with momentum/Nesterov
 * and weight decay, Adam with L2, AdamW decoupled), the gradient L2 norm with a
 * deterministic two-level reduction, in-place scaling (clipping) and the
 * non-finite check. Bias corrections are computed on the host in double. */
#include "cuda_common.h"
#include <math.h>

__global__ void k_sgd(float *w, const float *g, float *buf, int64_t n, float lr, float wd, float mu, bool first,
                      bool nest) {
  PS_CUDA_LOOP(i, n) {
    const float d = g[i] + wd * w[i];
    if (!buf) {
      w[i] -= lr * d;
      continue;
    }
    /* PyTorch initialises the buffer with the first gradient (no dampening) */
    const float b = first ? d : mu * buf[i] + d;
    buf[i] = b;
    w[i] -= lr * (nest ? d + mu * b : b);
  }
}

__global__ void k_adam(float *w, const float *g, float *m, float *v, int64_t n, float b1, float b2, float step_size,
                       float bc2_sqrt, float eps, float l2, float shrink) {
  PS_CUDA_LOOP(i, n) {
    const float x = w[i] * shrink;
    const float d = g[i] + l2 * w[i];
    const float mi = b1 * m[i] + (1.0f - b1) * d;
    const float vi = b2 * v[i] + (1.0f - b2) * d * d;
    m[i] = mi;
    v[i] = vi;
    w[i] = x - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
  }
}

extern "C" ps_status ps_cuda_optim_step(ps_cuda *c, const ps_cuda_opt_params *p, float *w, const float *g, float *m,
                                        float *v, int64_t n) {
  if (n <= 0) return PS_OK;
  if (p->kind == PS_CUDA_SGD) {
    k_sgd<<<ps_cuda_grid(n), PS_CUDA_THREADS, 0, c->stream>>>(w, g, p->momentum > 0 ? m : NULL, n, p->lr,
                                                              p->weight_decay, p->momentum, p->step <= 1, p->nesterov);
    return ps_cuda_check_launch("sgd step");
  }
  if (!m || !v) return ps_error(PS_ERR_INVALID, "cuda adam: state buffers are NULL");
  const double t = (double)(p->step < 1 ? 1 : p->step);
  const double bc1 = 1.0 - pow((double)p->beta1, t), bc2 = 1.0 - pow((double)p->beta2, t);
  const bool decoupled = p->kind == PS_CUDA_ADAMW;
  k_adam<<<ps_cuda_grid(n), PS_CUDA_THREADS, 0, c->stream>>>(
      w, g, m, v, n, p->beta1, p->beta2, (float)(p->lr / bc1), (float)sqrt(bc2), p->eps, decoupled ? 0.0f : p->weight_decay,
      decoupled ? 1.0f - p->lr * p->weight_decay : 1.0f);
  return ps_cuda_check_launch("adam step");
}


#define NORM_BLOCKS 512
__global__ void k_sumsq_part(const float *g, int64_t n, double *part) {
  double s = 0;
  PS_CUDA_LOOP(i, n) s += (double)g[i] * g[i];
  s = ps_block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}
__global__ void k_sumsq_final(double *part, int nb) {
  double s = 0;
  for (int i = threadIdx.x; i < nb; i += blockDim.x) s += part[i];
  s = ps_block_sum(s);
  if (threadIdx.x == 0) part[PS_CUDA_RED_SLOTS - 1] = s;
}

extern "C" ps_status ps_cuda_grad_norm(ps_cuda *c, const float *g, int64_t n, float *norm) {
  *norm = 0.0f;
  if (n <= 0) return PS_OK;
  unsigned nb = ps_cuda_grid(n);
  if (nb > NORM_BLOCKS) nb = NORM_BLOCKS; /* fixed for a given n: the same sum every time */
  k_sumsq_part<<<nb, PS_CUDA_THREADS, 0, c->stream>>>(g, n, c->red);
  k_sumsq_final<<<1, PS_CUDA_THREADS, 0, c->stream>>>(c->red, (int)nb);
  ps_status e = ps_cuda_check_launch("grad norm");
  if (e) return e;
  double s = 0;
  if ((e = ps_cuda_d2h(c, &s, c->red + PS_CUDA_RED_SLOTS - 1, sizeof s))) return e;
  *norm = (float)sqrt(s); /* a NaN or Inf anywhere makes the sum, and the norm, non-finite */
  return PS_OK;
}

__global__ void k_scale(float *g, int64_t n, float s) {
  PS_CUDA_LOOP(i, n) g[i] *= s;
}
extern "C" ps_status ps_cuda_scale_inplace(ps_cuda *c, float *g, int64_t n, float s) {
  if (n <= 0) return PS_OK;
  k_scale<<<ps_cuda_grid(n), PS_CUDA_THREADS, 0, c->stream>>>(g, n, s);
  return ps_cuda_check_launch("scale");
}

__global__ void k_finite(const float *x, int64_t n, int *flag) {
  PS_CUDA_LOOP(i, n) if (!isfinite(x[i])) *flag = 1;
}
extern "C" ps_status ps_cuda_all_finite(ps_cuda *c, const float *x, int64_t n, bool *finite) {
  *finite = true;
  if (n <= 0) return PS_OK;
  ps_status e = ps_cuda_memset0(c, c->flag, sizeof(int));
  if (e) return e;
  k_finite<<<ps_cuda_grid(n), PS_CUDA_THREADS, 0, c->stream>>>(x, n, c->flag);
  if ((e = ps_cuda_check_launch("finite check"))) return e;
  int f = 0;
  if ((e = ps_cuda_d2h(c, &f, c->flag, sizeof f))) return e;
  *finite = f == 0;
  return PS_OK;
}
