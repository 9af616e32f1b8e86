/* Trials over MPI ranks: rank 0 (the driver) sends a trial folder to an idle
 * worker rank; the worker runs `proxyseg trial-run` in a child process (the
 * same isolation as local trials), sends heartbeats while it runs, and sends
 * back how the child ended with its result.json. The study folder must be on a
 * filesystem every rank sees (trial folders, the journal's intermediate scores).
 * Built without MPI, every entry point refuses or reports "no workers". */
#include "trial_exec.h"
#include "proxyseg/study.h"
#include "proxyseg/train.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Started by an MPI launcher with more than one rank (its environment, read
 * before any MPI call, so that a plain run never touches MPI). */
static bool launched_env(const char *name) {
  const char *v = getenv(name);
  return v && atoi(v) > 1;
}

bool ps_mpi_launched(void) {
  return launched_env("OMPI_COMM_WORLD_SIZE") || launched_env("PMI_SIZE") || launched_env("MPI_LOCALNRANKS") ||
         (getenv("PMIX_RANK") && launched_env("SLURM_STEP_NUM_TASKS"));
}

#ifdef PS_WITH_MPI
#include <mpi.h>

enum { TAG_ASSIGN = 11, TAG_STOP = 12, TAG_HEARTBEAT = 13, TAG_RESULT = 14, TAG_STUDY = 15 };

static int g_rank = -1, g_size = 0;
static bool *g_lost;        /* driver: ranks given up on */
static bool g_initialised;
/* MPI_Finalize is collective: with a rank dead it can wait forever, so a job
 * that lost a rank ends without it (rank 0 tells the others in its stop message) */
static bool g_skip_finalize;

bool ps_mpi_available(void) { return true; }

/* A worker rank's thread share: its node's cores over the worker ranks placed
 * on that node (rank 0 only drives, so it does not count), unless the user set
 * OMP_NUM_THREADS. Busy-waiting OpenMP threads collapse when oversubscribed. */
static void set_thread_share(void) {
  MPI_Comm node;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS) return;
  int local = 1, has_driver = 0, is_driver = g_rank == 0;
  MPI_Comm_size(node, &local);
  MPI_Allreduce(&is_driver, &has_driver, 1, MPI_INT, MPI_MAX, node);
  MPI_Comm_free(&node);
  if (g_rank == 0 || (getenv("OMP_NUM_THREADS") && *getenv("OMP_NUM_THREADS"))) return;
  int workers = local - has_driver, cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  int share = ps_dist_thread_share(workers > 0 ? workers : 1); /* capped at this rank's affinity (train.h) */
  char buf[16];
  snprintf(buf, sizeof buf, "%d", share);
  setenv("OMP_NUM_THREADS", buf, 1); /* inherited by the trial processes (config threads = 0) */
  ps_info("MPI rank %d: %d worker rank(s) on this node of %d cores: %d thread(s) per trial", g_rank, workers, cores,
          share);
}

ps_status ps_mpi_init(int *rank, int *size) {
  if (!g_initialised) {
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      return ps_error(PS_ERR_RUNTIME, "MPI_Init failed");
    g_initialised = true;
    /* a dead rank must be an error we handle (that trial FAILs), not an abort of the study */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_lost = calloc((size_t)g_size, sizeof *g_lost);
    set_thread_share();
  }
  *rank = g_rank;
  *size = g_size;
  return PS_OK;
}

void ps_mpi_finalize(void) {
  if (!g_initialised) return;
  if (!g_skip_finalize) MPI_Finalize();
  g_initialised = false;
  free(g_lost);
  g_lost = NULL;
}

int ps_mpi_driver_workers(void) { return g_initialised && g_rank == 0 && g_size > 1 ? g_size - 1 : 0; }
bool ps_mpi_rank_lost(int rank) { return g_lost && rank > 0 && rank < g_size && g_lost[rank]; }
void ps_mpi_rank_mark_lost(int rank) {
  if (g_lost && rank > 0 && rank < g_size) g_lost[rank] = true;
  g_skip_finalize = true;
}
int ps_mpi_driver_live_workers(void) {
  int k = 0;
  for (int r = 1; r < g_size; r++) k += !g_lost[r];
  return k;
}

static ps_status send_json(const cJSON *j, int dest, int tag) {
  char *s = cJSON_PrintUnformatted(j);
  if (!s) return ps_error(PS_ERR_NOMEM, "out of memory");
  int rc = MPI_Send(s, (int)strlen(s) + 1, MPI_CHAR, dest, tag, MPI_COMM_WORLD);
  free(s);
  return rc == MPI_SUCCESS ? PS_OK : ps_error(PS_ERR_RUNTIME, "MPI_Send to rank %d failed", dest);
}

/* Receive a probed JSON message (NULL when it cannot be read). */
static cJSON *recv_json(MPI_Status *probed) {
  int n = 0;
  MPI_Get_count(probed, MPI_CHAR, &n);
  char *buf = malloc((size_t)(n > 0 ? n : 1));
  if (!buf) return NULL;
  MPI_Status st;
  int rc = MPI_Recv(buf, n, MPI_CHAR, probed->MPI_SOURCE, probed->MPI_TAG, MPI_COMM_WORLD, &st);
  buf[n > 0 ? n - 1 : 0] = 0;
  cJSON *j = rc == MPI_SUCCESS ? cJSON_Parse(buf) : NULL;
  free(buf);
  return j;
}

ps_status ps_mpi_assign(int rank, int number, const char *trial_dir, double timeout) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "trial", number);
  cJSON_AddStringToObject(j, "dir", trial_dir);
  cJSON_AddNumberToObject(j, "trial_timeout", timeout);
  cJSON_AddNumberToObject(j, "heartbeat_timeout", ps_exec_options().heartbeat_timeout);
  ps_status st = send_json(j, rank, TAG_ASSIGN);
  cJSON_Delete(j);
  if (st) { /* a send that fails names a dead rank: its trial then ends as lost */
    ps_warn("trial %d: %s; the rank is given up on", number, ps_last_error());
    ps_mpi_rank_mark_lost(rank);
  }
  return PS_OK;
}

bool ps_mpi_poll(ps_mpi_msg *m) {
  memset(m, 0, sizeof *m);
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS || !flag) return false;
    cJSON *j = recv_json(&st);
    if (!j || ps_mpi_rank_lost(st.MPI_SOURCE) || (st.MPI_TAG != TAG_RESULT && st.MPI_TAG != TAG_HEARTBEAT)) {
      cJSON_Delete(j); /* a rank given up on, or a message we do not expect: read and dropped */
      continue;
    }
    m->kind = st.MPI_TAG == TAG_RESULT ? 'R' : 'H';
    m->rank = st.MPI_SOURCE;
    m->number = ps_json_int(j, "trial", -1);
    m->wait_status = ps_json_int(j, "wait_status", 1 << 8);
    m->timed_out = ps_json_bool(j, "timed_out", false);
    cJSON *r = cJSON_DetachItemFromObjectCaseSensitive(j, "result");
    if (r && !cJSON_IsObject(r)) { cJSON_Delete(r); r = NULL; }
    m->result = r;
    cJSON_Delete(j);
    return true;
  }
}

void ps_mpi_driver_stop(void) {
  if (!ps_mpi_driver_workers()) return;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddBoolToObject(j, "finalize", !g_skip_finalize);
  for (int r = 1; r < g_size; r++)
    if (!g_lost[r]) send_json(j, r, TAG_STOP);
  cJSON_Delete(j);
}

void ps_mpi_announce_study(const char *study_dir) {
  if (!ps_mpi_driver_workers()) return;
  cJSON *j = cJSON_CreateObject();
  char *abs = realpath(study_dir, NULL); /* the ranks may not share a working folder */
  cJSON_AddStringToObject(j, "study", abs ? abs : study_dir);
  free(abs);
  for (int r = 1; r < g_size; r++)
    if (!g_lost[r]) send_json(j, r, TAG_STUDY);
  cJSON_Delete(j);
}

/* Worker side: whether rank 0 still lives, judged by its study's driver.lock
 * (checked once a second). Under --enable-recovery a dead rank 0 does not take
 * the other ranks down, and MPI itself does not tell them. */
static char *g_driver_lock;
static double g_driver_checked, g_driver_gone_since;

/* A driver that finished releases its lock a moment before its stop message
 * arrives: the lock must stay absent for a few seconds, with messages read
 * meanwhile, before the driver counts as dead. */
static bool driver_alive(void) {
  double now = ps_now();
  if (!g_driver_lock || now - g_driver_checked < 1) return true;
  g_driver_checked = now;
  if (ps_study_lock_held(g_driver_lock, PS_LOCK_STALE_SECONDS)) {
    g_driver_gone_since = 0;
    return true;
  }
  if (g_driver_gone_since == 0) g_driver_gone_since = now;
  return now - g_driver_gone_since < 5;
}

/* A worker's message to rank 0. MPI_Send to a dead rank 0 spins forever in
 * Open MPI (even under --enable-recovery), so the send is non-blocking and
 * given up once the driver is judged gone; its buffer is then left to MPI,
 * which may still read it, and the rank ends without MPI_Finalize. */
static ps_status send_to_driver(const cJSON *j, int tag) {
  char *s = cJSON_PrintUnformatted(j);
  if (!s) return ps_error(PS_ERR_NOMEM, "out of memory");
  MPI_Request rq;
  if (MPI_Isend(s, (int)strlen(s) + 1, MPI_CHAR, 0, tag, MPI_COMM_WORLD, &rq) != MPI_SUCCESS) {
    free(s);
    return ps_error(PS_ERR_RUNTIME, "rank %d: MPI_Isend to rank 0 failed", g_rank);
  }
  for (;;) {
    int done = 0;
    if (MPI_Test(&rq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
    if (done) {
      free(s);
      return PS_OK;
    }
    if (!driver_alive()) break;
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  g_skip_finalize = true;
  return ps_error(PS_ERR_INTERRUPTED, "rank %d: rank 0 (the driver of %s) is gone; a re-run resumes the study", g_rank,
                  g_driver_lock ? g_driver_lock : "its study");
}

typedef struct {
  int number;
  double every, last;
  bool driver_gone;
} beat;

static bool heartbeat_tick(void *ud) {
  beat *b = ud;
  double now = ps_now();
  if (now - b->last >= b->every) {
    b->last = now;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "trial", b->number);
    b->driver_gone = send_to_driver(j, TAG_HEARTBEAT) == PS_ERR_INTERRUPTED;
    cJSON_Delete(j);
  }
  return !b->driver_gone && driver_alive();
}

/* Run one assigned trial and send its end to rank 0. */
static ps_status work(cJSON *job) {
  const char *dir = ps_json_str(job, "dir", "");
  int number = ps_json_int(job, "trial", -1);
  double hb = ps_json_num(job, "heartbeat_timeout", 60);
  beat b = {number, hb / 6 > 0.2 ? hb / 6 : 0.2, ps_now(), false};
  int ws = 0;
  bool timed_out = false;
  ps_status st = ps_trial_run_blocking(dir, ps_json_num(job, "trial_timeout", 0), heartbeat_tick, &b, &ws, &timed_out);
  if (st == PS_ERR_INTERRUPTED) return st;
  if (st) ws = 1 << 8; /* could not start the child: reported as "exited with code 1 without a result" */
  cJSON *res = cJSON_CreateObject();
  cJSON_AddNumberToObject(res, "trial", number);
  cJSON_AddNumberToObject(res, "wait_status", ws);
  cJSON_AddBoolToObject(res, "timed_out", timed_out);
  char *rp = ps_path_join(dir, "result.json");
  cJSON *r = NULL;
  if (!timed_out && ps_path_exists(rp) && ps_json_read(rp, &r) == PS_OK) cJSON_AddItemToObject(res, "result", r);
  free(rp);
  ps_status sst = send_to_driver(res, TAG_RESULT);
  cJSON_Delete(res);
  return sst;
}

ps_status ps_mpi_worker_main(void) {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    /* probe and sleep rather than a blocking receive: Open MPI busy-polls in
     * MPI_Recv, which would take a core from the trials of this node */
    if (MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS)
      return ps_error(PS_ERR_RUNTIME, "rank %d: lost contact with rank 0", g_rank);
    if (!flag) {
      if (!driver_alive())
        return ps_error(PS_ERR_INTERRUPTED, "rank %d: rank 0 (the driver of %s) is gone; a re-run resumes the study",
                        g_rank, g_driver_lock);
      struct timespec ts = {0, 1000 * 1000};
      nanosleep(&ts, NULL);
      continue;
    }
    cJSON *j = recv_json(&st);
    if (st.MPI_TAG == TAG_STOP) {
      g_skip_finalize = !ps_json_bool(j, "finalize", true);
      cJSON_Delete(j);
      return PS_OK;
    }
    if (st.MPI_TAG == TAG_STUDY) {
      free(g_driver_lock);
      g_driver_lock = ps_path_join(ps_json_str(j, "study", "."), "driver.lock");
      cJSON_Delete(j);
      continue;
    }
    ps_status rc = j && st.MPI_TAG == TAG_ASSIGN ? work(j) : PS_OK;
    cJSON_Delete(j);
    if (rc == PS_ERR_INTERRUPTED)
      return ps_error(rc, "rank %d: rank 0 (the driver of %s) is gone; its trial was stopped or its result not "
                          "delivered; a re-run resumes the study", g_rank, g_driver_lock);
    if (rc) return rc;
  }
}

#else /* built without MPI */

bool ps_mpi_available(void) { return false; }
ps_status ps_mpi_init(int *rank, int *size) {
  *rank = 0;
  *size = 1;
  return ps_error(PS_ERR_UNSUPPORTED, "this proxyseg was built without MPI (install libopenmpi-dev and rebuild)");
}
void ps_mpi_finalize(void) {}
int ps_mpi_driver_workers(void) { return 0; }
bool ps_mpi_rank_lost(int rank) { (void)rank; return false; }
void ps_mpi_rank_mark_lost(int rank) { (void)rank; }
int ps_mpi_driver_live_workers(void) { return 0; }
ps_status ps_mpi_assign(int rank, int number, const char *trial_dir, double timeout) {
  (void)rank; (void)number; (void)trial_dir; (void)timeout;
  return ps_error(PS_ERR_UNSUPPORTED, "built without MPI");
}
bool ps_mpi_poll(ps_mpi_msg *m) { memset(m, 0, sizeof *m); return false; }
void ps_mpi_driver_stop(void) {}
ps_status ps_mpi_worker_main(void) { return ps_error(PS_ERR_UNSUPPORTED, "built without MPI"); }
void ps_mpi_announce_study(const char *study_dir) { (void)study_dir; }
#endif
