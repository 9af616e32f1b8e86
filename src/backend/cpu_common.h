/* What the two CPU backends share (private to src/backend): host memory with
 * the allocation-failure test hook, and their constructors for the registry. */
#ifndef PS_CPU_COMMON_H
#define PS_CPU_COMMON_H
#include "proxyseg/backend.h"

/* Host-memory entries of the vtable: 64-byte aligned malloc, memset, memcpy. */
void ps_host_fill_memory(ps_backend *be);
/* The two CPU backends (static objects; never freed). */
ps_backend *ps_backend_cpu_ref(void);
ps_backend *ps_backend_cpu(void);
/* What both CPU backends support: every op kind; norms with none/relu/leaky
 * activations, losses up to 256 classes. */
bool ps_ref_supports(ps_backend *be, ps_op_kind k, const void *params);
/* Kernels the fast backend takes from the reference unchanged (tiny, [C]-sized). */
ps_status ps_ref_bn_running_update(ps_backend *be, int64_t C, int64_t count, float momentum, const float *mean,
                                   const float *var, float *running_mean, float *running_var);
ps_status ps_ref_bn_eval_stats(ps_backend *be, int64_t C, const float *running_mean, const float *running_var,
                               float eps, float *mean, float *rstd);
/* Every label is a class (< g->C) or the ignore label; else PS_ERR_INVALID naming the voxel. */
ps_status ps_loss_check_labels(const ps_loss_geom *g, const uint8_t *labels);
/* Below this many elements an OpenMP region costs more than it saves. */
#define PS_OMP_MIN 32768
#endif
