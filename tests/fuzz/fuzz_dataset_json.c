/* libFuzzer target: arbitrary bytes as dataset.json of a folder that holds one
 * small valid case in both MSD and nnU-Net v2 naming; open, check, load. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_tmp.h"
#include "proxyseg/dataset.h"

static char root[256];

static void setup(void) {
  ps_fuzz_tmp_path(root, sizeof root, "ps_fuzz_dataset", "");
  char *p = ps_strfmt("%s/imagesTr", root);
  ps_mkdir_p(p);
  free(p);
  p = ps_strfmt("%s/labelsTr", root);
  ps_mkdir_p(p);
  free(p);
  ps_volume v;
  ps_labelmap l;
  if (ps_volume_alloc(&v, 1, 3, 3, 3) != PS_OK || ps_labelmap_alloc(&l, 3, 3, 3) != PS_OK) abort();
  for (int i = 0; i < 27; i++) { v.data[i] = (float)i; l.data[i] = (uint8_t)(i % 2); }
  const char *imgs[] = {"imagesTr/a.nii.gz", "imagesTr/a_0000.nii.gz", "imagesTr/a_0001.nii.gz"};
  for (int i = 0; i < 3; i++) {
    p = ps_strfmt("%s/%s", root, imgs[i]);
    ps_nifti_write(p, &v, PS_NIFTI_INT16);
    free(p);
  }
  p = ps_strfmt("%s/labelsTr/a.nii.gz", root);
  ps_nifti_write_labels(p, &l);
  free(p);
  ps_volume_free(&v);
  ps_labelmap_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!root[0]) setup();
  char *p = ps_strfmt("%s/dataset.json", root);
  int bad = ps_fuzz_write(p, data, size);
  free(p);
  if (bad) return 0;
  ps_dataset *d;
  if (ps_dataset_open(root, &d) != PS_OK) return 0;
  cJSON *r;
  if (ps_dataset_check(d, &r) == PS_OK) cJSON_Delete(r);
  for (int i = 0; i < ps_dataset_n_cases(d) && i < 4; i++) {
    ps_volume img;
    ps_labelmap lab;
    if (ps_dataset_load_case(d, i, &img, &lab, NULL) == PS_OK) {
      ps_volume_free(&img);
      ps_labelmap_free(&lab);
    }
  }
  ps_dataset_free(d);
  return 0;
}
