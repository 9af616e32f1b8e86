/* Core: errors, JSON dotted keys, atomic writes, journal appends, RNG determinism. */
#include "proxyseg/json.h"
#include "testutil.h"
#include <errno.h>
#include <unistd.h>
#include <sys/wait.h>
#include <string.h>

int main(void) {
  /* errors and exit codes */
  ps_status st = ps_error(PS_ERR_DATA, "%s: truncated", "x.nii");
  CHECK(st == PS_ERR_DATA && strcmp(ps_last_error(), "x.nii: truncated") == 0, "%s", ps_last_error());
  ps_error_prefix(st, "case 3");
  CHECK(strcmp(ps_last_error(), "case 3: x.nii: truncated") == 0, "%s", ps_last_error());
  CHECK(ps_status_exit_code(PS_ERR_DATA) == 3 && ps_status_exit_code(PS_ERR_INVALID) == 2 &&
        ps_status_exit_code(PS_ERR_IO) == 1 && ps_status_exit_code(PS_OK) == 0, "exit codes");
  /* an I/O error is the machine's unless errno names the path (a trial that
   * cannot read its input FAILs; one that meets a full disk stays re-runnable) */
  errno = ENOSPC;
  ps_error(PS_ERR_IO, "x: write failed");
  CHECK(ps_error_machine(), "ENOSPC is the machine's");
  errno = EACCES;
  ps_error(PS_ERR_IO, "x: cannot open");
  CHECK(!ps_error_machine(), "EACCES is the input's");
  ps_error_prefix(PS_ERR_IO, "case 1");
  CHECK(!ps_error_machine(), "a prefix keeps the cause");
  errno = 0;
  ps_error(PS_ERR_IO, "x: short read");
  CHECK(ps_error_machine(), "no errno: the machine's, so the trial stays re-runnable");
  errno = ENOSPC;
  ps_error(PS_ERR_DATA, "x: bad");
  CHECK(!ps_error_machine(), "only I/O errors can be the machine's");

  /* JSON dotted keys */
  cJSON *j = cJSON_CreateObject();
  CHECK_OK(ps_json_set_from_string(j, "net.stages", "4"));
  CHECK_OK(ps_json_set_from_string(j, "optimizer", "adam"));
  CHECK_OK(ps_json_set_from_string(j, "aug.gamma.p", "0.3"));
  CHECK(ps_json_int(j, "net.stages", 0) == 4, "net.stages");
  CHECK(strcmp(ps_json_str(j, "optimizer", ""), "adam") == 0, "optimizer");
  CHECK_NEAR(ps_json_num(j, "aug.gamma.p", 0), 0.3, 1e-12);
  CHECK_NEAR(ps_json_num(j, "missing.key", 7.5), 7.5, 0);
  CHECK(ps_json_set_from_string(j, "optimizer.x", "1") == PS_ERR_INVALID, "setting into a string must fail");

  /* atomic write + read back; no temp file left behind */
  char *dir = ps_test_tmpdir("core");
  char *p = ps_path_join(dir, "a.json");
  CHECK_OK(ps_json_write(p, j));
  cJSON *r = NULL;
  CHECK_OK(ps_json_read(p, &r));
  CHECK(r && ps_json_int(r, "net.stages", 0) == 4, "round trip");
  CHECK(ps_test_sh("ls %s | grep -c tmp >/dev/null", dir) != 0, "temp file left behind");
  ps_write_file_atomic(p, "{\"a\": [1, 2,", 12);
  cJSON *bad = NULL;
  st = ps_json_read(p, &bad);
  CHECK(st == PS_ERR_DATA && strstr(ps_last_error(), "a.json"), "bad JSON names the file: %s", ps_last_error());
  /* abort leaves the old file untouched */
  ps_atomic_file *a;
  FILE *fp;
  CHECK_OK(ps_atomic_open(p, &a, &fp));
  fputs("garbage", fp);
  ps_atomic_abort(a);
  char *data;
  size_t n;
  CHECK_OK(ps_read_file(p, 0, &data, &n));
  CHECK(n == 12 && memcmp(data, "{\"a\": [1, 2,", 12) == 0, "abort changed the file");
  free(data);
  CHECK(ps_read_file(p, 4, &data, &n) == PS_ERR_DATA, "max_bytes guard");

  /* a temp file of a killed writer (this host, pid gone) is removed by the next
   * write into its folder; a live writer's and another host's are kept */
  {
    char *sd = ps_path_join(dir, "stale");
    CHECK_OK(ps_mkdir_p(sd));
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    for (char *c = host; *c; c++)
      if (*c == '.' || *c == '/') *c = '_';
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0); /* its pid is now free */
    CHECK(ps_test_sh("touch %s/ck.h5.tmp.%s.%ld %s/ck.h5.tmp.%s.%ld %s/ck.h5.tmp.otherhost.%ld", sd, host, (long)child,
                     sd, host, (long)getppid(), sd, (long)child) == 0, "touch");
    char *q = ps_path_join(sd, "b.json");
    CHECK_OK(ps_json_write(q, j));
    CHECK(ps_test_sh("test ! -e %s/ck.h5.tmp.%s.%ld", sd, host, (long)child) == 0, "stale temp of a dead writer kept");
    CHECK(ps_test_sh("test -e %s/ck.h5.tmp.%s.%ld", sd, host, (long)getppid()) == 0, "a live writer's temp removed");
    CHECK(ps_test_sh("test -e %s/ck.h5.tmp.otherhost.%ld", sd, (long)child) == 0, "another host's temp removed");
    free(q);
    free(sd);
  }

  /* journal append */
  char *jl = ps_path_join(dir, "j.jsonl");
  CHECK_OK(ps_append_line_fsync(jl, "{\"t\":1}"));
  CHECK_OK(ps_append_line_fsync(jl, "{\"t\":2}"));
  CHECK_OK(ps_read_file(jl, 0, &data, &n));
  CHECK(strcmp(data, "{\"t\":1}\n{\"t\":2}\n") == 0, "journal content %s", data);
  free(data);

  /* RNG: same seed same stream; state save/restore replays */
  ps_rng *r1 = ps_rng_create(42), *r2 = ps_rng_create(42), *r3 = ps_rng_create(43);
  double a1 = ps_rng_uniform(r1), a2 = ps_rng_uniform(r2), a3 = ps_rng_uniform(r3);
  CHECK(a1 == a2 && a1 != a3, "seeding");
  size_t sz = ps_rng_state_size(r1);
  void *buf = malloc(sz);
  ps_rng_state_save(r1, buf);
  double x1 = ps_rng_normal(r1, 1.0);
  CHECK_OK(ps_rng_state_load(r2, buf, sz));
  CHECK(ps_rng_normal(r2, 1.0) == x1, "state restore");
  free(buf);
  ps_rng_free(r1); ps_rng_free(r2); ps_rng_free(r3);
  ps_rng_free(NULL);

  cJSON_Delete(j); cJSON_Delete(r);
  free(p); free(jl); free(dir);
  return ps_test_done("test_core");
}
