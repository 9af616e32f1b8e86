/* Trials run in child processes: a crash, an abort or a runaway allocation in
 * one configuration fails that trial, never the study. The child re-executes
 * proxyseg (`proxyseg trial-run --dir TRIAL_DIR`), dies with its parent
 * (PR_SET_PDEATHSIG), and reports through TRIAL_DIR/result.json. */
#include "trial_exec.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Our own executable, opened once: a binary replaced on disk during a long
 * study (a rebuild, an upgrade) must not make every later trial fail, so the
 * children run the very file this process started from (fexecve on the fd). */
static int self_exe_fd(void) {
  static int fd = -2;
  if (fd == -2) fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  return fd;
}

ps_status ps_trial_spawn(const char *trial_dir, pid_t *pid) {
  const char *env = getenv("PROXYSEG_EXE"); /* the test programs are not proxyseg: they name it */
  char *exe = env && *env ? ps_strdup(env) : NULL;
  int exe_fd = exe ? -1 : self_exe_fd();
  char *err_path = ps_path_join(trial_dir, "stderr.txt");
  if ((!exe && exe_fd < 0) || !err_path) {
    free(exe);
    free(err_path);
    return ps_error(PS_ERR_RUNTIME, "cannot find the proxyseg executable (set PROXYSEG_EXE)");
  }
  pid_t parent = getpid();
  pid_t p = fork();
  if (p < 0) {
    free(exe); free(err_path);
    return ps_error(PS_ERR_RUNTIME, "fork: %s", strerror(errno));
  }
  if (p == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0); /* the parent died before prctl took effect: nobody waits */
    int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err_fd >= 0) { dup2(err_fd, 2); close(err_fd); }
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); close(devnull); }
    char *args[] = {"proxyseg", "trial-run", "--dir", (char *)trial_dir, NULL};
    extern char **environ;
    if (exe) execv(exe, args);
    else fexecve(exe_fd, args, environ);
    _exit(PS_TRIAL_EXEC_FAILED);
  }
  free(exe);
  free(err_path);
  *pid = p;
  return PS_OK;
}

bool ps_trial_poll(pid_t pid, double deadline, int *wait_status, bool *timed_out) {
  pid_t r;
  do r = waitpid(pid, wait_status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == pid) return true;
  if (r < 0) { /* not our child any more (reaped elsewhere): report it as lost */
    *wait_status = 1 << 8; /* "exited with code 1 without a result" */
    return true;
  }
  if (deadline > 0 && ps_now() >= deadline) {
    kill(pid, SIGKILL);
    while (waitpid(pid, wait_status, 0) < 0 && errno == EINTR) {}
    *timed_out = true;
    return true;
  }
  return false;
}

void ps_trial_outcome_make(cJSON *r, int wait_status, double timeout, ps_trial_outcome *out) {
  memset(out, 0, sizeof *out);
  out->state = PS_TRIAL_FAIL;
  if (r && timeout <= 0) {
    ps_trial_state s;
    if (!ps_trial_state_parse(ps_json_str(r, "state", ""), &s) || s == PS_TRIAL_RUNNING) s = PS_TRIAL_FAIL;
    out->state = s;
    out->value = ps_json_num(r, "value", 0);
    out->seconds = ps_json_num(r, "seconds", 0);
    out->fields = r;
    return;
  }
  cJSON_Delete(r);
  out->fields = cJSON_CreateObject();
  char reason[256];
  if (timeout > 0) {
    snprintf(reason, sizeof reason, "trial_timeout: still running after %g s, killed", timeout);
    out->seconds = timeout;
  } else if (WIFSIGNALED(wait_status))
    snprintf(reason, sizeof reason, "trial process killed by signal %d (%s)", WTERMSIG(wait_status), strsignal(WTERMSIG(wait_status)));
  else snprintf(reason, sizeof reason, "trial process exited with code %d without a result", WEXITSTATUS(wait_status));
  cJSON_AddStringToObject(out->fields, "reason", reason);
}

void ps_trial_collect(const char *trial_dir, int wait_status, double timeout, ps_trial_outcome *out) {
  char *path = ps_path_join(trial_dir, "result.json");
  cJSON *r = NULL;
  if (!ps_path_exists(path) || ps_json_read(path, &r) != PS_OK) r = NULL;
  free(path);
  ps_trial_outcome_make(r, wait_status, timeout, out);
}

ps_status ps_trial_run_blocking(const char *trial_dir, double timeout, bool (*tick)(void *), void *ud,
                                int *wait_status, bool *timed_out) {
  pid_t pid;
  *timed_out = false;
  ps_status st = ps_trial_spawn(trial_dir, &pid);
  if (st) return st;
  double deadline = timeout > 0 ? ps_now() + timeout : 0;
  while (!ps_trial_poll(pid, deadline, wait_status, timed_out)) {
    if (tick && !tick(ud)) {
      kill(pid, SIGKILL);
      while (waitpid(pid, wait_status, 0) < 0 && errno == EINTR) {}
      return ps_error(PS_ERR_INTERRUPTED, "%s: stopped: the driver is gone", trial_dir);
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return PS_OK;
}
