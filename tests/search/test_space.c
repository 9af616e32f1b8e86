/* Search spaces: loading valid and invalid space files (errors name the file
 * and the param), x ↔ value round trips (linear, log, int bins, categorical),
 * apply into a dotted config, and the shipped example spaces (the lr+aug
 * space's configs must be accepted by the trainer's augmentation parser). */
#include "proxyseg/augment.h"
#include "proxyseg/search.h"
#include "testutil.h"
#include <string.h>

static char *tmp;

static ps_status load_text(const char *name, const char *txt, ps_space **s) {
  char *path = ps_path_join(tmp, name);
  ps_write_file_atomic(path, txt, strlen(txt));
  ps_status st = ps_space_load(path, s);
  free(path);
  return st;
}

static void expect_error(const char *name, const char *txt, const char *needle) {
  ps_space *s = NULL;
  ps_status st = load_text(name, txt, &s);
  CHECK(st == PS_ERR_DATA && s == NULL, "%s: accepted (status %s)", name, ps_status_name(st));
  const char *msg = ps_last_error();
  CHECK(strstr(msg, name) != NULL, "%s: message does not name the file: %s", name, msg);
  CHECK(strstr(msg, needle) != NULL, "%s: message lacks '%s': %s", name, needle, msg);
  fprintf(stderr, "expected error: %s\n", msg);
  ps_space_free(s);
}

static void test_invalid(void) {
  expect_error("bad_type.json", "{\"params\": [{\"key\": \"lr\", \"type\": \"double\", \"low\": 0, \"high\": 1}]}", "'lr'");
  expect_error("bad_type2.json", "{\"params\": [{\"key\": \"lr\", \"type\": \"double\", \"low\": 0, \"high\": 1}]}", "unknown type");
  expect_error("low_high.json", "{\"params\": [{\"key\": \"wd\", \"type\": \"float\", \"low\": 2, \"high\": 1}]}", "'wd'");
  expect_error("bad_log.json", "{\"params\": [{\"key\": \"lr\", \"type\": \"float\", \"low\": 0, \"high\": 1, \"log\": true}]}", "log");
  expect_error("empty_choices.json", "{\"params\": [{\"key\": \"opt\", \"type\": \"categorical\", \"choices\": []}]}", "'opt'");
  expect_error("dup.json",
               "{\"params\": [{\"key\": \"a\", \"type\": \"float\", \"low\": 0, \"high\": 1},"
               "{\"key\": \"a\", \"type\": \"int\", \"low\": 0, \"high\": 3}]}", "twice");
  expect_error("no_key.json", "{\"params\": [{\"type\": \"float\", \"low\": 0, \"high\": 1}]}", "key");
  expect_error("no_params.json", "{\"p\": []}", "params");
  expect_error("empty.json", "{\"params\": []}", "empty");
  expect_error("int_frac.json", "{\"params\": [{\"key\": \"n\", \"type\": \"int\", \"low\": 0.5, \"high\": 3}]}", "'n'");
  ps_space *s = NULL;
  CHECK(ps_space_load("does/not/exist.json", &s) != PS_OK && !s, "missing file accepted");
}

static void test_mapping(void) {
  ps_space *s = NULL;
  CHECK_OK(load_text("ok.json",
                     "{\"params\": [{\"key\": \"lr\", \"type\": \"float\", \"low\": 1e-4, \"high\": 1e-1, \"log\": true},"
                     "{\"key\": \"net.stages\", \"type\": \"int\", \"low\": 3, \"high\": 5},"
                     "{\"key\": \"optimizer\", \"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\", 3]},"
                     "{\"key\": \"wd\", \"type\": \"float\", \"low\": -1, \"high\": 1},"
                     "{\"key\": \"bs\", \"type\": \"int\", \"low\": 1, \"high\": 64, \"log\": true}]}",
                     &s));
  if (!s) return;
  CHECK(s->n == 5, "n = %d", s->n);
  /* log scale: the midpoint is the geometric mean, ends are the bounds */
  cJSON *v = ps_space_value(s, 0, 0.5);
  CHECK_NEAR(v->valuedouble, sqrt(1e-4 * 1e-1), 1e-12);
  cJSON_Delete(v);
  v = ps_space_value(s, 0, 0.0);
  CHECK_NEAR(v->valuedouble, 1e-4, 1e-15);
  cJSON_Delete(v);
  v = ps_space_value(s, 0, 1.5); /* clamped */
  CHECK_NEAR(v->valuedouble, 1e-1, 1e-15);
  cJSON_Delete(v);
  for (double x = 0.0; x <= 1.0; x += 0.05) {
    v = ps_space_value(s, 0, x);
    CHECK_NEAR(ps_space_unit(s, 0, v), x, 1e-12);
    cJSON_Delete(v);
    v = ps_space_value(s, 3, x);
    CHECK_NEAR(v->valuedouble, -1 + 2 * x, 1e-12);
    CHECK_NEAR(ps_space_unit(s, 3, v), x, 1e-12);
    cJSON_Delete(v);
  }
  /* int: three equal bins, integer values; unit() gives the bin centre, value(unit(v)) = v */
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 300; i++) {
    v = ps_space_value(s, 1, (i + 0.5) / 300);
    CHECK(v->valuedouble == floor(v->valuedouble) && v->valuedouble >= 3 && v->valuedouble <= 5, "int value %g", v->valuedouble);
    counts[(int)v->valuedouble - 3]++;
    cJSON *back = ps_space_value(s, 1, ps_space_unit(s, 1, v));
    CHECK(cJSON_Compare(v, back, true), "int round trip %g -> %g", v->valuedouble, back->valuedouble);
    cJSON_Delete(back);
    cJSON_Delete(v);
  }
  CHECK(counts[0] == 100 && counts[1] == 100 && counts[2] == 100, "int bins %d %d %d", counts[0], counts[1], counts[2]);
  v = ps_space_value(s, 1, 1.0);
  CHECK(v->valuedouble == 5, "x=1 -> %g", v->valuedouble);
  cJSON_Delete(v);
  /* log int: rounded, round trip through unit() */
  for (int b = 1; b <= 64; b *= 2) {
    cJSON *n = cJSON_CreateNumber(b);
    v = ps_space_value(s, 4, ps_space_unit(s, 4, n));
    CHECK(v->valuedouble == b, "log int %d -> %g", b, v->valuedouble);
    cJSON_Delete(v);
    cJSON_Delete(n);
  }
  /* categorical: floor(x*n), unit() is the bin centre, non-string choices work */
  const char *want[3] = {"sgd", "adam", NULL};
  for (int c = 0; c < 3; c++) {
    v = ps_space_value(s, 2, (c + 0.99) / 3);
    if (c < 2) CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, want[c]), "choice %d", c);
    else CHECK(cJSON_IsNumber(v) && v->valuedouble == 3, "choice 2");
    CHECK_NEAR(ps_space_unit(s, 2, v), (c + 0.5) / 3, 1e-12);
    cJSON_Delete(v);
  }
  cJSON *unknown = cJSON_CreateString("lion");
  CHECK(isnan(ps_space_unit(s, 2, unknown)), "unknown choice mapped");
  CHECK(strstr(ps_last_error(), "optimizer") != NULL, "error does not name the param: %s", ps_last_error());
  cJSON_Delete(unknown);
  /* apply: dotted keys into a config, existing keys replaced */
  cJSON *cfg = cJSON_Parse("{\"net\": {\"stages\": 4, \"norm\": \"instance\"}, \"wd\": 7}");
  double x[5] = {1.0, 0.0, 0.5, 0.75, 0.0};
  CHECK_OK(ps_space_apply(s, x, cfg));
  CHECK_NEAR(ps_json_num(cfg, "lr", 0), 0.1, 1e-15);
  CHECK(ps_json_int(cfg, "net.stages", 0) == 3, "net.stages %d", ps_json_int(cfg, "net.stages", 0));
  CHECK(!strcmp(ps_json_str(cfg, "net.norm", ""), "instance"), "apply removed a sibling key");
  CHECK(!strcmp(ps_json_str(cfg, "optimizer", ""), "adam"), "optimizer");
  CHECK_NEAR(ps_json_num(cfg, "wd", 0), 0.5, 1e-12);
  cJSON_Delete(cfg);
  /* to_json → from_json gives the same space */
  cJSON *j = ps_space_to_json(s);
  ps_space *s2 = NULL;
  CHECK_OK(ps_space_from_json(j, "round trip", &s2));
  if (s2) {
    cJSON *j2 = ps_space_to_json(s2);
    CHECK(cJSON_Compare(j, j2, true), "to_json round trip differs");
    cJSON_Delete(j2);
  }
  cJSON_Delete(j);
  ps_space_free(s2);
  ps_space_free(s);
  ps_space_free(NULL);
}

static void test_shipped(void) {
  char root[4096];
  snprintf(root, sizeof root, "%s", __FILE__);
  char *cut = strstr(root, "tests/search/");
  if (!cut) PS_SKIP("cannot locate the source tree from %s", __FILE__);
  if (cut == root) snprintf(root, sizeof root, "."); /* relative __FILE__: run from the source root */
  else cut[-1] = 0;
  const char *names[3] = {"lr_aug.json", "arch.json", "lr_only.json"};
  const int dims[3] = {41, 4, 1};
  for (int i = 0; i < 3; i++) {
    char *path = ps_strfmt("%s/search/spaces/%s", root, names[i]);
    ps_space *s = NULL;
    CHECK_OK(ps_space_load(path, &s));
    CHECK(s && s->n == dims[i], "%s: %d params", names[i], s ? s->n : -1);
    if (s && i == 0) {
      /* every point of the lr+aug space is a valid augmentation policy for the trainer */
      ps_rng *r = ps_rng_create(3);
      double x[64];
      for (int t = 0; t < 200; t++) {
        for (int k = 0; k < s->n; k++) x[k] = t < 2 ? (double)t : ps_rng_uniform(r);
        cJSON *cfg = cJSON_CreateObject();
        CHECK_OK(ps_space_apply(s, x, cfg));
        ps_aug_policy pol = ps_aug_policy_default();
        CHECK_OK(ps_aug_policy_from_json(cJSON_GetObjectItem(cfg, "aug"), &pol));
        cJSON_Delete(cfg);
      }
      ps_rng_free(r);
    }
    ps_space_free(s);
    free(path);
  }
}

int main(void) {
  tmp = ps_test_tmpdir("space");
  test_invalid();
  test_mapping();
  test_shipped();
  free(tmp);
  return ps_test_done("test_space");
}
