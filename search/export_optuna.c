/* proxyseg export --optuna / --csv: the study journal as Optuna's
 * JournalStorage log (optuna/storages/_journal/storage.py, op codes of
 * JournalOperation) and as a flat CSV. Each trial becomes one CREATE_TRIAL
 * record carrying its whole frozen state, as Optuna's own copy_study writes. */
#include "proxyseg/export.h"
#include "proxyseg/journal.h"
#include "proxyseg/report.h"
#include "proxyseg/search.h"
#include "proxyseg/study.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { OP_CREATE_STUDY = 0, OP_SET_STUDY_USER_ATTR = 2, OP_CREATE_TRIAL = 4 };
/* optuna.trial.TrialState and optuna.study.StudyDirection values */
enum { OPTUNA_RUNNING = 0, OPTUNA_COMPLETE = 1, OPTUNA_PRUNED = 2, OPTUNA_FAIL = 3 };
enum { OPTUNA_MAXIMIZE = 2 };
#define WORKER_ID "proxyseg-export"

/* What journal.h's trial record leaves out: the events' times and the seed. */
typedef struct {
  int number;
  char start[40], end[40];
  double seed;
} trial_times;

/* "2026-11-28T09:31:00Z" -> "2026-11-28T09:31:00.000000": Optuna writes naive
 * local datetimes; ours are naive UTC (documented) so that both kinds compare. */
static void iso_naive(const char *in, char *out, size_t n) {
  size_t l = strlen(in);
  if (l && in[l - 1] == 'Z') l--;
  snprintf(out, n, "%.*s%s", (int)l, in, strchr(in, '.') ? "" : ".000000");
}

static ps_status read_times(const char *path, trial_times **out, int *n_out) {
  *out = NULL;
  *n_out = 0;
  FILE *f = fopen(path, "r");
  if (!f) return ps_error(PS_ERR_IO, "%s: cannot open", path);
  trial_times *v = NULL;
  int n = 0, cap = 0;
  char *line = NULL;
  size_t lcap = 0;
  ps_status st = PS_OK;
  while (!st && getline(&line, &lcap, f) > 0) {
    cJSON *ev = cJSON_Parse(line);
    if (!ev) continue; /* a torn or corrupt line: the journal loader has warned about it */
    int num = ps_json_int(ev, "trial", -1);
    const char *e = ps_json_str(ev, "event", ""), *t = ps_json_str(ev, "time", NULL);
    trial_times *tt = NULL;
    for (int i = 0; i < n && !tt; i++) if (v[i].number == num) tt = &v[i];
    if (!tt && !strcmp(e, "start")) {
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        trial_times *nv = realloc(v, (size_t)cap * sizeof *v);
        if (!nv) st = ps_error(PS_ERR_NOMEM, "out of memory");
        else v = nv;
      }
      if (!st) { tt = &v[n++]; memset(tt, 0, sizeof *tt); tt->number = num; tt->seed = NAN; }
    }
    if (tt && t && !strcmp(e, "start")) { iso_naive(t, tt->start, sizeof tt->start); tt->seed = ps_json_num(ev, "seed", NAN); }
    if (tt && t && !strcmp(e, "end")) iso_naive(t, tt->end, sizeof tt->end);
    cJSON_Delete(ev);
  }
  free(line);
  fclose(f);
  if (st) { free(v); return st; }
  *out = v;
  *n_out = n;
  return PS_OK;
}

/* The study's search space: study.json "space" (an object, a shipped name or a path). NULL if none. */
static ps_space *study_space(const char *dir) {
  char *p = ps_path_join(dir, "study.json");
  cJSON *sj = NULL;
  ps_space *s = NULL;
  if (ps_json_read(p, &sj) == PS_OK) {
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(sj, "space");
    if (spec && ps_study_space(spec, dir, &s) != PS_OK) s = NULL;
  }
  cJSON_Delete(sj);
  free(p);
  return s;
}

/* optuna.distributions.distribution_to_json: a JSON *string* holding {name, attributes}. */
static cJSON *dist_string(cJSON *attrs, const char *name) {
  cJSON *d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "name", name);
  cJSON_AddItemToObject(d, "attributes", attrs);
  char *s = cJSON_PrintUnformatted(d);
  cJSON_Delete(d);
  cJSON *r = cJSON_CreateString(s ? s : "");
  free(s);
  return r;
}

static cJSON *float_dist(double lo, double hi, bool log) {
  cJSON *a = cJSON_CreateObject();
  cJSON_AddNumberToObject(a, "low", lo);
  cJSON_AddNumberToObject(a, "high", hi);
  cJSON_AddBoolToObject(a, "log", log);
  cJSON_AddNullToObject(a, "step");
  return dist_string(a, "FloatDistribution");
}

static cJSON *int_dist(double lo, double hi, bool log) {
  cJSON *a = cJSON_CreateObject();
  cJSON_AddNumberToObject(a, "low", (double)(long long)lo);
  cJSON_AddNumberToObject(a, "high", (double)(long long)hi);
  cJSON_AddBoolToObject(a, "log", log);
  cJSON_AddNumberToObject(a, "step", 1);
  return dist_string(a, "IntDistribution");
}

static int choice_index(const cJSON *choices, const cJSON *v) {
  int i = 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, choices) {
    if (cJSON_Compare(c, v, true) || (cJSON_IsNumber(c) && cJSON_IsNumber(v) && c->valuedouble == v->valuedouble)) return i;
    i++;
  }
  return -1;
}

/* Distribution and internal value of one param of one phase: from the space
 * when it names the key and holds the value, else from the values the phase's
 * trials took (a float range, or the categorical set of them). */
static ps_status param_entry(const ps_space *sp, ps_trial **tr, int n, const char *key, const cJSON *v, cJSON **dist,
                             cJSON **internal) {
  for (int i = 0; sp && i < sp->n; i++) {
    const ps_param *p = &sp->params[i];
    if (strcmp(p->key, key)) continue;
    if (p->kind == PS_PARAM_CATEGORICAL) {
      int k = choice_index(p->choices, v);
      if (k < 0) break;
      cJSON *a = cJSON_CreateObject();
      cJSON_AddItemToObject(a, "choices", cJSON_Duplicate(p->choices, 1));
      *dist = dist_string(a, "CategoricalDistribution");
      *internal = cJSON_CreateNumber(k);
      return PS_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < p->lo || v->valuedouble > p->hi) break;
    *dist = p->kind == PS_PARAM_INT ? int_dist(p->lo, p->hi, p->log) : float_dist(p->lo, p->hi, p->log);
    *internal = cJSON_CreateNumber(v->valuedouble);
    return PS_OK;
  }
  /* outside the space: what the phase's trials took */
  bool numeric = cJSON_IsNumber(v);
  double lo = INFINITY, hi = -INFINITY;
  cJSON *choices = cJSON_CreateArray();
  for (int i = 0; i < n; i++) {
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(tr[i]->params, key);
    if (!w) continue;
    if (numeric && cJSON_IsNumber(w)) { lo = fmin(lo, w->valuedouble); hi = fmax(hi, w->valuedouble); }
    else if ((cJSON_IsString(w) || cJSON_IsBool(w) || cJSON_IsNumber(w) || cJSON_IsNull(w)) && choice_index(choices, w) < 0)
      cJSON_AddItemToArray(choices, cJSON_Duplicate(w, 1));
  }
  if (numeric && cJSON_GetArraySize(choices) == 0) {
    cJSON_Delete(choices);
    *dist = float_dist(lo, hi, false);
    *internal = cJSON_CreateNumber(v->valuedouble);
    return PS_OK;
  }
  int k = choice_index(choices, v);
  if (k < 0) { /* an object or array value: Optuna has no distribution for it */
    cJSON_Delete(choices);
    return ps_error(PS_ERR_DATA, "param '%s' has a value Optuna cannot store (an object or array)", key);
  }
  cJSON *a = cJSON_CreateObject();
  cJSON_AddItemToObject(a, "choices", choices);
  *dist = dist_string(a, "CategoricalDistribution");
  *internal = cJSON_CreateNumber(k);
  return PS_OK;
}

static int optuna_state(ps_trial_state s) {
  switch (s) {
  case PS_TRIAL_COMPLETE: return OPTUNA_COMPLETE;
  case PS_TRIAL_PRUNED: return OPTUNA_PRUNED;
  case PS_TRIAL_FAIL: return OPTUNA_FAIL;
  default: return OPTUNA_RUNNING;
  }
}

typedef struct { char *s; size_t n, cap; bool oom; } sbuf;

static void put_line(sbuf *b, cJSON *rec) {
  char *s = cJSON_PrintUnformatted(rec);
  cJSON_Delete(rec);
  size_t l = s ? strlen(s) : 0;
  if (!s || b->oom) { free(s); b->oom = true; return; }
  if (b->n + l + 2 > b->cap) {
    size_t cap = (b->n + l + 2) * 2;
    char *ns = realloc(b->s, cap);
    if (!ns) { free(s); b->oom = true; return; }
    b->s = ns;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, l);
  b->n += l;
  b->s[b->n++] = '\n';
  b->s[b->n] = 0;
  free(s);
}

static cJSON *record(int op) {
  cJSON *r = cJSON_CreateObject();
  cJSON_AddNumberToObject(r, "op_code", op);
  cJSON_AddStringToObject(r, "worker_id", WORKER_ID);
  return r;
}

static ps_status trial_record(const ps_space *sp, ps_trial **tr, int n, int i, int study_id, const trial_times *tt,
                              cJSON **out) {
  const ps_trial *t = tr[i];
  cJSON *r = record(OP_CREATE_TRIAL);
  cJSON_AddNumberToObject(r, "study_id", study_id);
  int state = optuna_state(t->state);
  cJSON_AddNumberToObject(r, "state", state);
  /* Optuna keeps a value for COMPLETE and (its last report) for PRUNED trials */
  if ((state == OPTUNA_COMPLETE || state == OPTUNA_PRUNED) && isfinite(t->value)) cJSON_AddNumberToObject(r, "value", t->value);
  else cJSON_AddNullToObject(r, "value");
  cJSON_AddNullToObject(r, "values");
  if (tt && tt->start[0]) cJSON_AddStringToObject(r, "datetime_start", tt->start);
  else cJSON_AddNullToObject(r, "datetime_start");
  if (state != OPTUNA_RUNNING && tt && tt->end[0]) cJSON_AddStringToObject(r, "datetime_complete", tt->end);
  cJSON *dists = cJSON_AddObjectToObject(r, "distributions"), *params = cJSON_AddObjectToObject(r, "params");
  const cJSON *p;
  ps_status st = PS_OK;
  cJSON_ArrayForEach(p, t->params) {
    cJSON *d = NULL, *v = NULL;
    st = param_entry(sp, tr, n, p->string, p, &d, &v);
    if (st) break;
    cJSON_AddItemToObject(dists, p->string, d);
    cJSON_AddItemToObject(params, p->string, v);
  }
  if (st) { cJSON_Delete(r); return ps_error_prefix(st, "trial %d: ", t->number); }
  cJSON *ua = cJSON_AddObjectToObject(r, "user_attrs");
  cJSON_AddNumberToObject(ua, "proxyseg_trial", t->number);
  cJSON_AddStringToObject(ua, "phase", t->phase);
  if (tt && isfinite(tt->seed)) cJSON_AddNumberToObject(ua, "seed", tt->seed);
  if (t->state != PS_TRIAL_RUNNING) cJSON_AddNumberToObject(ua, "seconds", t->seconds);
  if (t->ref >= 0) cJSON_AddNumberToObject(ua, "ref", t->ref);
  const char *reason = ps_json_str(t->extra, "reason", NULL);
  if (reason) cJSON_AddStringToObject(ua, "reason", reason);
  cJSON_AddObjectToObject(r, "system_attrs");
  cJSON *iv = cJSON_AddObjectToObject(r, "intermediate_values");
  const cJSON *step;
  cJSON_ArrayForEach(step, t->intermediate) {
    const cJSON *s0 = cJSON_GetArrayItem(step, 0), *s1 = cJSON_GetArrayItem(step, 1);
    if (!cJSON_IsNumber(s0) || !cJSON_IsNumber(s1) || !isfinite(s1->valuedouble)) continue;
    char key[32];
    snprintf(key, sizeof key, "%d", s0->valueint);
    cJSON_DeleteItemFromObjectCaseSensitive(iv, key); /* a resumed trial reports a step again: the last wins */
    cJSON_AddNumberToObject(iv, key, s1->valuedouble);
  }
  *out = r;
  return PS_OK;
}

static ps_status open_study(const char *dir, ps_journal **J, trial_times **tt, int *n_tt) {
  char *sp = ps_path_join(dir, "study.json"), *jp = ps_path_join(dir, "journal.jsonl");
  ps_status st = PS_OK;
  if (!ps_path_exists(sp) || !ps_path_exists(jp))
    st = ps_error(PS_ERR_DATA, "%s: not a study folder (no study.json or journal.jsonl)", dir);
  if (!st) st = ps_journal_open(jp, J);
  if (!st) st = read_times(jp, tt, n_tt);
  free(sp);
  free(jp);
  return st;
}

static const trial_times *find_times(const trial_times *tt, int n, int number) {
  for (int i = 0; i < n; i++) if (tt[i].number == number) return &tt[i];
  return NULL;
}

ps_status ps_export_optuna(const char *study_dir, const char *out_path, cJSON **summary) {
  if (summary) *summary = NULL;
  ps_journal *J = NULL;
  trial_times *tt = NULL;
  int n_tt = 0;
  ps_status st = open_study(study_dir, &J, &tt, &n_tt);
  if (!st && J->n == 0) st = ps_error(PS_ERR_DATA, "%s: the journal holds no trials yet", study_dir);
  ps_space *sp = st ? NULL : study_space(study_dir);
  /* phases in the order they first appear */
  char phases[32][16];
  int n_ph = 0;
  for (int i = 0; !st && i < J->n; i++) {
    bool seen = false;
    for (int k = 0; k < n_ph; k++) seen |= !strcmp(phases[k], J->trials[i].phase);
    if (!seen && n_ph < 32) snprintf(phases[n_ph++], sizeof phases[0], "%s", J->trials[i].phase);
  }
  sbuf b = {0};
  cJSON *sum = cJSON_CreateObject(), *sums = cJSON_AddArrayToObject(sum, "studies");
  for (int k = 0; !st && k < n_ph; k++) {
    cJSON *r = record(OP_CREATE_STUDY);
    cJSON_AddStringToObject(r, "study_name", phases[k]);
    cJSON *dirs = cJSON_AddArrayToObject(r, "directions");
    cJSON_AddItemToArray(dirs, cJSON_CreateNumber(OPTUNA_MAXIMIZE));
    put_line(&b, r);
    const char *attrs[][2] = {{"proxyseg_study", study_dir}, {"phase", phases[k]}, {"objective", "mean validation Dice"}};
    for (int a = 0; a < 3; a++) {
      r = record(OP_SET_STUDY_USER_ATTR);
      cJSON_AddNumberToObject(r, "study_id", k);
      cJSON *ua = cJSON_AddObjectToObject(r, "user_attr");
      cJSON_AddStringToObject(ua, attrs[a][0], attrs[a][1]);
      put_line(&b, r);
    }
    ps_trial **tr = NULL;
    int n = ps_journal_phase(J, phases[k], &tr);
    int complete = 0;
    double best = -INFINITY;
    for (int i = 0; !st && i < n; i++) {
      cJSON *rec = NULL;
      st = trial_record(sp, tr, n, i, k, find_times(tt, n_tt, tr[i]->number), &rec);
      if (!st) put_line(&b, rec);
      if (tr[i]->state == PS_TRIAL_COMPLETE) { complete++; if (tr[i]->value > best) best = tr[i]->value; }
    }
    free(tr);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", phases[k]);
    cJSON_AddNumberToObject(o, "trials", n);
    cJSON_AddNumberToObject(o, "complete", complete);
    if (complete) cJSON_AddNumberToObject(o, "best", best);
    else cJSON_AddNullToObject(o, "best");
    cJSON_AddItemToArray(sums, o);
  }
  if (!st && b.oom) st = ps_error(PS_ERR_NOMEM, "out of memory");
  if (!st) st = ps_write_file_atomic(out_path, b.s, b.n);
  if (st) ps_error_prefix(st, "export --optuna %s: ", out_path);
  free(b.s);
  if (!st && summary) *summary = sum;
  else cJSON_Delete(sum);
  ps_space_free(sp);
  free(tt);
  ps_journal_free(J);
  return st;
}

ps_status ps_export_csv(const char *study_dir, const char *out_path) {
  ps_journal *J = NULL;
  trial_times *tt = NULL;
  int n_tt = 0;
  ps_status st = open_study(study_dir, &J, &tt, &n_tt);
  cJSON *rows = cJSON_CreateArray();
  for (int i = 0; !st && i < J->n; i++) {
    const ps_trial *t = &J->trials[i];
    const trial_times *w = find_times(tt, n_tt, t->number);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "number", t->number);
    cJSON_AddStringToObject(o, "phase", t->phase);
    cJSON_AddStringToObject(o, "state", ps_trial_state_name(t->state));
    if (isfinite(t->value)) cJSON_AddNumberToObject(o, "value", t->value);
    cJSON_AddNumberToObject(o, "seconds", t->seconds);
    if (t->ref >= 0) cJSON_AddNumberToObject(o, "ref", t->ref);
    if (w && isfinite(w->seed)) cJSON_AddNumberToObject(o, "seed", w->seed);
    cJSON_AddItemToObject(o, "params", cJSON_Duplicate(t->params, 1));
    cJSON_AddItemToArray(rows, o);
  }
  if (!st) st = ps_report_write_trials_csv(rows, out_path);
  cJSON_Delete(rows);
  free(tt);
  ps_journal_free(J);
  return st;
}
