/* Internal layout of ps_dataset, shared by dataset.c and dataset_check.c. */
#ifndef PS_DATASET_INTERNAL_H
#define PS_DATASET_INTERNAL_H
#include "proxyseg/dataset.h"

typedef struct {
  char *id;
  int n_files;
  char **files;   /* absolute image paths (1 for MSD, one per channel for nnU-Net) */
  char *label;    /* absolute label path; NULL for test cases */
} ps_dataset_case;

struct ps_dataset {
  char *root, *name, *format;
  cJSON *json;
  int n_channels;
  char **channels;
  int n_labels;
  int *label_ids;
  char **label_names;
  int n_classes;
  unsigned char declared[256];
  int n_cases, n_test;
  ps_dataset_case *cases, *test;
  int num_training_declared;   /* numTraining, -1 if absent */
};
#endif
