/* Journal: events fold into trials; torn and corrupt lines are skipped with a
 * warning; a finished trial cannot be completed twice; re-runs replace RUNNING. */
#include "proxyseg/journal.h"
#include "testutil.h"
#include <math.h>
#include <string.h>

/* A journal torn at every byte offset of its last line, the start event of
 * trial 2 (the reproducer: the re-run's start used to be glued onto the
 * fragment and lost, its end then refused, the COMPLETE trial run again). After
 * the driver re-runs trial 2 and runs trial 3, both are COMPLETE, the earlier
 * trials intact, and re-opening finds the same. */
static void test_torn_every_offset(const char *dir) {
  char *path = ps_path_join(dir, "torn.jsonl");
  remove(path);
  ps_journal *j;
  cJSON *params = cJSON_Parse("{\"lr\": 0.02}");
  double x[1] = {0.25};
  CHECK_OK(ps_journal_open(path, &j));
  for (int t = 0; t < 2; t++) {
    CHECK_OK(ps_journal_start(j, t, "proxy", -1, params, x, 1, 11 + t));
    CHECK_OK(ps_journal_end(j, t, PS_TRIAL_COMPLETE, 0.5 + 0.1 * t, 2, NULL));
  }
  CHECK_OK(ps_journal_start(j, 2, "proxy", -1, params, x, 1, 13));
  ps_journal_free(j);
  char *full = NULL;
  size_t n = 0;
  CHECK_OK(ps_read_file(path, 0, &full, &n));
  size_t last = n - 1;
  while (last > 0 && full[last - 1] != '\n') last--; /* start of the last line */
  int bad = 0;
  for (size_t cut = last + 1; full && cut < n; cut++) { /* every tear that leaves a fragment */
    CHECK_OK(ps_write_file_atomic(path, full, cut));
    CHECK_OK(ps_journal_open(path, &j));
    /* only the newline lost: the event is whole and counts; else it is skipped */
    bool torn_ok = cut == n - 1 ? j->n == 3 && j->skipped_lines == 0 : j->n == 2 && j->skipped_lines == 1;
    ps_status a = ps_journal_start(j, 2, "proxy", -1, params, x, 1, 13);
    ps_status b = ps_journal_end(j, 2, PS_TRIAL_COMPLETE, 0.7, 2, NULL);
    ps_status c = ps_journal_start(j, 3, "proxy", -1, params, x, 1, 14);
    ps_status d = ps_journal_end(j, 3, PS_TRIAL_COMPLETE, 0.9, 2, NULL);
    ps_journal_free(j);
    CHECK_OK(ps_journal_open(path, &j));
    ps_trial *t2 = ps_journal_trial(j, 2), *t3 = ps_journal_trial(j, 3);
    bool kept = j->n == 4 && t2 && t2->state == PS_TRIAL_COMPLETE && fabs(t2->value - 0.7) < 1e-12 && t3 &&
                t3->state == PS_TRIAL_COMPLETE && fabs(t3->value - 0.9) < 1e-12 &&
                fabs(ps_journal_trial(j, 0)->value - 0.5) < 1e-12 && j->skipped_lines <= 1;
    if (!torn_ok || a || b || c || d || !kept) {
      bad++;
      fprintf(stderr, "torn at byte %zu of %zu: torn_ok %d appends %d%d%d%d kept %d (n=%d skipped=%d)\n", cut, n, torn_ok,
              a, b, c, d, kept, j->n, j->skipped_lines);
    }
    ps_journal_free(j);
  }
  CHECK(bad == 0, "%d of %zu tear offsets lost or garbled events", bad, n - last - 1);
  CHECK(n - last - 1 > 20, "the last line has %zu tear offsets", n - last - 1);
  free(full);
  cJSON_Delete(params);
  free(path);
}

int main(void) {
  char *dir = ps_test_tmpdir("journal");
  test_torn_every_offset(dir);
  char *path = ps_path_join(dir, "journal.jsonl");
  ps_journal *j;
  CHECK_OK(ps_journal_open(path, &j));
  cJSON *params = cJSON_Parse("{\"lr\": 0.01}");
  double x[1] = {0.5};
  CHECK_OK(ps_journal_start(j, 0, "proxy", -1, params, x, 1, 7));
  CHECK_OK(ps_journal_intermediate(j, 0, 1, 0.4));
  CHECK_OK(ps_journal_end(j, 0, PS_TRIAL_COMPLETE, 0.8, 12.5, NULL));
  CHECK(ps_journal_end(j, 0, PS_TRIAL_COMPLETE, 0.9, 1, NULL) != PS_OK, "completed twice");
  CHECK_OK(ps_journal_start(j, 1, "proxy", -1, params, x, 1, 8));
  CHECK_OK(ps_journal_end(j, 1, PS_TRIAL_FAIL, NAN, 1.0, NULL));
  CHECK_OK(ps_journal_start(j, 2, "proxy", -1, params, x, 1, 9)); /* left RUNNING */
  ps_journal_free(j);

  /* a torn write and a corrupt line */
  FILE *f = fopen(path, "a");
  fputs("{\"event\": \"end\", \"trial\": 2, \"sta\n", f); /* corrupt line */
  fputs("{\"event\": \"end\", \"trial\": 2, \"state\": \"COMPLETE\", \"value\": 0.7", f); /* torn: no newline */
  fclose(f);
  CHECK_OK(ps_journal_open(path, &j));
  CHECK(j->n == 3, "n=%d", j->n);
  CHECK(j->skipped_lines == 2, "skipped %d", j->skipped_lines);
  ps_trial *t0 = ps_journal_trial(j, 0), *t1 = ps_journal_trial(j, 1), *t2 = ps_journal_trial(j, 2);
  CHECK(t0 && t0->state == PS_TRIAL_COMPLETE && fabs(t0->value - 0.8) < 1e-12 && t0->seconds == 12.5, "t0");
  CHECK(t0 && cJSON_GetArraySize(t0->intermediate) == 1, "intermediate");
  CHECK(t1 && t1->state == PS_TRIAL_FAIL && isnan(t1->value), "t1");
  CHECK(t2 && t2->state == PS_TRIAL_RUNNING, "t2 running");
  CHECK(ps_journal_next_number(j) == 3, "next");
  ps_journal_free(j);
  /* appending after a torn line: the new event must start on its own line */
  ps_test_sh("printf '\\n' >> %s", path);
  CHECK_OK(ps_journal_open(path, &j));
  CHECK_OK(ps_journal_start(j, 2, "proxy", -1, params, x, 1, 9)); /* re-run replaces RUNNING */
  CHECK_OK(ps_journal_end(j, 2, PS_TRIAL_COMPLETE, 0.75, 3, NULL));
  ps_journal_free(j);
  CHECK_OK(ps_journal_open(path, &j));
  CHECK(j->n == 3 && ps_journal_trial(j, 2)->state == PS_TRIAL_COMPLETE, "re-run");
  ps_trial **ph;
  CHECK(ps_journal_phase(j, "proxy", &ph) == 3 && ph[0]->number == 0 && ph[2]->number == 2, "phase");
  free(ph);
  ps_journal_free(j);
  cJSON_Delete(params);
  free(path);
  free(dir);
  return ps_test_done("test_journal");
}
