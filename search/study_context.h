/* What every phase of a study shares: the cases, the split, the cache (internal). */
#ifndef PS_STUDY_CONTEXT_H
#define PS_STUDY_CONTEXT_H
#include "proxyseg/study.h"

typedef struct {
  ps_case *cases;
  int n, n_classes;
  char *cache_dir;
  cJSON *train_ids, *val_ids; /* the fixed split */
} ps_study_ctx;

ps_status ps_study_ctx_open(const char *dataset_dir, const char *study_dir, const cJSON *train_cfg, ps_study_ctx *c);
void ps_study_ctx_close(ps_study_ctx *c);
/* Score the training cases and keep a subset; writes STUDY/proxy/cases.json (or `out_file`). */
ps_status ps_study_proxy_data(ps_study_ctx *c, const cJSON *opts, const char *out_file, cJSON **kept_ids);
/* Resolve a search space given by name (shipped under search/spaces), path or inline object. */
ps_status ps_study_space(const cJSON *spec, const char *base_dir, ps_space **out);
/* The resolved study configuration's defaults. */
cJSON *ps_study_config_defaults(void);
/* Score the kept full-scale models (phase "full") on an external dataset;
 * writes STUDY/external.json. */
ps_status ps_study_external(const char *study_dir, const char *dataset_dir, ps_study_ctx *ctx);
#endif
