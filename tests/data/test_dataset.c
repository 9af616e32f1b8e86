/* Datasets: MSD and nnU-Net v2 layouts built here from small NIfTI files;
 * junk files skipped; missing keys, paths leaving the root, and image/label
 * mismatches (shape, affine, undeclared label) reported with the case name. */
#include <string.h>
#include <unistd.h>

#include "proxyseg/dataset.h"
#include "testutil.h"

static void put(const char *dir, const char *rel, const char *text) {
  char *p = ps_strfmt("%s/%s", dir, rel);
  CHECK_OK(ps_write_file_atomic(p, text, strlen(text)));
  free(p);
}

/* image with c channels (one 4D file) of shape d x h x w; value pattern keyed by seed */
static void write_image(const char *path, int c, int d, int h, int w, int seed, double sx) {
  ps_volume v;
  CHECK_OK(ps_volume_alloc(&v, c, d, h, w));
  for (int64_t i = 0; i < v.c * v.d * v.h * v.w; i++) v.data[i] = (float)((i * 7 + seed) % 50);
  v.affine[0][0] = sx; v.affine[1][1] = 1.5; v.affine[2][2] = 3;
  CHECK_OK(ps_nifti_write(path, &v, PS_NIFTI_INT16));
  ps_volume_free(&v);
}

static void write_label(const char *path, int d, int h, int w, int maxlab, double sx) {
  ps_labelmap l;
  CHECK_OK(ps_labelmap_alloc(&l, d, h, w));
  for (int64_t i = 0; i < l.d * l.h * l.w; i++) l.data[i] = (uint8_t)(i % (maxlab + 1));
  l.affine[0][0] = sx; l.affine[1][1] = 1.5; l.affine[2][2] = 3;
  CHECK_OK(ps_nifti_write_labels(path, &l));
  ps_labelmap_free(&l);
}

static const char *MSD_JSON =
    "{\"name\": \"Tiny\", \"tensorImageSize\": \"4D\", \"relase\": \"1.0\",\n"
    " \"modality\": {\"0\": \"FLAIR\", \"1\": \"T1w\"},\n"
    " \"labels\": {\"0\": \"background\", \"1\": \"edema\", \"2\": \"tumour\"},\n"
    " \"numTraining\": 3, \"numTest\": 1,\n"
    " \"training\": [{\"image\": \"./imagesTr/t_001.nii.gz\", \"label\": \"./labelsTr/t_001.nii.gz\"},\n"
    "              {\"image\": \"./imagesTr/t_002.nii.gz\", \"label\": \"./labelsTr/t_002.nii.gz\"},\n"
    "              {\"image\": \"./imagesTr/._t_002.nii.gz\", \"label\": \"./labelsTr/._t_002.nii.gz\"},\n"
    "              {\"image\": \"./imagesTr/t_003.nii.gz\", \"label\": \"./labelsTr/t_003.nii.gz\"}],\n"
    " \"test\": [\"./imagesTs/t_004.nii.gz\"]}\n";

static char *make_msd(const char *root) {
  char *dir = ps_strfmt("%s/msd", root);
  ps_test_sh("mkdir -p '%s/imagesTr' '%s/labelsTr' '%s/imagesTs'", dir, dir, dir);
  put(dir, "dataset.json", MSD_JSON);
  int shapes[3][3] = {{4, 5, 6}, {6, 5, 6}, {4, 7, 6}};
  for (int i = 0; i < 3; i++) {
    char *im = ps_strfmt("%s/imagesTr/t_%03d.nii.gz", dir, i + 1), *lb = ps_strfmt("%s/labelsTr/t_%03d.nii.gz", dir, i + 1);
    write_image(im, 2, shapes[i][0], shapes[i][1], shapes[i][2], i, 0.7);
    write_label(lb, shapes[i][0], shapes[i][1], shapes[i][2], 2, 0.7);
    free(im); free(lb);
  }
  char *ts = ps_strfmt("%s/imagesTs/t_004.nii.gz", dir);
  write_image(ts, 2, 3, 3, 3, 9, 0.7);
  free(ts);
  put(dir, "imagesTr/._t_002.nii.gz", "macOS resource fork");
  put(dir, "imagesTr/.DS_Store", "junk");
  return dir;
}

static void test_msd(const char *root) {
  char *dir = make_msd(root);
  ps_dataset *d = NULL;
  CHECK_OK(ps_dataset_open(dir, &d));
  if (!d) { free(dir); return; }
  CHECK(!strcmp(ps_dataset_format(d), "msd"), "format %s", ps_dataset_format(d));
  CHECK(!strcmp(ps_dataset_name(d), "Tiny"), "name");
  CHECK(ps_dataset_n_cases(d) == 3, "n_cases %d (._ entry must be skipped)", ps_dataset_n_cases(d));
  CHECK(ps_dataset_n_channels(d) == 2 && !strcmp(ps_dataset_channel_name(d, 1), "T1w"), "channels");
  CHECK(ps_dataset_n_labels(d) == 3 && ps_dataset_n_classes(d) == 3, "labels");
  CHECK(!strcmp(ps_dataset_label_name(d, 2), "tumour") && ps_dataset_label_id(d, 2) == 2, "label 2");
  CHECK(!strcmp(ps_dataset_case_id(d, 1), "t_002"), "case id %s", ps_dataset_case_id(d, 1));
  CHECK(ps_dataset_n_image_files(d, 0) == 1, "one 4D file per MSD case");
  CHECK(strstr(ps_dataset_label_path(d, 2), "/labelsTr/t_003.nii.gz") != NULL, "label path");
  CHECK(ps_dataset_n_test(d) == 1 && !strcmp(ps_dataset_test_id(d, 0), "t_004"), "test cases");
  ps_volume img;
  ps_labelmap lab;
  ps_nifti_info info;
  CHECK_OK(ps_dataset_load_case(d, 1, &img, &lab, &info));
  CHECK(img.c == 2 && img.d == 6 && img.h == 5 && img.w == 6, "case shape");
  CHECK(lab.d == 6 && lab.data[2] == 2, "label values");
  CHECK_NEAR(img.spacing[2], 0.7, 1e-6);
  ps_volume_free(&img);
  ps_labelmap_free(&lab);
  CHECK_OK(ps_dataset_load_test(d, 0, &img, NULL));
  CHECK(img.c == 2 && img.d == 3, "test image");
  ps_volume_free(&img);
  cJSON *r = NULL;
  CHECK_OK(ps_dataset_check(d, &r));
  if (r) {
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")), "clean MSD dataset reported problems: %s",
          cJSON_PrintUnformatted(cJSON_GetObjectItem(r, "problems")));
    const cJSON *ms = cJSON_GetObjectItem(r, "median_shape");
    CHECK(ms && cJSON_GetArrayItem(ms, 0)->valuedouble == 4 && cJSON_GetArrayItem(ms, 1)->valuedouble == 5,
          "median shape");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(r, "cases")) == 3, "cases in report");
    cJSON_Delete(r);
  }
  ps_dataset_free(d);
  free(dir);
}

static char *make_nnunet(const char *root) {
  char *dir = ps_strfmt("%s/Dataset001_Tiny", root);
  ps_test_sh("mkdir -p '%s/imagesTr' '%s/labelsTr' '%s/imagesTs'", dir, dir, dir);
  put(dir, "dataset.json",
      "{\"channel_names\": {\"0\": \"T2\", \"1\": \"ADC\"}, \"labels\": {\"background\": 0, \"pz\": 1, \"tz\": 2},\n"
      " \"numTraining\": 2, \"file_ending\": \".nii.gz\", \"name\": \"Tiny\"}\n");
  const char *ids[2] = {"prost_01", "prost_02"};
  for (int i = 0; i < 2; i++) {
    for (int c = 0; c < 2; c++) {
      char *im = ps_strfmt("%s/imagesTr/%s_%04d.nii.gz", dir, ids[i], c);
      write_image(im, 1, 3 + i, 4, 5, c, 0.6);
      free(im);
    }
    char *lb = ps_strfmt("%s/labelsTr/%s.nii.gz", dir, ids[i]);
    write_label(lb, 3 + i, 4, 5, 2, 0.6);
    free(lb);
  }
  for (int c = 0; c < 2; c++) {
    char *im = ps_strfmt("%s/imagesTs/prost_09_%04d.nii.gz", dir, c);
    write_image(im, 1, 3, 4, 5, c, 0.6);
    free(im);
  }
  put(dir, "labelsTr/._prost_01.nii.gz", "junk");
  put(dir, "labelsTr/.DS_Store", "junk");
  put(dir, "imagesTr/._prost_01_0000.nii.gz", "junk");
  return dir;
}

static void test_nnunet(const char *root) {
  char *dir = make_nnunet(root);
  ps_dataset *d = NULL;
  CHECK_OK(ps_dataset_open(dir, &d));
  if (!d) { free(dir); return; }
  CHECK(!strcmp(ps_dataset_format(d), "nnunet_v2"), "format");
  CHECK(ps_dataset_n_cases(d) == 2, "n_cases %d", ps_dataset_n_cases(d));
  CHECK(!strcmp(ps_dataset_case_id(d, 0), "prost_01"), "case id %s", ps_dataset_case_id(d, 0));
  CHECK(ps_dataset_n_image_files(d, 1) == 2 && strstr(ps_dataset_image_path(d, 1, 1), "prost_02_0001.nii.gz"),
        "channel files");
  CHECK(!strcmp(ps_dataset_label_name(d, 1), "pz") && ps_dataset_n_classes(d) == 3, "labels");
  CHECK(!strcmp(ps_dataset_channel_name(d, 1), "ADC"), "channel names");
  CHECK(ps_dataset_n_test(d) == 1 && !strcmp(ps_dataset_test_id(d, 0), "prost_09"), "test cases");
  ps_volume img;
  ps_labelmap lab;
  CHECK_OK(ps_dataset_load_case(d, 1, &img, &lab, NULL));
  CHECK(img.c == 2 && img.d == 4 && img.h == 4 && img.w == 5, "shape");
  /* channel 1 was written with seed 1: value at voxel 0 is 1 */
  CHECK(img.data[0] == 0 && img.data[img.d * img.h * img.w] == 1, "channel order");
  ps_volume_free(&img);
  ps_labelmap_free(&lab);
  cJSON *r = NULL;
  CHECK_OK(ps_dataset_check(d, &r));
  CHECK(r && cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")), "clean nnU-Net dataset reported problems");
  cJSON_Delete(r);
  ps_dataset_free(d);
  free(dir);
}

/* dataset.json variants that must be refused with PS_ERR_DATA and a message containing `want` */
static void refused(const char *root, const char *name, const char *json, const char *want) {
  char *dir = ps_strfmt("%s/%s", root, name);
  ps_test_sh("mkdir -p '%s/imagesTr' '%s/labelsTr'", dir, dir);
  put(dir, "dataset.json", json);
  ps_dataset *d = NULL;
  ps_status st = ps_dataset_open(dir, &d);
  CHECK(st == PS_ERR_DATA && d == NULL, "%s: %s (%s)", name, ps_status_name(st), ps_last_error());
  CHECK(strstr(ps_last_error(), want) != NULL, "%s: message '%s' lacks '%s'", name, ps_last_error(), want);
  ps_dataset_free(d);
  free(dir);
}

static void test_refusals(const char *root) {
  refused(root, "no_labels", "{\"modality\": {\"0\": \"CT\"}, \"training\": []}", "'labels'");
  refused(root, "no_training", "{\"modality\": {\"0\": \"CT\"}, \"labels\": {\"0\": \"bg\"}}", "'training'");
  refused(root, "no_kind", "{\"labels\": {\"0\": \"bg\"}}", "modality");
  refused(root, "no_ending", "{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0}}", "file_ending");
  refused(root, "no_image_key",
          "{\"modality\": {\"0\": \"CT\"}, \"labels\": {\"0\": \"bg\"}, \"training\": [{\"label\": \"./l.nii.gz\"}]}",
          "'image'");
  refused(root, "dotdot",
          "{\"modality\": {\"0\": \"CT\"}, \"labels\": {\"0\": \"bg\"}, \"training\": "
          "[{\"image\": \"./imagesTr/../../msd/imagesTr/t_001.nii.gz\", \"label\": \"./labelsTr/a.nii.gz\"}]}",
          "leaves the dataset");
  refused(root, "absolute",
          "{\"modality\": {\"0\": \"CT\"}, \"labels\": {\"0\": \"bg\"}, \"training\": "
          "[{\"image\": \"/etc/passwd\", \"label\": \"./labelsTr/a.nii.gz\"}]}",
          "absolute");
  /* a symlink inside the dataset pointing outside it */
  char *dir = ps_strfmt("%s/symlink", root);
  ps_test_sh("mkdir -p '%s/imagesTr' && ln -sf \"$(pwd)/%s/msd/imagesTr\" '%s/imagesTr/escape'", dir, root, dir);
  free(dir);
  refused(root, "symlink",
          "{\"modality\": {\"0\": \"CT\"}, \"labels\": {\"0\": \"bg\"}, \"training\": "
          "[{\"image\": \"./imagesTr/escape/t_001.nii.gz\", \"label\": \"./labelsTr/a.nii.gz\"}]}",
          "outside");
  refused(root, "badjson", "{\"modality\": ", "dataset.json");
}

static const char *case_of(const cJSON *problem) {
  const cJSON *c = cJSON_GetObjectItem(problem, "case");
  return cJSON_IsString(c) ? c->valuestring : "";
}

/* Inconsistent cases: each load fails naming the case; the check lists them all. */
static void test_mismatches(const char *root) {
  char *dir = ps_strfmt("%s/bad", root);
  ps_test_sh("mkdir -p '%s/imagesTr' '%s/labelsTr'", dir, dir);
  put(dir, "dataset.json",
      "{\"modality\": {\"0\": \"CT\"}, \"labels\": {\"0\": \"background\", \"1\": \"organ\"}, \"numTraining\": 4,\n"
      " \"training\": [{\"image\": \"./imagesTr/good.nii.gz\", \"label\": \"./labelsTr/good.nii.gz\"},\n"
      "  {\"image\": \"./imagesTr/shape.nii.gz\", \"label\": \"./labelsTr/shape.nii.gz\"},\n"
      "  {\"image\": \"./imagesTr/affine.nii.gz\", \"label\": \"./labelsTr/affine.nii.gz\"},\n"
      "  {\"image\": \"./imagesTr/undeclared.nii.gz\", \"label\": \"./labelsTr/undeclared.nii.gz\"},\n"
      "  {\"image\": \"./imagesTr/missing.nii.gz\", \"label\": \"./labelsTr/missing.nii.gz\"}]}\n");
  char *p;
#define IMG(n, d, s) (p = ps_strfmt("%s/imagesTr/%s.nii.gz", dir, n), write_image(p, 1, d, 4, 5, 0, s), free(p))
#define LAB(n, d, m, s) (p = ps_strfmt("%s/labelsTr/%s.nii.gz", dir, n), write_label(p, d, 4, 5, m, s), free(p))
  IMG("good", 3, 1.0); LAB("good", 3, 1, 1.0);
  IMG("shape", 3, 1.0); LAB("shape", 4, 1, 1.0);
  IMG("affine", 3, 1.0); LAB("affine", 3, 1, 1.2);
  IMG("undeclared", 3, 1.0); LAB("undeclared", 3, 3, 1.0);
#undef IMG
#undef LAB
  ps_dataset *d = NULL;
  CHECK_OK(ps_dataset_open(dir, &d));
  if (!d) { free(dir); return; }
  const char *names[5] = {"good", "shape", "affine", "undeclared", "missing"};
  const char *why[5] = {"", "shape", "affine", "not declared", "missing"};
  for (int i = 0; i < 5; i++) {
    ps_volume img;
    ps_labelmap lab;
    ps_status st = ps_dataset_load_case(d, i, &img, &lab, NULL);
    if (i == 0) {
      CHECK(st == PS_OK, "good case: %s", ps_last_error());
      if (st == PS_OK) { ps_volume_free(&img); ps_labelmap_free(&lab); }
      continue;
    }
    CHECK(st == PS_ERR_DATA, "%s: %s", names[i], ps_status_name(st));
    char *cs = ps_strfmt("case %s", names[i]);
    CHECK(strstr(ps_last_error(), cs) != NULL, "message lacks '%s': %s", cs, ps_last_error());
    CHECK(strstr(ps_last_error(), why[i]) != NULL, "message lacks '%s': %s", why[i], ps_last_error());
    free(cs);
  }
  cJSON *r = NULL;
  CHECK_OK(ps_dataset_check(d, &r));
  if (r) {
    CHECK(!cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")), "bad dataset reported ok");
    const cJSON *probs = cJSON_GetObjectItem(r, "problems");
    /* numTraining 4 vs 5, and one per bad case */
    CHECK(cJSON_GetArraySize(probs) == 5, "%d problems: %s", cJSON_GetArraySize(probs), cJSON_Print(probs));
    for (int i = 1; i < 5; i++) {
      int found = 0;
      const cJSON *it;
      cJSON_ArrayForEach(it, probs) found |= !strcmp(case_of(it), names[i]);
      CHECK(found, "no problem reported for case %s", names[i]);
    }
    cJSON_Delete(r);
  }
  ps_dataset_free(d);
  free(dir);
}

int main(void) {
  char *root = ps_test_tmpdir("dataset");
  test_msd(root);
  test_nnunet(root);
  test_refusals(root);
  test_mismatches(root);
  free(root);
  return ps_test_done("dataset");
}
