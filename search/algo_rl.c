/* RL search of training strategies (Yang et al., "Searching Learning Strategy
 * with Reinforcement Learning for 3D Medical Image Segmentation", MICCAI 2019):
 * an LSTM controller proposes strategy C_i from C_{i-1}; each strategy is a
 * trial whose validation score is the reward; the controller is updated with
 * PPO (clipped surrogate, EMA baseline, entropy bonus) and RMSprop.
 *
 * Rounds: the K proposals of a round are sampled when the round is opened, from
 * one controller state, chained anchor → C_1 → … → C_K through the LSTM; the
 * anchor is the best strategy found so far (the centre of the space at first).
 * Tells may come in any order; when the oldest open round has all K tells, the
 * controller is updated on it. A driver that keeps more trials running than
 * the open round has left (it asks again as soon as one trial ends) gets the
 * next round opened early, from the current controller: its log-probabilities
 * are recorded at sampling time, so PPO's ratio π_new/π_old corrects for the
 * update(s) made in between, and every trial counts for the policy. */
#include "algo_state.h"
#include "rl_controller.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int index;                              /* 0, 1, ... in opening order */
  int n_handed, n_told;
  double *anchor, *props, *logp, *reward; /* anchor [d], props [K*d], logp/reward [K] */
  bool *told, *failed;                    /* [K] */
} rl_round;

typedef struct {
  int d, K, epochs, hidden;
  double lr, rms_decay, rms_eps, rms_init, clip, ent, bdecay, grad_clip;
  bool norm_adv;
  rl_controller *ctrl;
  ps_tape *tape;
  ps_rng *rng;
  float *rms;          /* RMSprop's running mean of squared gradients, one per parameter */
  size_t np;
  rl_round *open;      /* open rounds, oldest first */
  int n_open, cap_open;
  int n_opened, n_updates;
  double baseline;
  bool have_baseline;
  double best, min_reward, *best_x;
  bool have_best;
  cJSON *trials, *rounds; /* report rows (saved, so a resumed study reports everything) */
} rl_state;

static const char *const known_opts[] = {"k", "ppo_epochs", "baseline_decay", "entropy", "lr", "rms_decay", "rms_eps",
                                         "rms_init", "clip", "grad_clip", "hidden", "normalize_advantage", NULL};

static void round_free(rl_round *q) {
  free(q->anchor);
  free(q->props);
  free(q->logp);
  free(q->reward);
  free(q->told);
  free(q->failed);
  memset(q, 0, sizeof *q);
}

static bool round_alloc(rl_round *q, int d, int K) {
  memset(q, 0, sizeof *q);
  q->anchor = calloc((size_t)d, sizeof(double));
  q->props = calloc((size_t)K * d, sizeof(double));
  q->logp = calloc((size_t)K, sizeof(double));
  q->reward = calloc((size_t)K, sizeof(double));
  q->told = calloc((size_t)K, sizeof(bool));
  q->failed = calloc((size_t)K, sizeof(bool));
  if (q->anchor && q->props && q->logp && q->reward && q->told && q->failed) return true;
  round_free(q);
  return false;
}

static void rl_destroy(void *state) {
  rl_state *r = state;
  if (!r) return;
  rl_ctrl_free(r->ctrl);
  ps_tape_free(r->tape);
  ps_rng_free(r->rng);
  free(r->rms);
  for (int i = 0; i < r->n_open; i++) round_free(&r->open[i]);
  free(r->open);
  free(r->best_x);
  cJSON_Delete(r->trials);
  cJSON_Delete(r->rounds);
  free(r);
}

static ps_status check_opts(const cJSON *opts) {
  if (!opts) return PS_OK;
  if (!cJSON_IsObject(opts)) return ps_error(PS_ERR_INVALID, "rl: options must be a JSON object");
  const cJSON *it;
  cJSON_ArrayForEach(it, opts) {
    bool ok = false;
    for (int i = 0; known_opts[i]; i++) ok |= !strcmp(it->string, known_opts[i]);
    if (!ok)
      return ps_error(PS_ERR_INVALID, "rl: unknown option '%s' (known: k, ppo_epochs, baseline_decay, entropy, lr, "
                      "rms_decay, rms_eps, rms_init, clip, grad_clip, hidden, normalize_advantage)", it->string);
  }
  return PS_OK;
}

static ps_status rl_create(const ps_space *s, const cJSON *opts, uint64_t seed, void **state) {
  *state = NULL;
  ps_status st = check_opts(opts);
  if (st) return st;
  rl_state *r = calloc(1, sizeof *r);
  if (!r) return ps_error(PS_ERR_NOMEM, "rl: out of memory");
  r->d = s->n;
  r->K = ps_json_int(opts, "k", 4);
  r->epochs = ps_json_int(opts, "ppo_epochs", 4);
  r->hidden = ps_json_int(opts, "hidden", 32);
  r->lr = ps_json_num(opts, "lr", 0.1);
  r->rms_decay = ps_json_num(opts, "rms_decay", 0.9);
  r->rms_eps = ps_json_num(opts, "rms_eps", 1e-8);
  /* the paper's era's RMSprop (TensorFlow 1) starts the mean square at 1, not
   * 0: with lr 0.1 a zero start makes the first steps ~0.3 per weight */
  r->rms_init = ps_json_num(opts, "rms_init", 1.0);
  r->clip = ps_json_num(opts, "clip", 0.2);
  r->ent = ps_json_num(opts, "entropy", 1e-2);
  r->bdecay = ps_json_num(opts, "baseline_decay", 0.9);
  r->grad_clip = ps_json_num(opts, "grad_clip", 1.0);
  r->norm_adv = ps_json_bool(opts, "normalize_advantage", true);
  if (r->K < 1 || r->K > 4096 || r->epochs < 1 || r->hidden < 1 || r->hidden > 4096 || !(r->lr > 0) ||
      !(r->rms_decay >= 0 && r->rms_decay < 1) || !(r->rms_eps > 0) || !(r->rms_init >= 0) || !(r->clip > 0) ||
      !(r->ent >= 0) || !(r->bdecay >= 0 && r->bdecay < 1) || !(r->grad_clip >= 0)) {
    rl_destroy(r);
    return ps_error(PS_ERR_INVALID, "rl: option out of range (need 1 <= k <= 4096, ppo_epochs >= 1, 1 <= hidden <= 4096, "
                    "lr > 0, 0 <= rms_decay < 1, rms_eps > 0, rms_init >= 0, clip > 0, entropy >= 0, "
                    "0 <= baseline_decay < 1, grad_clip >= 0)");
  }
  /* the weights get their own stream so that sampling never depends on the init */
  r->ctrl = rl_ctrl_create(s, r->hidden, ps_seed_derive(seed, 1));
  r->tape = ps_tape_create();
  r->rng = ps_rng_create(ps_seed_derive(seed, 2));
  r->best_x = calloc((size_t)r->d, sizeof(double));
  r->trials = cJSON_CreateArray();
  r->rounds = cJSON_CreateArray();
  if (r->ctrl) {
    r->np = ps_params_numel(rl_ctrl_params(r->ctrl));
    r->rms = malloc(r->np * sizeof(float));
    for (size_t i = 0; r->rms && i < r->np; i++) r->rms[i] = (float)r->rms_init;
  }
  if (!r->ctrl || !r->tape || !r->rng || !r->best_x || !r->trials || !r->rounds || !r->rms) {
    rl_destroy(r);
    return ps_error(PS_ERR_NOMEM, "rl: out of memory");
  }
  r->best = -INFINITY;
  r->min_reward = INFINITY;
  *state = r;
  return PS_OK;
}

/* Open a round: sample its K chained proposals from the current controller. */
static ps_status open_round(rl_state *r) {
  if (r->n_open == r->cap_open) {
    int cap = r->cap_open ? 2 * r->cap_open : 4;
    rl_round *o = realloc(r->open, (size_t)cap * sizeof *o);
    if (!o) return ps_error(PS_ERR_NOMEM, "rl: out of memory");
    r->open = o;
    r->cap_open = cap;
  }
  rl_round *q = &r->open[r->n_open];
  if (!round_alloc(q, r->d, r->K)) return ps_error(PS_ERR_NOMEM, "rl: out of memory");
  q->index = r->n_opened;
  for (int i = 0; i < r->d; i++) q->anchor[i] = r->have_best ? r->best_x[i] : 0.5;
  ps_tape_set_grad_enabled(r->tape, false);
  ps_tape_reset(r->tape);
  ps_tensor *h = NULL, *cell = NULL, *out;
  ps_status st = PS_OK;
  for (int k = 0; k < r->K && !st; k++) {
    const double *prev = k ? q->props + (size_t)(k - 1) * r->d : q->anchor;
    double *x = q->props + (size_t)k * r->d;
    st = rl_ctrl_step(r->ctrl, r->tape, prev, h, cell, &h, &cell, &out);
    if (st) break;
    rl_ctrl_sample(r->ctrl, out->data, r->rng, x);
    q->logp[k] = rl_ctrl_logp(r->ctrl, out->data, x, NULL, NULL, NULL);
  }
  ps_tape_set_grad_enabled(r->tape, true);
  if (st) {
    round_free(q);
    return st;
  }
  r->n_open++;
  r->n_opened++;
  return PS_OK;
}

static ps_status rl_ask(void *state, double *x) {
  rl_state *r = state;
  rl_round *q = NULL;
  for (int i = 0; i < r->n_open && !q; i++)
    if (r->open[i].n_handed < r->K) q = &r->open[i];
  if (!q) {
    ps_status st = open_round(r);
    if (st) return st;
    q = &r->open[r->n_open - 1];
  }
  memcpy(x, q->props + (size_t)q->n_handed++ * r->d, (size_t)r->d * sizeof *x);
  return PS_OK;
}

static bool same_x(const double *a, const double *b, int d) {
  for (int i = 0; i < d; i++)
    if (!(fabs(a[i] - b[i]) <= 1e-9)) return false;
  return true;
}

static void note_result(rl_state *r, const double *x, double score, bool failed, int round, const char *kind) {
  if (!failed && score > r->best) {
    r->best = score;
    memcpy(r->best_x, x, (size_t)r->d * sizeof *x);
    r->have_best = true;
  }
  if (!failed && score < r->min_reward) r->min_reward = score;
  cJSON *t = cJSON_CreateObject();
  if (round >= 0) cJSON_AddNumberToObject(t, "round", round);
  cJSON_AddStringToObject(t, "kind", kind);
  if (failed) cJSON_AddNullToObject(t, "reward");
  else cJSON_AddNumberToObject(t, "reward", score);
  cJSON_AddBoolToObject(t, "failed", failed);
  cJSON_AddItemToArray(r->trials, t);
}

/* RMSprop (decay ρ, eps) after clipping the global gradient norm. */
static void rmsprop_step(rl_state *r) {
  ps_params *p = rl_ctrl_params(r->ctrl);
  float *w = ps_params_data(p), *g = ps_params_grad(p);
  double nrm = 0;
  for (size_t i = 0; i < r->np; i++) nrm += (double)g[i] * g[i];
  nrm = sqrt(nrm);
  double scale = r->grad_clip > 0 && nrm > r->grad_clip ? r->grad_clip / nrm : 1.0;
  for (size_t i = 0; i < r->np; i++) {
    double gi = g[i] * scale;
    r->rms[i] = (float)(r->rms_decay * r->rms[i] + (1 - r->rms_decay) * gi * gi);
    w[i] = (float)(w[i] - r->lr * gi / (sqrt((double)r->rms[i]) + r->rms_eps));
  }
}

/* PPO epochs on one completed round. */
static ps_status update(rl_state *r, const rl_round *q) {
  int K = r->K;
  double *rew = malloc((size_t)K * sizeof *rew), *adv = malloc((size_t)K * sizeof *adv);
  if (!rew || !adv) {
    free(rew);
    free(adv);
    return ps_error(PS_ERR_NOMEM, "rl: out of memory");
  }
  /* failed trials get the worst reward seen so far (0 when nothing succeeded yet) */
  double worst = isfinite(r->min_reward) ? r->min_reward : 0, mean = 0;
  for (int k = 0; k < K; k++) {
    rew[k] = q->failed[k] ? worst : q->reward[k];
    mean += rew[k] / K;
  }
  if (!r->have_baseline) {
    r->baseline = mean; /* an EMA started at 0 would call every first-round strategy good */
    r->have_baseline = true;
  }
  double ms = 0;
  for (int k = 0; k < K; k++) {
    adv[k] = rew[k] - r->baseline;
    ms += adv[k] * adv[k] / K;
  }
  /* scale advantages to unit RMS: rewards (Dice) differ by a few hundredths, and
   * the entropy bonus and learning rate should not depend on that scale */
  if (r->norm_adv && ms > 1e-24)
    for (int k = 0; k < K; k++) adv[k] /= sqrt(ms);
  ps_status st = PS_OK;
  double loss = 0, first_loss = 0;
  for (int e = 0; e < r->epochs && !st; e++) {
    st = rl_ppo_loss(r->ctrl, r->tape, q->anchor, q->props, K, q->logp, adv, r->clip, r->ent, true, &loss);
    if (st) break;
    if (!e) first_loss = loss;
    if (!ps_params_grad_finite(rl_ctrl_params(r->ctrl))) {
      st = ps_error(PS_ERR_NONFINITE, "rl: non-finite controller gradient in round %d", q->index);
      break;
    }
    rmsprop_step(r);
  }
  if (!st) {
    cJSON *row = cJSON_CreateObject();
    cJSON_AddNumberToObject(row, "round", q->index);
    cJSON_AddNumberToObject(row, "baseline", r->baseline);
    cJSON_AddNumberToObject(row, "mean_reward", mean);
    cJSON_AddNumberToObject(row, "best", isfinite(r->best) ? r->best : 0);
    cJSON_AddNumberToObject(row, "loss", first_loss);
    cJSON_AddItemToArray(r->rounds, row);
    r->baseline = r->bdecay * r->baseline + (1 - r->bdecay) * mean;
    r->n_updates++;
  }
  free(rew);
  free(adv);
  return st;
}

static ps_status rl_tell(void *state, const double *x, double score, bool failed) {
  rl_state *r = state;
  if (!failed && !isfinite(score)) failed = true;
  for (int i = 0; i < r->n_open; i++) {
    rl_round *q = &r->open[i];
    for (int k = 0; k < q->n_handed; k++) {
      if (q->told[k] || !same_x(x, q->props + (size_t)k * r->d, r->d)) continue;
      q->told[k] = true;
      q->failed[k] = failed;
      q->reward[k] = failed ? 0 : score;
      q->n_told++;
      note_result(r, x, score, failed, q->index, "policy");
      /* update in opening order, so the result does not depend on which round finishes first */
      ps_status st = PS_OK;
      while (!st && r->n_open > 0 && r->open[0].n_told == r->K) {
        st = update(r, &r->open[0]);
        round_free(&r->open[0]);
        memmove(r->open, r->open + 1, (size_t)(r->n_open - 1) * sizeof *r->open);
        r->n_open--;
      }
      return st;
    }
  }
  /* a point this policy did not propose (warm start, an edited journal): it can
   * still become the anchor, but it has no log-probability to learn from */
  note_result(r, x, score, failed, -1, "external");
  return PS_OK;
}

/* Doubles are saved as hex of their bytes: cJSON's printing only round-trips
 * to within an ulp, and an ulp in a log-probability changes the next update. */
static cJSON *dbl_hex(const double *v, int n) { return ps_algo_hex(v, (size_t)n * sizeof *v); }
static bool dbl_unhex(const cJSON *j, double *v, int n) { return ps_algo_unhex(j, v, (size_t)n * sizeof *v); }

static cJSON *bool_array(const bool *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateBool(v[i]));
  return a;
}

static bool read_bools(const cJSON *a, bool *v, int n) {
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return false;
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, a) {
    if (!cJSON_IsBool(it)) return false;
    v[i++] = cJSON_IsTrue(it);
  }
  return true;
}

static ps_status rl_save(void *state, cJSON **out) {
  rl_state *r = state;
  cJSON *j = cJSON_CreateObject();
  if (!j) return ps_error(PS_ERR_NOMEM, "rl: out of memory");
  cJSON_AddStringToObject(j, "algo", "rl");
  cJSON_AddNumberToObject(j, "d", r->d);
  cJSON_AddNumberToObject(j, "k", r->K);
  cJSON_AddNumberToObject(j, "hidden", r->hidden);
  cJSON_AddNumberToObject(j, "n_opened", r->n_opened);
  cJSON_AddNumberToObject(j, "n_updates", r->n_updates);
  /* readable copies for people; the hex fields are what load reads */
  cJSON_AddNumberToObject(j, "baseline", r->baseline);
  if (isfinite(r->best)) cJSON_AddNumberToObject(j, "best", r->best);
  cJSON_AddItemToObject(j, "weights", ps_algo_hex(ps_params_data(rl_ctrl_params(r->ctrl)), r->np * sizeof(float)));
  cJSON_AddItemToObject(j, "rmsprop", ps_algo_hex(r->rms, r->np * sizeof(float)));
  cJSON_AddItemToObject(j, "rng", ps_algo_rng_save(r->rng));
  double sc[3] = {r->baseline, r->best, r->min_reward};
  cJSON_AddItemToObject(j, "scalars_hex", dbl_hex(sc, 3)); /* baseline, best, min_reward */
  cJSON_AddBoolToObject(j, "have_baseline", r->have_baseline);
  cJSON_AddBoolToObject(j, "have_best", r->have_best);
  cJSON_AddItemToObject(j, "best_x_hex", dbl_hex(r->best_x, r->d));
  cJSON *open = cJSON_AddArrayToObject(j, "open_rounds");
  for (int i = 0; i < r->n_open; i++) {
    const rl_round *q = &r->open[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", q->index);
    cJSON_AddNumberToObject(o, "n_handed", q->n_handed);
    cJSON_AddNumberToObject(o, "n_told", q->n_told);
    cJSON_AddItemToObject(o, "anchor_hex", dbl_hex(q->anchor, r->d));
    cJSON_AddItemToObject(o, "proposals_hex", dbl_hex(q->props, r->K * r->d));
    cJSON_AddItemToObject(o, "logp_hex", dbl_hex(q->logp, r->K));
    cJSON_AddItemToObject(o, "reward_hex", dbl_hex(q->reward, r->K));
    cJSON_AddItemToObject(o, "told", bool_array(q->told, r->K));
    cJSON_AddItemToObject(o, "failed", bool_array(q->failed, r->K));
    cJSON_AddItemToArray(open, o);
  }
  cJSON_AddItemToObject(j, "trials", cJSON_Duplicate(r->trials, true));
  cJSON_AddItemToObject(j, "rounds", cJSON_Duplicate(r->rounds, true));
  *out = j;
  return PS_OK;
}

static ps_status load_round(const rl_state *r, const cJSON *o, rl_round *q) {
  if (!round_alloc(q, r->d, r->K)) return ps_error(PS_ERR_NOMEM, "rl: out of memory");
  q->index = ps_json_int(o, "index", -1);
  q->n_handed = ps_json_int(o, "n_handed", -1);
  q->n_told = ps_json_int(o, "n_told", -1);
  int told = 0;
  bool ok = q->index >= 0 && q->n_handed >= 0 && q->n_handed <= r->K && q->n_told >= 0 && q->n_told <= q->n_handed &&
            dbl_unhex(cJSON_GetObjectItemCaseSensitive(o, "anchor_hex"), q->anchor, r->d) &&
            dbl_unhex(cJSON_GetObjectItemCaseSensitive(o, "proposals_hex"), q->props, r->K * r->d) &&
            dbl_unhex(cJSON_GetObjectItemCaseSensitive(o, "logp_hex"), q->logp, r->K) &&
            dbl_unhex(cJSON_GetObjectItemCaseSensitive(o, "reward_hex"), q->reward, r->K) &&
            read_bools(cJSON_GetObjectItemCaseSensitive(o, "told"), q->told, r->K) &&
            read_bools(cJSON_GetObjectItemCaseSensitive(o, "failed"), q->failed, r->K);
  for (int k = 0; ok && k < r->K; k++) told += q->told[k];
  if (ok && told == q->n_told) return PS_OK;
  round_free(q);
  return ps_error(PS_ERR_DATA, "rl: saved state has a malformed open round");
}

static ps_status rl_load(void *state, const cJSON *in) {
  rl_state *r = state;
  if (!cJSON_IsObject(in) || strcmp(ps_json_str(in, "algo", ""), "rl"))
    return ps_error(PS_ERR_DATA, "rl: saved state is not an rl state");
  if (ps_json_int(in, "d", -1) != r->d || ps_json_int(in, "k", -1) != r->K || ps_json_int(in, "hidden", -1) != r->hidden)
    return ps_error(PS_ERR_DATA, "rl: saved state has d=%d k=%d hidden=%d, this search has d=%d k=%d hidden=%d",
                    ps_json_int(in, "d", -1), ps_json_int(in, "k", -1), ps_json_int(in, "hidden", -1), r->d, r->K, r->hidden);
#define GET(name) cJSON_GetObjectItemCaseSensitive(in, name)
  const cJSON *open = GET("open_rounds");
  int n_open = cJSON_IsArray(open) ? cJSON_GetArraySize(open) : -1;
  if (n_open < 0 || !cJSON_IsArray(GET("trials")) || !cJSON_IsArray(GET("rounds")))
    return ps_error(PS_ERR_DATA, "rl: saved state lacks open_rounds, trials or rounds");
  /* decode everything into temporaries first, so a bad state leaves r untouched */
  double sc[3], *best_x = malloc((size_t)r->d * sizeof *best_x);
  float *w = malloc(r->np * sizeof *w), *rms = malloc(r->np * sizeof *rms);
  rl_round *rounds = calloc((size_t)(n_open ? n_open : 1), sizeof *rounds);
  ps_status st = w && rms && best_x && rounds ? PS_OK : ps_error(PS_ERR_NOMEM, "rl: out of memory");
  if (!st && (!ps_algo_unhex(GET("weights"), w, r->np * sizeof(float)) ||
              !ps_algo_unhex(GET("rmsprop"), rms, r->np * sizeof(float)) || !dbl_unhex(GET("scalars_hex"), sc, 3) ||
              !dbl_unhex(GET("best_x_hex"), best_x, r->d)))
    st = ps_error(PS_ERR_DATA, "rl: saved state is incomplete or malformed (weights, rmsprop, scalars, best_x)");
  int n_loaded = 0;
  for (const cJSON *o = open ? open->child : NULL; o && !st; o = o->next)
    if (!(st = load_round(r, o, &rounds[n_loaded]))) n_loaded++;
  ps_rng *rng = st ? NULL : ps_rng_create(0);
  if (!st && !rng) st = ps_error(PS_ERR_NOMEM, "rl: out of memory");
  if (!st) st = ps_algo_rng_load(rng, GET("rng"), "rl");
  if (st) {
    for (int i = 0; i < n_loaded; i++) round_free(&rounds[i]);
    free(rounds);
    free(w);
    free(rms);
    free(best_x);
    ps_rng_free(rng);
    return st;
  }
  memcpy(ps_params_data(rl_ctrl_params(r->ctrl)), w, r->np * sizeof(float));
  memcpy(r->rms, rms, r->np * sizeof(float));
  free(w);
  free(rms);
  ps_rng_free(r->rng);
  r->rng = rng;
  for (int i = 0; i < r->n_open; i++) round_free(&r->open[i]);
  free(r->open);
  r->open = rounds;
  r->n_open = n_loaded;
  r->cap_open = n_open ? n_open : 1;
  free(r->best_x);
  r->best_x = best_x;
  r->baseline = sc[0];
  r->best = sc[1];
  r->min_reward = sc[2];
  r->have_baseline = ps_json_bool(in, "have_baseline", false);
  r->have_best = ps_json_bool(in, "have_best", false);
  r->n_opened = ps_json_int(in, "n_opened", 0);
  r->n_updates = ps_json_int(in, "n_updates", 0);
  cJSON_Delete(r->trials);
  cJSON_Delete(r->rounds);
  r->trials = cJSON_Duplicate(GET("trials"), true);
  r->rounds = cJSON_Duplicate(GET("rounds"), true);
#undef GET
  return PS_OK;
}

static cJSON *rl_report(void *state) {
  rl_state *r = state;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "algo", "rl");
  cJSON_AddNumberToObject(j, "k", r->K);
  cJSON_AddNumberToObject(j, "rounds_done", r->n_updates);
  if (isfinite(r->best)) cJSON_AddNumberToObject(j, "best", r->best);
  cJSON_AddItemToObject(j, "trials", cJSON_Duplicate(r->trials, true));
  cJSON_AddItemToObject(j, "rounds", cJSON_Duplicate(r->rounds, true));
  return j;
}

const ps_algo_vtable ps_algo_rl = {"rl", rl_create, rl_ask, rl_tell, rl_save, rl_load, rl_report, rl_destroy};
