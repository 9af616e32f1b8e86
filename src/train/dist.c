/* Data-parallel training over MPI ranks: start-up (MPI, threads per rank), the
 * per-step gradient all-reduce over the parameter arena, and the small
 * agreements that keep every rank in the same collective call (a rank that
 * fails tells the others instead of leaving them waiting). Built without MPI,
 * ps_dist_init refuses and every other call is the one-rank identity. */
#include "trainer_internal.h"
#include "proxyseg/backend.h"
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_rank = 0, g_size = 1;
static double g_comm_seconds; /* time inside the gradient all-reduce, for the log */

int ps_dist_rank(void) { return g_rank; }
int ps_dist_size(void) { return g_size; }
double ps_dist_comm_seconds(void) { return g_comm_seconds; }

/* Threads for a process that shares its node with `ranks_on_node` busy ranks:
 * OMP_NUM_THREADS when the user set it, else the node's cores over the ranks,
 * never more than the cores this process may run on (mpirun's binding, Slurm's
 * cpuset). Busy-waiting OpenMP threads collapse when oversubscribed. */
int ps_dist_thread_share(int ranks_on_node) {
  const char *e = getenv("OMP_NUM_THREADS");
  if (e && atoi(e) > 0) return atoi(e);
  int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  int share = ranks_on_node > 0 && cores / ranks_on_node > 0 ? cores / ranks_on_node : 1;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 && CPU_COUNT(&set) < share)
    share = CPU_COUNT(&set);
  return share;
}

#ifdef PS_WITH_MPI
#include <mpi.h>

static bool g_init;
static int g_local = 1; /* ranks on this node */

ps_status ps_dist_init(void) {
  if (g_init) return PS_OK;
  int provided;
  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return ps_error(PS_ERR_RUNTIME, "MPI_Init failed");
  g_init = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm node;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    MPI_Comm_size(node, &g_local);
    MPI_Comm_free(&node);
  }
  return PS_OK;
}

int ps_dist_local_ranks(void) { return g_local; }

void ps_dist_finalize(void) {
  if (!g_init) return;
  MPI_Finalize();
  g_init = false;
  g_rank = 0;
  g_size = 1;
}

/* Every rank learns whether any rank failed: one MPI_Allreduce of
 * {failed, value} (value: a sum, e.g. the per-rank losses). A rank that failed
 * keeps its own error; the others get one naming `what`. */
static ps_status agree(ps_status local, double *value, const char *what) {
  if (g_size <= 1) return local;
  double in[2] = {local ? 1.0 : 0.0, local || !value ? 0.0 : *value}, out[2];
  if (MPI_Allreduce(in, out, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
    return ps_error(PS_ERR_RUNTIME, "MPI_Allreduce failed (%s)", what);
  if (local) return local;
  if (out[0] > 0)
    return ps_error(PS_ERR_RUNTIME, "%d other rank(s) failed %s (their error is in their output)", (int)out[0], what);
  if (value) *value = out[1];
  return PS_OK;
}

ps_status ps_dist_all_ok(ps_status local, const char *what) { return agree(local, NULL, what); }

ps_status ps_dist_mean_loss(ps_status local, double *loss, const char *what) {
  ps_status st = agree(local, loss, what);
  if (!st && g_size > 1) *loss /= g_size;
  return st;
}

/* The grads of the arena (host or backend memory), averaged in place: one
 * MPI_Allreduce(SUM) over the whole arena, then a scale by 1/K on the backend.
 * A backend whose buffers are not host memory goes through a host copy. */
ps_status ps_dist_allreduce_grads(ps_params *p) {
  if (g_size <= 1) return PS_OK;
  double t0 = ps_now();
  ps_backend *be = ps_params_backend(p);
  size_t n = ps_params_numel(p);
  float *g = ps_params_grad(p), *host = g;
  if (!g || n == 0) return PS_OK;
  if (n > (size_t)2147483647) return ps_error(PS_ERR_INVALID, "all-reduce: %zu gradients exceed one MPI call", n);
  ps_status st = PS_OK;
  if (!be->host_memory) {
    host = malloc(n * sizeof(float));
    if (!host) return ps_error(PS_ERR_NOMEM, "all-reduce: out of memory for a host copy of %zu gradients", n);
    st = be->to_host(be, host, g, n * sizeof(float));
  }
  if (!st && MPI_Allreduce(MPI_IN_PLACE, host, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
    st = ps_error(PS_ERR_RUNTIME, "MPI_Allreduce of %zu gradients failed", n);
  if (!st && !be->host_memory) st = be->to_backend(be, g, host, n * sizeof(float));
  if (!be->host_memory) free(host);
  if (!st) st = be->axpby(be, 1.0f / (float)g_size, g, g, (int64_t)n, false);
  g_comm_seconds += ps_now() - t0;
  return st;
}

/* Rank 0's parameter values to every rank (a start from anything but the
 * shared seed, e.g. --init or a checkpoint, is identical everywhere). */
ps_status ps_dist_bcast_params(ps_params *p) {
  if (g_size <= 1) return PS_OK;
  ps_backend *be = ps_params_backend(p);
  size_t n = ps_params_numel(p);
  float *d = ps_params_data(p), *host = d;
  if (!d || n == 0) return PS_OK;
  if (n > (size_t)2147483647) return ps_error(PS_ERR_INVALID, "broadcast: %zu parameters exceed one MPI call", n);
  ps_status st = PS_OK;
  if (!be->host_memory) {
    host = malloc(n * sizeof(float));
    if (!host) return ps_error(PS_ERR_NOMEM, "broadcast: out of memory");
    st = be->to_host(be, host, d, n * sizeof(float));
  }
  if (!st && MPI_Bcast(host, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    st = ps_error(PS_ERR_RUNTIME, "MPI_Bcast of the parameters failed");
  if (!st && !be->host_memory) st = be->to_backend(be, d, host, n * sizeof(float));
  if (!be->host_memory) free(host);
  return st;
}

ps_status ps_dist_bcast_outcome(ps_dist_outcome *o) {
  if (g_size <= 1) return o->status;
  double b[4] = {o->status ? 1.0 : 0.0, o->dice, o->validated ? 1.0 : 0.0, o->stop ? 1.0 : 0.0};
  if (MPI_Bcast(b, 4, MPI_DOUBLE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    return ps_error(PS_ERR_RUNTIME, "MPI_Bcast of the epoch's outcome failed");
  if (g_rank == 0) return o->status;
  o->dice = b[1];
  o->validated = b[2] != 0;
  o->stop = b[3] != 0;
  o->status = b[0] != 0 ? ps_error(PS_ERR_RUNTIME, "rank 0 failed validating or checkpointing (its error is in its log)")
                        : PS_OK;
  return o->status;
}

ps_status ps_dist_same_int(int v, const char *what) {
  if (g_size <= 1) return PS_OK;
  int in[2] = {v, -v}, out[2];
  if (MPI_Allreduce(in, out, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
    return ps_error(PS_ERR_RUNTIME, "MPI_Allreduce failed (%s)", what);
  if (out[0] != -out[1])
    return ps_error(PS_ERR_DATA, "ranks disagree on %s (%d on rank %d; between %d and %d over the ranks)", what, v,
                    g_rank, -out[1], out[0]);
  return PS_OK;
}

#else /* built without MPI: one rank */

ps_status ps_dist_init(void) {
  return ps_error(PS_ERR_UNSUPPORTED, "this proxyseg was built without MPI (install libopenmpi-dev and rebuild)");
}
int ps_dist_local_ranks(void) { return 1; }
void ps_dist_finalize(void) {}
ps_status ps_dist_all_ok(ps_status local, const char *what) { (void)what; return local; }
ps_status ps_dist_mean_loss(ps_status local, double *loss, const char *what) { (void)loss; (void)what; return local; }
ps_status ps_dist_allreduce_grads(ps_params *p) { (void)p; return PS_OK; }
ps_status ps_dist_bcast_params(ps_params *p) { (void)p; return PS_OK; }
ps_status ps_dist_bcast_outcome(ps_dist_outcome *o) { return o->status; }
ps_status ps_dist_same_int(int v, const char *what) { (void)v; (void)what; return PS_OK; }
#endif
