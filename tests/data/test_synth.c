/* Synthetic task generator: determinism, seeds, shapes, organ presence, site
 * b's intensity shift, the atypical fraction, and the MSD files it writes. */
#include "testutil.h"
#include "proxyseg/synth.h"
#include "proxyseg/json.h"
#include "proxyseg/nifti.h"
#include <string.h>

static double mean_of(const ps_volume *v, const ps_labelmap *l, int cls, double *sd) {
  double s = 0, s2 = 0;
  size_t n = 0, N = (size_t)(v->d * v->h * v->w);
  for (size_t i = 0; i < N; i++)
    if (cls < 0 || l->data[i] == cls) { s += v->data[i]; s2 += (double)v->data[i] * v->data[i]; n++; }
  double m = n ? s / n : 0;
  if (sd) *sd = n ? sqrt(s2 / n - m * m) : 0;
  return m;
}

int main(void) {
  ps_synth_opts o;
  ps_synth_opts_default(&o);
  o.cases = 20; o.size = 32; o.seed = 7;

  /* Determinism and seed dependence. */
  ps_volume a, b;
  ps_labelmap la, lb;
  ps_synth_case_info ia, ib;
  CHECK_OK(ps_synth_case(&o, 3, &a, &la, &ia));
  CHECK_OK(ps_synth_case(&o, 3, &b, &lb, &ib));
  size_t n = (size_t)(a.d * a.h * a.w);
  CHECK(a.d == b.d && a.h == b.h && a.w == b.w, "same seed, same shape");
  CHECK(!memcmp(a.data, b.data, n * sizeof(float)) && !memcmp(la.data, lb.data, n), "same seed gives identical case");
  ps_volume_free(&b); ps_labelmap_free(&lb);
  ps_synth_opts o2 = o;
  o2.seed = 8;
  CHECK_OK(ps_synth_case(&o2, 3, &b, &lb, &ib));
  CHECK(b.d != a.d || memcmp(a.data, b.data, n * sizeof(float)) != 0, "different seeds differ");
  ps_volume_free(&b); ps_labelmap_free(&lb);
  ps_volume_free(&a); ps_labelmap_free(&la);

  /* Every case: shapes agree, organ present, RAS affine with the case spacing, air ~ -1000. */
  int n_atyp = 0, spacing_varies = 0;
  double first_sz = -1;
  for (int i = 0; i < o.cases; i++) {
    ps_synth_case_info inf;
    CHECK_OK(ps_synth_case(&o, i, &a, &la, &inf));
    CHECK(a.c == 1 && a.d == la.d && a.h == la.h && a.w == la.w && a.w == 32 && a.h == 32, "case %d shapes", i);
    size_t N = (size_t)(a.d * a.h * a.w), organ = 0;
    for (size_t v = 0; v < N; v++) organ += la.data[v] == 1;
    CHECK(organ > 0, "case %d has an organ", i);
    CHECK(a.affine[0][0] > 0 && a.affine[1][1] > 0 && a.affine[2][2] > 0 && a.affine[0][1] == 0, "case %d RAS affine", i);
    CHECK_NEAR(a.affine[2][2], a.spacing[0], 1e-12);
    CHECK_NEAR(a.affine[0][0], a.spacing[2], 1e-12);
    CHECK(a.spacing[2] >= 1 && a.spacing[2] <= 1.5 && a.spacing[0] >= 1 && a.spacing[0] <= 3, "case %d spacing", i);
    CHECK(fabs(a.data[0] + 1000) < 150, "case %d corner is air: %g", i, a.data[0]);
    if (first_sz < 0) first_sz = a.spacing[0];
    else if (fabs(first_sz - a.spacing[0]) > 1e-6) spacing_varies = 1;
    n_atyp += inf.atypical != 0;
    CHECK((inf.atypical != 0) == ps_synth_is_atypical(&o, i), "case %d atypical flag", i);
    /* organ brighter than the body's soft tissue on typical cases, but distractors share its intensity */
    if (!inf.atypical) {
      double mo = mean_of(&a, &la, 1, NULL);
      CHECK(mo > 40 + 20, "case %d organ mean %g above tissue", i, mo);
      size_t bright_bg = 0;
      for (size_t v = 0; v < N; v++) bright_bg += la.data[v] == 0 && fabs(a.data[v] - mo) < 0.5 * inf.contrast;
      CHECK(bright_bg > organ / 10, "case %d: distractors of organ-like intensity (%zu voxels)", i, bright_bg);
    }
    ps_volume_free(&a); ps_labelmap_free(&la);
  }
  CHECK(n_atyp == 3, "atypical cases: %d of 20 (expected round(0.15*20) = 3)", n_atyp);
  CHECK(spacing_varies, "slice spacing varies between cases");

  /* Site b: different intensity statistics (more noise, shifted). */
  double ma = 0, mb = 0, sa = 0, sb = 0;
  ps_synth_opts ob = o;
  ob.site = 'b';
  for (int i = 0; i < 6; i++) {
    double s1, s2;
    CHECK_OK(ps_synth_case(&o, i, &a, &la, NULL));
    CHECK_OK(ps_synth_case(&ob, i, &b, &lb, NULL));
    ma += mean_of(&a, &la, 1, &s1); sa += s1;
    mb += mean_of(&b, &lb, 1, &s2); sb += s2;
    ps_volume_free(&a); ps_labelmap_free(&la);
    ps_volume_free(&b); ps_labelmap_free(&lb);
  }
  CHECK(fabs(ma - mb) / 6 > 10, "site b shifts organ intensity: a %g, b %g", ma / 6, mb / 6);
  CHECK(sb > sa * 1.1, "site b is noisier inside the organ: a %g, b %g", sa / 6, sb / 6);

  /* MR mode: nonnegative (Rician) values, air near 0. */
  ps_synth_opts om = o;
  om.modality = "MR";
  om.classes = 3;
  CHECK_OK(ps_synth_case(&om, 0, &a, &la, NULL));
  size_t N = (size_t)(a.d * a.h * a.w), neg = 0, les = 0;
  for (size_t v = 0; v < N; v++) { neg += a.data[v] < 0; les += la.data[v] == 2; }
  CHECK(neg == 0, "MR values are magnitudes (%zu negative)", neg);
  CHECK(les > 0, "classes 3 adds a lesion");
  CHECK(a.data[0] < 200, "MR air is dark: %g", a.data[0]);
  ps_volume_free(&a); ps_labelmap_free(&la);

  /* Bad options are refused. */
  ps_synth_opts bad = o;
  bad.site = 'c';
  CHECK(ps_synth_case(&bad, 0, &a, &la, NULL) == PS_ERR_INVALID, "site c refused");

  /* The MSD task on disk. */
  char *dir = ps_test_tmpdir("synth");
  o.cases = 4;
  CHECK_OK(ps_synth_generate(&o, dir));
  cJSON *j = NULL;
  char *p = ps_path_join(dir, "dataset.json");
  CHECK_OK(ps_json_read(p, &j));
  CHECK(ps_json_int(j, "numTraining", 0) == 4, "numTraining");
  CHECK(!strcmp(ps_json_str(j, "tensorImageSize", ""), "3D"), "tensorImageSize");
  CHECK(!strcmp(ps_json_str(j, "modality.0", ""), "CT"), "modality");
  CHECK(!strcmp(ps_json_str(j, "labels.1", ""), "organ"), "labels");
  const cJSON *tr = cJSON_GetObjectItem(j, "training");
  CHECK(cJSON_GetArraySize(tr) == 4, "training list");
  for (int i = 0; i < cJSON_GetArraySize(tr) && i < 4; i++) {
    const char *im = ps_json_str(cJSON_GetArrayItem(tr, i), "image", "");
    char *ip = ps_path_join(dir, im), *lp = ps_path_join(dir, ps_json_str(cJSON_GetArrayItem(tr, i), "label", ""));
    ps_volume v;
    ps_labelmap l, ref;
    ps_volume rv;
    CHECK_OK(ps_nifti_read(ip, &v, NULL));
    CHECK_OK(ps_nifti_read_labels(lp, &l, NULL));
    CHECK_OK(ps_synth_case(&o, i, &rv, &ref, NULL));
    CHECK(v.d == rv.d && v.h == rv.h && v.w == rv.w && l.d == ref.d, "file %d shape", i);
    if (v.d == rv.d && v.h == rv.h && v.w == rv.w) {
      size_t NN = (size_t)(v.d * v.h * v.w);
      CHECK(!memcmp(l.data, ref.data, NN), "file %d labels round-trip", i);
      double md = 0;
      for (size_t q = 0; q < NN; q++) md = fmax(md, fabs(v.data[q] - rv.data[q]));
      CHECK(md <= 0.5 + 1e-3, "file %d: int16 image within rounding (%g)", i, md);
      for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) CHECK_NEAR(v.affine[r][c], rv.affine[r][c], 1e-4);
    }
    ps_volume_free(&v); ps_volume_free(&rv); ps_labelmap_free(&l); ps_labelmap_free(&ref);
    free(ip); free(lp);
  }
  cJSON_Delete(j);
  free(p);
  free(dir);
  return ps_test_done("test_synth");
}
