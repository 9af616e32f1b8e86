/* HDF5 cache of preprocessed cases: one file per case (image float32
 * [C,D,H,W], label uint8 [D,H,W], "properties" JSON attribute with the
 * geometry needed to invert preprocessing) plus cache_dir/plan.json, the plan
 * that made them. The cache is rebuilt when its fingerprint (plan overrides,
 * dataset.json, every case file's size and mtime, cache format) changes or a
 * case file is missing or has the wrong size. */
#ifndef PROXYSEG_CACHE_H
#define PROXYSEG_CACHE_H

#include <cjson/cJSON.h>
#include "proxyseg/core.h"
#include "proxyseg/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Build (or confirm) the cache. plan_overrides nullable (e.g. {"target_spacing":
 * [z,y,x]}); threads <= 0: ps_threads_get(). */
ps_status ps_cache_build(const char *dataset_dir, const char *cache_dir, const cJSON *plan_overrides, int threads);
/* Same; *rebuilt (nullable) = 1 when files were written, 0 when the cache was fresh. */
ps_status ps_cache_build_ex(const char *dataset_dir, const char *cache_dir, const cJSON *plan_overrides, int threads,
                            int *rebuilt);
/* Load every cached case (foreground indexed with the plan's n_classes), in
 * the dataset's case order; each file's size and checksum (plan.json) are
 * checked before HDF5 reads it. Free with ps_cache_free_cases. */
ps_status ps_cache_load(const char *cache_dir, ps_case **cases, int *n);
void ps_cache_free_cases(ps_case *cases, int n); /* NULL ok */
/* Read one cache file (image, label, id, properties JSON; props nullable).
 * Unverified: HDF5 1.10 can overflow a buffer on a corrupt file, so read files
 * through ps_cache_load, which checks their checksums first. */
ps_status ps_cache_read_case(const char *path, int n_classes, ps_case *out, cJSON **props);

#ifdef __cplusplus
}
#endif
#endif
