/* libFuzzer target: arbitrary bytes as the journal.jsonl of a study whose
 * study.json names a search space, exported as `proxyseg export` does: the
 * Optuna JournalStorage log (params mapped to the space's distributions, times,
 * phases) and the CSV. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_tmp.h"
#include "proxyseg/export.h"

static char dir[256];
static char *journal, *optuna_out, *csv_out;

static void setup(void) {
  ps_fuzz_tmp_path(dir, sizeof dir, "ps_fuzz_export", "");
  ps_mkdir_p(dir);
  const char *sj = "{\"space\": {\"params\": [{\"key\": \"lr\", \"type\": \"float\", \"low\": 1e-4, \"high\": 0.1, \"log\": true},"
                   "{\"key\": \"optimizer\", \"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\"]},"
                   "{\"key\": \"batch\", \"type\": \"int\", \"low\": 1, \"high\": 4}]}}";
  char *p = ps_path_join(dir, "study.json");
  ps_fuzz_write(p, (const unsigned char *)sj, strlen(sj));
  free(p);
  journal = ps_path_join(dir, "journal.jsonl");
  optuna_out = ps_path_join(dir, "optuna.jsonl");
  csv_out = ps_path_join(dir, "trials.csv");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) setup();
  if (ps_fuzz_write(journal, data, size)) return 0;
  cJSON *summary = NULL;
  if (ps_export_optuna(dir, optuna_out, &summary) == PS_OK) cJSON_Delete(summary);
  (void)ps_export_csv(dir, csv_out);
  return 0;
}
