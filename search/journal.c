/* Study journal (see journal.h). Events: {"event":"start", trial, phase, ref,
 * params, x, seed, time}, {"event":"intermediate", trial, step, value},
 * {"event":"end", trial, state, value, seconds, ...}. A trial that has a start
 * but no end was RUNNING when its process died. */
#include "proxyseg/journal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *state_names[] = {"RUNNING", "COMPLETE", "PRUNED", "FAIL"};

const char *ps_trial_state_name(ps_trial_state s) { return state_names[s]; }

bool ps_trial_state_parse(const char *s, ps_trial_state *out) {
  for (int i = 0; i < 4; i++)
    if (s && !strcmp(s, state_names[i])) { *out = (ps_trial_state)i; return true; }
  return false;
}

static void trial_clear(ps_trial *t) {
  cJSON_Delete(t->params);
  cJSON_Delete(t->x);
  cJSON_Delete(t->extra);
  cJSON_Delete(t->intermediate);
  memset(t, 0, sizeof *t);
}

void ps_journal_free(ps_journal *j) {
  if (!j) return;
  for (int i = 0; i < j->n; i++) trial_clear(&j->trials[i]);
  free(j->trials);
  free(j->events);
  free(j->path);
  free(j);
}

ps_trial *ps_journal_trial(ps_journal *j, int number) {
  for (int i = 0; i < j->n; i++)
    if (j->trials[i].number == number) return &j->trials[i];
  return NULL;
}

int ps_journal_next_number(const ps_journal *j) {
  int m = 0;
  for (int i = 0; i < j->n; i++)
    if (j->trials[i].number + 1 > m) m = j->trials[i].number + 1;
  return m;
}

/* Fold one event into the in-memory trials. A re-started trial (re-run after a
 * crash) replaces the stale RUNNING record. */
static ps_status record_order(ps_journal *j, int trial, bool is_end) {
  if (j->n_events == j->cap_events) {
    int cap = j->cap_events ? 2 * j->cap_events : 128;
    ps_journal_event *ne = realloc(j->events, (size_t)cap * sizeof *ne);
    if (!ne) return PS_ERR_NOMEM;
    j->events = ne;
    j->cap_events = cap;
  }
  j->events[j->n_events++] = (ps_journal_event){trial, is_end};
  return PS_OK;
}

static ps_status fold_event(ps_journal *j, const cJSON *ev);

static ps_status apply_event(ps_journal *j, const cJSON *ev) {
  ps_status st = fold_event(j, ev);
  if (st) return st;
  const char *kind = ps_json_str(ev, "event", "");
  if (!strcmp(kind, "start") || !strcmp(kind, "end")) return record_order(j, ps_json_int(ev, "trial", -1), !strcmp(kind, "end"));
  return PS_OK;
}

static ps_status fold_event(ps_journal *j, const cJSON *ev) {
  const char *kind = ps_json_str(ev, "event", NULL);
  const cJSON *num = cJSON_GetObjectItemCaseSensitive(ev, "trial");
  if (!kind || !cJSON_IsNumber(num)) return PS_ERR_DATA;
  int number = num->valueint;
  ps_trial *t = ps_journal_trial(j, number);
  if (!strcmp(kind, "start")) {
    if (t && t->state != PS_TRIAL_RUNNING) return PS_ERR_DATA; /* never start a finished trial twice */
    /* params other than an object: a bad event (an array crashed the Optuna export, fuzz_export) */
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(ev, "params");
    if (p && !cJSON_IsObject(p)) return PS_ERR_DATA;
    if (!t) {
      if (j->n == j->cap) {
        int cap = j->cap ? 2 * j->cap : 64;
        ps_trial *nt = realloc(j->trials, (size_t)cap * sizeof *nt);
        if (!nt) return PS_ERR_NOMEM;
        j->trials = nt;
        j->cap = cap;
      }
      t = &j->trials[j->n++];
    } else {
      trial_clear(t);
    }
    memset(t, 0, sizeof *t);
    t->number = number;
    snprintf(t->phase, sizeof t->phase, "%s", ps_json_str(ev, "phase", "proxy"));
    t->state = PS_TRIAL_RUNNING;
    t->value = NAN;
    t->ref = ps_json_int(ev, "ref", -1);
    t->params = p ? cJSON_Duplicate(p, 1) : cJSON_CreateObject();
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(ev, "x");
    t->x = x ? cJSON_Duplicate(x, 1) : NULL;
    t->intermediate = cJSON_CreateArray();
    return PS_OK;
  }
  if (!t) return PS_ERR_DATA;
  if (!strcmp(kind, "intermediate")) {
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateNumber(ps_json_num(ev, "step", 0)));
    cJSON_AddItemToArray(pair, cJSON_CreateNumber(ps_json_num(ev, "value", NAN)));
    cJSON_AddItemToArray(t->intermediate, pair);
    return PS_OK;
  }
  if (!strcmp(kind, "end")) {
    if (t->state != PS_TRIAL_RUNNING) return PS_ERR_DATA; /* COMPLETE twice would count twice */
    ps_trial_state s;
    if (!ps_trial_state_parse(ps_json_str(ev, "state", ""), &s) || s == PS_TRIAL_RUNNING) return PS_ERR_DATA;
    t->state = s;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, "value");
    t->value = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    t->seconds = ps_json_num(ev, "seconds", 0);
    t->extra = cJSON_Duplicate(ev, 1);
    return PS_OK;
  }
  return PS_ERR_DATA;
}

ps_status ps_journal_open(const char *path, ps_journal **out) {
  *out = NULL;
  ps_journal *j = calloc(1, sizeof *j);
  if (!j || !(j->path = ps_strdup(path))) { free(j); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  if (ps_path_exists(path)) {
    char *buf;
    size_t n;
    ps_status st = ps_read_file(path, 0, &buf, &n);
    if (st) { ps_journal_free(j); return st; }
    int lineno = 0;
    for (char *line = buf, *next; line && *line; line = next) {
      next = strchr(line, '\n');
      lineno++;
      if (!next) {
        /* no newline: the write of this line was torn by a crash. Terminate it so
         * that the next event starts a line of its own instead of being glued
         * onto the fragment (and lost with it). A fragment that is a whole event
         * (only the newline was lost) counts, as it will once terminated. */
        cJSON *ev = cJSON_Parse(line);
        ps_status est = ev ? apply_event(j, ev) : PS_ERR_DATA;
        cJSON_Delete(ev);
        if (est == PS_ERR_NOMEM) { free(buf); ps_journal_free(j); return ps_error(est, "out of memory"); }
        if (est) {
          ps_warn("%s:%d: incomplete last line (torn write), skipped and terminated", path, lineno);
          j->skipped_lines++;
        }
        st = ps_append_line_fsync(path, "");
        if (st) { free(buf); ps_journal_free(j); return ps_error_prefix(st, "repairing the torn journal"); }
        break;
      }
      *next++ = 0;
      if (!*line) continue;
      cJSON *ev = cJSON_Parse(line);
      ps_status est = ev ? apply_event(j, ev) : PS_ERR_DATA;
      if (est == PS_ERR_NOMEM) { cJSON_Delete(ev); free(buf); ps_journal_free(j); return ps_error(est, "out of memory"); }
      if (est) {
        ps_warn("%s:%d: corrupt or inconsistent journal line, skipped", path, lineno);
        j->skipped_lines++;
      }
      cJSON_Delete(ev);
    }
    free(buf);
  }
  *out = j;
  return PS_OK;
}

/* Whether an event is consistent with the trials so far (checked before writing,
 * so the file never holds an event that loading would reject). */
static bool event_allowed(ps_journal *j, const cJSON *ev) {
  const char *kind = ps_json_str(ev, "event", "");
  ps_trial *t = ps_journal_trial(j, ps_json_int(ev, "trial", -1));
  if (!strcmp(kind, "start")) return !t || t->state == PS_TRIAL_RUNNING;
  return t && t->state == PS_TRIAL_RUNNING;
}

static ps_status append(ps_journal *j, cJSON *ev) {
  if (!event_allowed(j, ev)) {
    ps_status st = ps_error(PS_ERR_INVALID, "%s: trial %d: %s event for a trial that is %s", j->path,
                            ps_json_int(ev, "trial", -1), ps_json_str(ev, "event", "?"),
                            ps_journal_trial(j, ps_json_int(ev, "trial", -1)) ? "already finished" : "not started");
    cJSON_Delete(ev);
    return st;
  }
  char ts[32];
  cJSON_AddStringToObject(ev, "time", ps_timestamp_iso(ts, sizeof ts));
  char *line = cJSON_PrintUnformatted(ev);
  if (!line) { cJSON_Delete(ev); return ps_error(PS_ERR_NOMEM, "out of memory"); }
  ps_status st = ps_append_line_fsync(j->path, line);
  if (!st) {
    st = apply_event(j, ev);
    if (st) st = ps_error(st, "%s: inconsistent event %s", j->path, line);
  }
  free(line);
  cJSON_Delete(ev);
  return st;
}

ps_status ps_journal_start(ps_journal *j, int number, const char *phase, int ref, const cJSON *params,
                           const double *x, int d, uint64_t seed) {
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "event", "start");
  cJSON_AddNumberToObject(ev, "trial", number);
  cJSON_AddStringToObject(ev, "phase", phase);
  if (ref >= 0) cJSON_AddNumberToObject(ev, "ref", ref);
  cJSON_AddItemToObject(ev, "params", params ? cJSON_Duplicate(params, 1) : cJSON_CreateObject());
  if (x) {
    cJSON *xa = cJSON_AddArrayToObject(ev, "x");
    for (int i = 0; i < d; i++) cJSON_AddItemToArray(xa, cJSON_CreateNumber(x[i]));
  }
  cJSON_AddNumberToObject(ev, "seed", (double)seed);
  return append(j, ev);
}

ps_status ps_journal_intermediate(ps_journal *j, int number, int step, double value) {
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "event", "intermediate");
  cJSON_AddNumberToObject(ev, "trial", number);
  cJSON_AddNumberToObject(ev, "step", step);
  cJSON_AddNumberToObject(ev, "value", value);
  return append(j, ev);
}

ps_status ps_journal_end(ps_journal *j, int number, ps_trial_state state, double value, double seconds,
                         const cJSON *fields) {
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "event", "end");
  cJSON_AddNumberToObject(ev, "trial", number);
  cJSON_AddStringToObject(ev, "state", ps_trial_state_name(state));
  if (isfinite(value)) cJSON_AddNumberToObject(ev, "value", value);
  else cJSON_AddNullToObject(ev, "value");
  cJSON_AddNumberToObject(ev, "seconds", seconds);
  if (fields) {
    const cJSON *it;
    cJSON_ArrayForEach(it, fields) {
      if (!cJSON_GetObjectItemCaseSensitive(ev, it->string)) /* the event's own keys win */
        cJSON_AddItemToObject(ev, it->string, cJSON_Duplicate(it, 1));
    }
  }
  return append(j, ev);
}

int ps_journal_phase(ps_journal *j, const char *phase, ps_trial ***out) {
  *out = calloc((size_t)(j->n ? j->n : 1), sizeof **out);
  int k = 0;
  if (!*out) return 0;
  for (int i = 0; i < j->n; i++)
    if (!strcmp(j->trials[i].phase, phase)) (*out)[k++] = &j->trials[i];
  /* number order (insertion order is already it, except for re-runs) */
  for (int a = 1; a < k; a++)
    for (int b = a; b > 0 && (*out)[b - 1]->number > (*out)[b]->number; b--) {
      ps_trial *tmp = (*out)[b];
      (*out)[b] = (*out)[b - 1];
      (*out)[b - 1] = tmp;
    }
  return k;
}
