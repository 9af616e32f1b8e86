/* Config × replicate score grids of a study (private to search/): row i is
 * the configuration of proxy trial ids[i], column r its r-th run on one side,
 * in trial-number order. v[i*w + r] is the score (NaN: failed or missing),
 * sec[i*w + r] the run's seconds (NaN: no run). */
#ifndef PS_STUDY_GRID_H
#define PS_STUDY_GRID_H

#include "proxyseg/journal.h"

typedef struct {
  int n, w;     /* configs, columns */
  int *ids;     /* [n] proxy trial numbers */
  double *v;    /* [n * w] */
  double *sec;  /* [n * w] */
} ps_grid;

/* The configurations re-trained at full scale (refs of phase "full"), no columns yet. */
ps_status ps_grid_configs(ps_journal *J, ps_grid *g);
/* An empty grid over the same configurations. */
ps_status ps_grid_like(const ps_grid *src, ps_grid *g);
/* Append the runs of `phase` as columns: each trial goes to the row of its ref
 * (by_number: of its own number, for the search trials themselves). */
ps_status ps_grid_add_phase(ps_grid *g, ps_journal *J, const char *phase, bool by_number);
/* The same from external.json's trials of one phase. */
ps_status ps_grid_add_external(ps_grid *g, const cJSON *external, const char *phase);
double ps_grid_mean_seconds(const ps_grid *g);
void ps_grid_mean(const ps_grid *g, int i, double *mean, int *count);
void ps_grid_free(ps_grid *g);

#endif
