/* libFuzzer target: arbitrary bytes as a study's journal.jsonl; open (which
 * replays every event and repairs a torn last line), then look up every trial. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_tmp.h"
#include "proxyseg/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[256];
  if (!path[0]) ps_fuzz_tmp_path(path, sizeof path, "ps_fuzz_journal", ".jsonl");
  if (ps_fuzz_write(path, data, size)) return 0;
  ps_journal *j = NULL;
  if (ps_journal_open(path, &j) == PS_OK) {
    for (int i = 0; i < j->n; i++) (void)ps_journal_trial(j, j->trials[i].number);
    (void)ps_journal_next_number(j);
    ps_journal_free(j);
  }
  return 0;
}
