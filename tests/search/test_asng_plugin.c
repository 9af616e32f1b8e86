/* The ASNG trainer plugin on tiny in-memory cases: theta.jsonl (a line per
 * update, 18 rows of 11 probabilities), policy.json usable as a training
 * config and equal to argmax theta, the level → policy map at both ends, and
 * a kill -9 in mid-epoch followed by a resume ending with the same theta log,
 * policy and bit-identical weights as an uninterrupted run. */
#include "../../search/asng_plugin.h"
#include "proxyseg/search.h"
#include "../train/tiny_cases.h"
#include "testutil.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCASES TINY_NCASES
static ps_case cases[NCASES];

static ps_status killer_before(void *st, ps_train_ctx *c) {
  (void)st;
  if (c->epoch == 2 && c->iter == 1) raise(SIGKILL);
  return PS_OK;
}
static const ps_train_plugin killer_plugin = {.name = "killer", .before_step = killer_before};

static ps_status run(const char *dir, bool kill, bool resume, ps_train_result *res) {
  cJSON *cfg = tiny_config("adam", 3, 3);
  ps_train_plugin_use pl[] = {{&ps_asng_plugin, NULL}, {&killer_plugin, NULL}};
  ps_status st = tiny_run(cases, cfg, dir, pl, kill ? 2 : 1, resume, res);
  cJSON_Delete(cfg);
  return st;
}

static char *slurp(const char *dir, const char *name) {
  char *p = ps_path_join(dir, name), *d = NULL;
  size_t n;
  if (ps_read_file(p, 0, &d, &n)) d = NULL;
  free(p);
  return d;
}

static void test_policy_map(void) {
  int lo[18], hi[18];
  for (int i = 0; i < 18; i++) lo[i] = 0, hi[i] = 10;
  ps_aug_policy a, b;
  ps_asng_policy_of(lo, 11, &a);
  ps_asng_policy_of(hi, 11, &b);
  const double r30 = 30 * M_PI / 180;
  CHECK(a.scale.lo == 0.5 && a.scale.hi == 1.0 && b.scale.lo == 1.0 && b.scale.hi == 1.5, "scale bounds at levels 0 and 10");
  CHECK(fabs(a.rot_x.lo + r30) < 1e-12 && a.rot_x.hi == 0 && fabs(b.rot_z.hi - r30) < 1e-12, "rotation -30..0 / 0..30 degrees in radians");
  CHECK(a.elastic_alpha.hi == 450 && b.elastic_alpha.hi == 900 && b.elastic_sigma.hi == 14, "elastic alpha/sigma in batchgenerators units");
  CHECK(a.gamma.lo == 0.5 && b.gamma.hi == 1.5, "gamma bounds");
  CHECK(a.scale.p == 0 && a.rot_y.p == 0 && a.elastic_alpha.p == 0 && a.gamma.p == 0 && b.scale.p == 1 && b.rot_y.p == 1 &&
            b.elastic_alpha.p == 1 && b.gamma.p == 1, "probabilities 0 and 1 at the ends");
  CHECK(a.noise.p == 0 && a.contrast.p == 0 && a.mirror_p[0] == 0.5, "only the paper's transforms: mirror 0.5, the rest off");
  int mid[18];
  for (int i = 0; i < 18; i++) mid[i] = 3;
  ps_asng_policy_of(mid, 11, &a);
  CHECK_NEAR(a.scale.p, 0.3, 1e-12);
  CHECK_NEAR(a.elastic_sigma.lo, 2.1, 1e-12);
}

/* search/spaces/asng.json (what study.json records) holds the plugin's levels */
static void test_space_file(void) {
  ps_space *sp = NULL;
  CHECK_OK(ps_space_load(PS_ASNG_SPACE, &sp));
  if (!sp) return;
  CHECK(sp->n == ps_asng_space_size(), "the space file has %d variables", sp->n);
  bool same = sp->n == ps_asng_space_size();
  for (int i = 0; same && i < sp->n; i++)
    for (int k = 0; k < 11; k++) {
      int c[18];
      for (int j = 0; j < 18; j++) c[j] = 5;
      c[i] = k;
      cJSON *cfg = ps_asng_policy_config(c, 11), *v = ps_space_value(sp, i, (k + 0.5) / 11);
      double want = ps_json_num(cfg, sp->params[i].key, NAN);
      if (!(fabs(want - v->valuedouble) < 1e-9)) {
        same = false;
        fprintf(stderr, "%s level %d: space %g, plugin %g\n", sp->params[i].key, k, v->valuedouble, want);
      }
      cJSON_Delete(v);
      cJSON_Delete(cfg);
    }
  CHECK(same, "every level of search/spaces/asng.json is the plugin's value for that key");
  ps_space_free(sp);
}

static void test_run_and_resume(void) {
  char *a = ps_test_tmpdir("asng_a"), *b = ps_test_tmpdir("asng_b");
  ps_train_result ra, rb;
  CHECK_OK(run(a, false, false, &ra));
  char *log_a = slurp(a, "theta.jsonl");
  int lines = 0;
  cJSON *last = NULL;
  for (char *q = log_a; q && *q;) {
    char *e = strchr(q, '\n');
    if (!e) break;
    *e = 0;
    cJSON_Delete(last);
    last = cJSON_Parse(q);
    *e = '\n';
    lines++;
    q = e + 1;
  }
  CHECK(lines == 9, "theta.jsonl: one line per update (3 epochs x 3 steps): %d", lines);
  const cJSON *th = cJSON_GetObjectItemCaseSensitive(last, "theta");
  bool rows_ok = cJSON_GetArraySize(th) == 18;
  int argmax[18];
  for (int i = 0; rows_ok && i < 18; i++) {
    const cJSON *row = cJSON_GetArrayItem(th, i);
    double sum = 0, best = -1;
    rows_ok &= cJSON_GetArraySize(row) == 11;
    for (int k = 0; k < 11; k++) {
      double v = cJSON_GetArrayItem(row, k)->valuedouble;
      sum += v;
      if (v > best) best = v, argmax[i] = k;
    }
    rows_ok &= fabs(sum - 1) < 1e-9;
  }
  CHECK(rows_ok, "the last theta has 18 rows of 11 probabilities summing to 1");
  CHECK(ps_json_num(last, "iteration", 0) == 9 && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(last, "delta")),
        "each line carries iteration and step size");
  /* policy.json is a training config; asng.json's levels are argmax theta */
  char *pp = ps_path_join(a, "policy.json"), *ip = ps_path_join(a, "asng.json");
  cJSON *cfg = NULL, *info = NULL;
  CHECK_OK(ps_train_config_resolve(pp, NULL, 0, &cfg));
  CHECK(cfg && ps_train_config_validate(cfg) == PS_OK, "policy.json validates as a training config: %s", ps_last_error());
  CHECK_OK(ps_json_read(ip, &info));
  const cJSON *lv = cJSON_GetObjectItemCaseSensitive(info, "levels");
  bool same = rows_ok && lv;
  for (int i = 0; same && i < 18; i++) same &= ps_json_int(lv, ps_asng_space_name(i), -1) == argmax[i];
  CHECK(same, "the final policy is argmax theta");
  int lev[18];
  for (int i = 0; i < 18; i++) lev[i] = ps_json_int(lv, ps_asng_space_name(i), 0);
  cJSON *expect = ps_asng_policy_config(lev, 11);
  cJSON *pol_a = NULL;
  ps_json_read(pp, &pol_a);
  CHECK(pol_a && cJSON_Compare(pol_a, expect, 1), "policy.json holds the argmax policy's keys");
  cJSON_Delete(expect);
  cJSON_Delete(pol_a);
  cJSON_Delete(cfg);
  cJSON_Delete(info);
  free(pp);
  free(ip);
  cJSON_Delete(last);

  pid_t pid = fork();
  if (pid == 0) {
    execl("/proc/self/exe", "test_asng_plugin", "killed-run", b, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the ASNG run was killed in epoch 2");
  CHECK_OK(run(b, false, true, &rb));
  char *log_b = slurp(b, "theta.jsonl"), *pa = slurp(a, "policy.json"), *pb = slurp(b, "policy.json");
  CHECK(log_a && log_b && !strcmp(log_a, log_b), "theta.jsonl after kill + resume equals the uninterrupted run's");
  CHECK(pa && pb && !strcmp(pa, pb), "same policy.json");
  size_t na = 0, nb = 0;
  float *wa = tiny_final_params(a, &na), *wb = tiny_final_params(b, &nb);
  CHECK(wa && wb && na == nb && !memcmp(wa, wb, na * sizeof(float)), "bit-identical weights after kill + resume");
  free(wa); free(wb); free(log_a); free(log_b); free(pa); free(pb);
  ps_train_result_free(&ra);
  ps_train_result_free(&rb);
  free(a);
  free(b);
}

int main(int argc, char **argv) {
  ps_threads_set(1);
  ps_log_set_level(PS_LOG_WARN);
  tiny_cases_make(cases, NCASES, 11);
  if (argc == 3 && !strcmp(argv[1], "killed-run")) {
    ps_train_result r;
    run(argv[2], true, false, &r);
    return 3; /* not reached */
  }
  test_policy_map();
  test_space_file();
  test_run_and_resume();
  tiny_cases_free(cases, NCASES);
  return ps_test_done("test_asng_plugin");
}
