/* Proxy-data scoring and subset selection on synthetic cases: 9 near-duplicate
 * blobs (small noise, shifted by a voxel) and 3 outliers with other texture and
 * shape. Every method must return a valid subset of the requested size; the
 * similarity methods must find the outliers, k-center must pick them early. */
#include "testutil.h"
#include "proxyseg/json.h"
#include "proxyseg/proxy.h"
#include <string.h>

enum { NDUP = 9, NOUT = 3, NC = NDUP + NOUT };

static void make_case(ps_case *c, int idx, ps_rng *r) {
  memset(c, 0, sizeof *c);
  int outlier = idx >= NDUP;
  int64_t D = outlier ? 20 : 24, H = outlier ? 28 : 24, W = outlier ? 32 : 24;
  ps_volume_alloc(&c->image, 1, D, H, W);
  ps_labelmap_alloc(&c->label, D, H, W);
  char id[32];
  snprintf(id, sizeof id, "%s_%03d", outlier ? "odd" : "blob", idx);
  c->id = ps_strdup(id);
  double cz = D / 2.0 + (outlier ? 0 : (idx % 3) - 1), cy = H / 2.0 + (outlier ? 0 : (idx / 3) % 3 - 1), cx = W / 2.0;
  for (int64_t z = 0; z < D; z++)
    for (int64_t y = 0; y < H; y++)
      for (int64_t x = 0; x < W; x++) {
        int64_t i = (z * H + y) * W + x;
        double dz = z - cz, dy = y - cy, dx = x - cx, rr = sqrt(dz * dz + dy * dy + dx * dx);
        double v = 0;
        int lab = 0;
        switch (outlier ? idx - NDUP : -1) {
        case -1: /* smooth bright blob */
          v = exp(-rr * rr / (2 * 4.0 * 4.0));
          lab = rr < 6;
          v += ps_rng_normal(r, 0.03);
          break;
        case 0: /* elongated bar with stripes */
          lab = fabs(dz) < 3 && fabs(dy) < 3 && fabs(dx) < 12;
          v = lab ? sin(x * 1.3) : 0;
          v += ps_rng_normal(r, 0.03);
          break;
        case 1: /* pure noise texture */
          lab = rr < 7;
          v = ps_rng_normal(r, 1.0);
          break;
        default: /* concentric rings, two lobes */
          lab = rr < 8 && fabs(dz) > 1;
          v = cos(rr * 1.7) + ps_rng_normal(r, 0.03);
          break;
        }
        c->image.data[i] = (float)v;
        c->label.data[i] = (uint8_t)lab;
      }
}

static int is_outlier(int i) { return i >= NDUP; }

static void check_subset(const ps_case *cases, const char *method, const char *keep, double fraction,
                         int count, int expect) {
  ps_proxy_data_opts o;
  ps_proxy_data_opts_default(&o);
  o.method = method; o.keep = keep; o.fraction = fraction; o.count = count; o.seed = 5;
  cJSON *r = NULL;
  uint8_t mask[NC];
  CHECK_OK(ps_proxy_select_mask(cases, NC, &o, &r, mask));
  if (!r) return;
  CHECK(ps_proxy_subset_size(&o, NC) == expect, "%s size %d", method, ps_proxy_subset_size(&o, NC));
  const cJSON *kept = ps_json_path(r, "kept"), *cs = ps_json_path(r, "cases");
  CHECK(cJSON_GetArraySize(kept) == expect, "%s/%s f=%g c=%d: kept %d, want %d", method, keep, fraction,
        count, cJSON_GetArraySize(kept), expect);
  CHECK(ps_json_int(r, "count", -1) == expect, "count field");
  CHECK_NEAR(ps_json_num(r, "kept_fraction", -1), (double)expect / NC, 1e-12);
  if (count <= 0) CHECK_NEAR(ps_json_num(r, "fraction", -1), fraction, 1e-12);
  CHECK(strcmp(ps_json_str(r, "method", ""), method) == 0, "method recorded");
  CHECK(cJSON_GetArraySize(cs) == NC, "all cases listed");
  int seen[NC] = {0}, nk = 0, nmask = 0;
  const cJSON *c;
  int i = 0;
  cJSON_ArrayForEach(c, cs) {
    int rk = ps_json_int(c, "rank", -1);
    CHECK(rk >= 0 && rk < NC, "rank %d", rk);
    if (rk >= 0 && rk < NC) seen[rk]++;
    int k = ps_json_bool(c, "kept", false);
    nk += k;
    CHECK(k == (rk < expect), "kept iff rank < count");
    CHECK(strcmp(ps_json_str(c, "id", ""), cases[i].id) == 0, "ids in input order");
    nmask += mask[i];
    CHECK(mask[i] == k, "mask agrees with JSON");
    i++;
  }
  for (int k = 0; k < NC; k++) CHECK(seen[k] == 1, "%s: rank %d used %d times", method, k, seen[k]);
  CHECK(nk == expect && nmask == expect, "kept flags %d, mask %d", nk, nmask);
  /* kept ids are distinct */
  for (int a = 0; a < cJSON_GetArraySize(kept); a++)
    for (int b = a + 1; b < cJSON_GetArraySize(kept); b++)
      CHECK(strcmp(cJSON_GetArrayItem(kept, a)->valuestring, cJSON_GetArrayItem(kept, b)->valuestring) != 0,
            "duplicate kept id");
  cJSON_Delete(r);
}

static void check_outlier_ranks(const ps_case *cases, const char *method, const char *keep, int first) {
  double sc[NC];
  int rk[NC];
  CHECK_OK(ps_proxy_score_cases(cases, NC, method, keep, 0, 2, sc, rk));
  fprintf(stderr, "%-7s %-7s", method, keep ? keep : "-");
  for (int i = 0; i < NC; i++) fprintf(stderr, " %.3f/%d", sc[i], rk[i]);
  fprintf(stderr, "\n");
  for (int i = NDUP; i < NC; i++) {
    int want = first ? rk[i] < NOUT : rk[i] >= NC - NOUT;
    CHECK(want, "%s/%s: outlier %s has rank %d (score %.4f)", method, keep ? keep : "-", cases[i].id, rk[i], sc[i]);
  }
  if (first && strcmp(method, "kcenter") != 0) {
    double maxo = -INFINITY, mind = INFINITY;
    for (int i = 0; i < NC; i++) {
      if (is_outlier(i)) { if (sc[i] > maxo) maxo = sc[i]; }
      else if (sc[i] < mind) mind = sc[i];
    }
    CHECK(maxo < mind, "%s: outliers less similar to the rest (%.4f) than any duplicate (%.4f)", method, maxo, mind);
  }
}

int main(void) {
  ps_case cases[NC];
  ps_rng *r = ps_rng_create(2026);
  for (int i = 0; i < NC; i++) make_case(&cases[i], i, r);
  ps_rng_free(r);

  static const char *methods[4] = {"random", "mi", "ncc", "kcenter"};
  for (int m = 0; m < 4; m++)
    for (int k = 0; k < 2; k++) {
      const char *keep = k ? "typical" : "diverse";
      check_subset(cases, methods[m], keep, 0.25, 0, 3);
      check_subset(cases, methods[m], keep, 0.5, 0, 6);
      check_subset(cases, methods[m], keep, 0.01, 0, 1);
      check_subset(cases, methods[m], keep, 1.0, 0, NC);
      check_subset(cases, methods[m], keep, 0.3, 5, 5);
      check_subset(cases, methods[m], keep, 0.3, 40, NC);
    }

  check_outlier_ranks(cases, "mi", "diverse", 1);
  check_outlier_ranks(cases, "ncc", "diverse", 1);
  check_outlier_ranks(cases, "mi", "typical", 0);
  check_outlier_ranks(cases, "ncc", "typical", 0);
  /* k-center: the first pick is a typical case, the next three the outliers */
  {
    double sc[NC];
    int rk[NC];
    CHECK_OK(ps_proxy_score_cases(cases, NC, "kcenter", NULL, 0, 1, sc, rk));
    for (int i = 0; i < NC; i++)
      if (is_outlier(i)) CHECK(rk[i] >= 1 && rk[i] <= NOUT, "kcenter: outlier %s picked at %d", cases[i].id, rk[i]);
      else if (rk[i] == 0) CHECK(1, "first pick is typical");
    for (int i = 0; i < NC; i++)
      for (int j = 0; j < NC; j++)
        if (rk[j] == rk[i] + 1 && rk[i] >= 1) CHECK(sc[j] <= sc[i] + 1e-12, "coverage radius must not grow");
  }

  /* same seed → same permutation; another seed → another one */
  int a[NC], b[NC], c[NC];
  CHECK_OK(ps_proxy_score_cases(cases, NC, "random", NULL, 17, 1, NULL, a));
  CHECK_OK(ps_proxy_score_cases(cases, NC, "random", NULL, 17, 2, NULL, b));
  CHECK_OK(ps_proxy_score_cases(cases, NC, "random", NULL, 18, 1, NULL, c));
  CHECK(memcmp(a, b, sizeof a) == 0, "random is deterministic for a seed");
  CHECK(memcmp(a, c, sizeof a) != 0, "random differs across seeds");

  /* thread count does not change the similarity scores */
  double s1[NC], s2[NC];
  CHECK_OK(ps_proxy_score_cases(cases, NC, "mi", "diverse", 0, 1, s1, NULL));
  CHECK_OK(ps_proxy_score_cases(cases, NC, "mi", "diverse", 0, 2, s2, NULL));
  CHECK(memcmp(s1, s2, sizeof s1) == 0, "mi scores independent of threads");

  /* streaming: signatures built one case at a time give the same scores and subset */
  {
    ps_proxy_sig *sigs[NC];
    const char *ids[NC];
    for (int i = 0; i < NC; i++) { CHECK_OK(ps_proxy_sig_create(&cases[i], &sigs[i])); ids[i] = cases[i].id; }
    for (int m = 1; m < 4; m++) {
      double x[NC], y[NC];
      int rx[NC], ry[NC];
      CHECK_OK(ps_proxy_score_cases(cases, NC, methods[m], "diverse", 0, 2, x, rx));
      CHECK_OK(ps_proxy_score_sigs(sigs, NC, methods[m], "diverse", 0, 1, y, ry));
      CHECK(memcmp(x, y, sizeof x) == 0 && memcmp(rx, ry, sizeof rx) == 0, "%s: signatures = cases", methods[m]);
    }
    ps_proxy_data_opts o;
    ps_proxy_data_opts_default(&o);
    o.method = "ncc"; o.count = 3;
    cJSON *ra = NULL, *rb = NULL;
    CHECK_OK(ps_proxy_select(cases, NC, &o, &ra));
    CHECK_OK(ps_proxy_select_sigs(sigs, ids, NC, &o, &rb, NULL));
    char *sa = cJSON_PrintUnformatted(ra), *sb = cJSON_PrintUnformatted(rb);
    CHECK(sa && sb && strcmp(sa, sb) == 0, "select_sigs gives the same cases.json");
    free(sa); free(sb); cJSON_Delete(ra); cJSON_Delete(rb);
    CHECK_OK(ps_proxy_select_sigs(sigs, NULL, NC, &o, &rb, NULL));
    CHECK(rb && strncmp(cJSON_GetArrayItem(ps_json_path(rb, "kept"), 0)->valuestring, "case_", 5) == 0, "ids default to case_<i>");
    cJSON_Delete(rb);
    for (int i = 0; i < NC; i++) ps_proxy_sig_free(sigs[i]);
    ps_proxy_sig_free(NULL);
  }

  /* errors */
  ps_status st = ps_proxy_score_cases(cases, NC, "entropy", NULL, 0, 1, s1, NULL);
  CHECK(st == PS_ERR_INVALID && strstr(ps_last_error(), "entropy"), "unknown method: %s", ps_last_error());
  st = ps_proxy_score_cases(cases, NC, "mi", "weird", 0, 1, s1, NULL);
  CHECK(st == PS_ERR_INVALID, "bad keep");
  {
    ps_case two[2];
    memset(two, 0, sizeof two);
    two[0] = cases[0];
    ps_volume_alloc(&two[1].image, 2, 8, 8, 8); /* a second channel the others lack */
    ps_labelmap_alloc(&two[1].label, 8, 8, 8);
    st = ps_proxy_score_cases(two, 2, "ncc", NULL, 0, 1, s1, NULL);
    CHECK(st == PS_ERR_DATA && strstr(ps_last_error(), "channels"), "channel mismatch: %s", ps_last_error());
    ps_labelmap_free(&two[1].label);
    ps_labelmap_alloc(&two[1].label, 8, 8, 9);
    st = ps_proxy_score_cases(two, 2, "kcenter", NULL, 0, 1, s1, NULL);
    CHECK(st == PS_ERR_DATA && strstr(ps_last_error(), "grids differ"), "grid mismatch: %s", ps_last_error());
    ps_volume_free(&two[1].image);
    ps_labelmap_free(&two[1].label);
  }
  ps_proxy_data_opts o;
  ps_proxy_data_opts_default(&o);
  o.fraction = 0;
  cJSON *res = NULL;
  CHECK(ps_proxy_select(cases, NC, &o, &res) == PS_ERR_INVALID && !res, "fraction 0 refused");
  /* a single case is its own subset */
  o.fraction = 0.1; o.method = "kcenter";
  CHECK_OK(ps_proxy_select(cases, 1, &o, &res));
  CHECK(res && cJSON_GetArraySize(ps_json_path(res, "kept")) == 1, "n=1");
  cJSON_Delete(res);
  o.method = "ncc";
  CHECK_OK(ps_proxy_select(cases, 1, &o, &res));
  CHECK(res && cJSON_GetArraySize(ps_json_path(res, "kept")) == 1, "n=1 ncc");
  cJSON_Delete(res);

  for (int i = 0; i < NC; i++) ps_case_free(&cases[i]);
  return ps_test_done("test_proxy_data");
}
