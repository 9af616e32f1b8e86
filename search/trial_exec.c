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

static char *exe_path(void) {
  const char *env = getenv("PROXYSEG_EXE");
  if (env && *env) return ps_strdup(env);
  char buf[4096];
  ssize_t k = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (k <= 0) return NULL;
  buf[k] = 0;
  return ps_strdup(buf);
}

ps_status ps_trial_spawn(const char *trial_dir, pid_t *pid) {
  char *exe = exe_path();
  char *err_path = ps_path_join(trial_dir, "stderr.txt");
  if (!exe || !err_path) { free(exe); free(err_path); return ps_error(PS_ERR_RUNTIME, "cannot find the proxyseg executable (set PROXYSEG_EXE)"); }
  pid_t parent = getpid();
  pid_t p = fork();
  if (p < 0) {
    free(exe); free(err_path);
    return ps_error(PS_ERR_RUNTIME, "fork: %s", strerror(errno));
  }
  if (p == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127); /* the parent died before prctl took effect */
    int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { dup2(fd, 2); close(fd); }
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); close(devnull); }
    execl(exe, "proxyseg", "trial-run", "--dir", trial_dir, (char *)NULL);
    _exit(127);
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
