/* libFuzzer target: arbitrary bytes as a study's journal.jsonl; open (which
 * replays every event and repairs a torn last line), then look up every trial. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proxyseg/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[128];
  if (!path[0]) snprintf(path, sizeof path, "/tmp/ps_fuzz_journal_%ld.jsonl", (long)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  ps_journal *j = NULL;
  if (ps_journal_open(path, &j) == PS_OK) {
    for (int i = 0; i < j->n; i++) (void)ps_journal_trial(j, j->trials[i].number);
    (void)ps_journal_next_number(j);
    ps_journal_free(j);
  }
  return 0;
}
