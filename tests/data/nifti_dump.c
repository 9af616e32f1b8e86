/* Oracle helper for nifti_oracle.py: `ps_nifti_dump IN RAW` prints the header
 * as proxyseg reads it (JSON) and writes the voxels as raw float32 (x fastest);
 * `ps_nifti_dump --copy IN OUT DATATYPE` re-writes IN through ps_nifti_write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyseg/json.h"
#include "proxyseg/nifti.h"

int main(int argc, char **argv) {
  ps_volume v;
  ps_nifti_info info;
  if (argc == 5 && !strcmp(argv[1], "--copy")) {
    ps_status st = ps_nifti_read(argv[2], &v, NULL);
    if (st == PS_OK) st = ps_nifti_write(argv[3], &v, atoi(argv[4]));
    ps_volume_free(&v);
    if (st != PS_OK) { fprintf(stderr, "ps_nifti_dump: %s\n", ps_last_error()); return ps_status_exit_code(st); }
    return 0;
  }
  if (argc != 3) { fprintf(stderr, "usage: ps_nifti_dump IN RAW | --copy IN OUT DATATYPE\n"); return 2; }
  ps_status st = ps_nifti_read(argv[1], &v, &info);
  if (st != PS_OK) { fprintf(stderr, "ps_nifti_dump: %s\n", ps_last_error()); return ps_status_exit_code(st); }
  size_t n = (size_t)(v.c * v.d * v.h * v.w);
  st = ps_write_file_atomic(argv[2], v.data, n * sizeof(float));
  if (st != PS_OK) { fprintf(stderr, "ps_nifti_dump: %s\n", ps_last_error()); return 1; }
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "nifti_version", info.nifti_version);
  double dims[8], pix[8];
  for (int i = 0; i < 8; i++) { dims[i] = (double)info.dim[i]; pix[i] = info.pixdim[i]; }
  cJSON_AddItemToObject(j, "dim", cJSON_CreateDoubleArray(dims, 8));
  cJSON_AddItemToObject(j, "pixdim", cJSON_CreateDoubleArray(pix, 8));
  cJSON_AddStringToObject(j, "datatype", ps_nifti_datatype_name(info.datatype));
  cJSON_AddNumberToObject(j, "scl_slope", info.scl_slope);
  cJSON_AddNumberToObject(j, "scl_inter", info.scl_inter);
  cJSON_AddNumberToObject(j, "qform_code", info.qform_code);
  cJSON_AddNumberToObject(j, "sform_code", info.sform_code);
  cJSON_AddStringToObject(j, "orientation", info.orientation);
  cJSON *aff = cJSON_AddArrayToObject(j, "affine");
  for (int r = 0; r < 4; r++) cJSON_AddItemToArray(aff, cJSON_CreateDoubleArray(v.affine[r], 4));
  double cdhw[4] = {(double)v.c, (double)v.d, (double)v.h, (double)v.w};
  cJSON_AddItemToObject(j, "cdhw", cJSON_CreateDoubleArray(cdhw, 4));
  cJSON_AddItemToObject(j, "spacing", cJSON_CreateDoubleArray(v.spacing, 3));
  char *t = cJSON_PrintUnformatted(j);
  puts(t);
  free(t);
  cJSON_Delete(j);
  ps_volume_free(&v);
  return 0;
}
