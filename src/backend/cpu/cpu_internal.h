/* Kernels of the fast "cpu" backend (OpenMP + OpenBLAS), split over files by
 * family; cpu_backend.c assembles them into the vtable. Signatures are the
 * vtable's (proxyseg/backend.h), shapes documented there. */
#ifndef PS_CPU_INTERNAL_H
#define PS_CPU_INTERNAL_H
#include "backend/cpu_common.h"

/* cpu_norm_loss.c */
ps_status ps_cpu_norm_stats(ps_backend *be, const ps_norm_geom *g, const float *x, float eps, float *mean, float *rstd,
                            float *var_out);
ps_status ps_cpu_norm_apply(ps_backend *be, const ps_norm_geom *g, const float *x, const float *mean,
                            const float *rstd, const float *gamma, const float *beta, float *y);
ps_status ps_cpu_norm_backward(ps_backend *be, const ps_norm_geom *g, const float *x, const float *mean,
                               const float *rstd, const float *gamma, const float *y, const float *dy, bool batch_stats,
                               float *dx, bool dx_acc, float *dgamma, bool dgamma_acc, float *dbeta, bool dbeta_acc);
size_t ps_cpu_loss_workspace_bytes(ps_backend *be, const ps_loss_geom *g);
ps_status ps_cpu_loss_forward(ps_backend *be, const ps_loss_geom *g, const float *logits, const uint8_t *labels,
                              float *loss, void *workspace);
ps_status ps_cpu_loss_backward(ps_backend *be, const ps_loss_geom *g, const float *logits, const uint8_t *labels,
                               const void *workspace, const float *up, float *dlogits, bool acc);

/* cpu_resample.c */
ps_status ps_cpu_maxpool_forward(ps_backend *be, const ps_pool_geom *g, const float *x, float *y, int32_t *argmax);
ps_status ps_cpu_maxpool_backward(ps_backend *be, const ps_pool_geom *g, const int32_t *argmax, const float *dy,
                                  float *dx, bool acc);
ps_status ps_cpu_avgpool_forward(ps_backend *be, const ps_pool_geom *g, const float *x, float *y);
ps_status ps_cpu_avgpool_backward(ps_backend *be, const ps_pool_geom *g, const float *dy, float *dx, bool acc);
ps_status ps_cpu_upsample_forward(ps_backend *be, bool trilinear, int64_t planes, const int64_t in[3],
                                  const int64_t out[3], const float *x, float *y);
ps_status ps_cpu_upsample_backward(ps_backend *be, bool trilinear, int64_t planes, const int64_t in[3],
                                   const int64_t out[3], const float *dy, float *dx, bool acc);
#endif
