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

ps_status ps_trial_collect(const char *trial_dir, int wait_status, ps_trial_outcome *out) {
  memset(out, 0, sizeof *out);
  out->state = PS_TRIAL_FAIL;
  char *path = ps_path_join(trial_dir, "result.json");
  cJSON *r = NULL;
  if (ps_path_exists(path) && ps_json_read(path, &r) == PS_OK) {
    ps_trial_state s;
    if (!ps_trial_state_parse(ps_json_str(r, "state", ""), &s)) s = PS_TRIAL_FAIL;
    out->state = s;
    out->value = ps_json_num(r, "value", 0);
    out->seconds = ps_json_num(r, "seconds", 0);
    out->fields = r;
  } else {
    out->fields = cJSON_CreateObject();
    char reason[256];
    if (WIFSIGNALED(wait_status)) snprintf(reason, sizeof reason, "trial process killed by signal %d (%s)", WTERMSIG(wait_status), strsignal(WTERMSIG(wait_status)));
    else snprintf(reason, sizeof reason, "trial process exited with code %d without a result", WEXITSTATUS(wait_status));
    cJSON_AddStringToObject(out->fields, "reason", reason);
  }
  free(path);
  return PS_OK;
}
