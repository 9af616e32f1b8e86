/* Trainer plugins: call order and composition, the holdout's validation
 * mini-batches, plugin state through a kill -9 and resume (bit-identical
 * weights and state), stopping (pruning), bad plugin lists, and weight
 * snapshots with and without the optimiser's moments (Adam and SGD). */
#include "testutil.h"
#include "tiny_cases.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a recording plugin: its state must survive a resume ---- */
typedef struct {
  int before, after, optim, vals, epoch_seen;
  double rng_sum, val_loss_sum;
  float *vimg;
  uint8_t *vlab;
} recorder;

static ps_status rec_create(const cJSON *opts, ps_train_ctx *c, void **st) {
  (void)opts;
  recorder *r = calloc(1, sizeof *r);
  size_t pv = (size_t)c->patch[0] * c->patch[1] * c->patch[2];
  r->vimg = malloc((size_t)c->batch * c->channels * pv * sizeof(float));
  r->vlab = malloc((size_t)c->batch * pv);
  *st = r;
  return PS_OK;
}
static void rec_destroy(void *st) {
  recorder *r = st;
  if (!r) return;
  free(r->vimg);
  free(r->vlab);
  free(r);
}
static ps_status rec_before(void *st, ps_train_ctx *c) {
  recorder *r = st;
  r->before++;
  r->rng_sum += ps_rng_uniform(c->rng);
  double l;
  ps_status s = ps_train_ctx_val_batch(c, r->vimg, r->vlab);
  if (!s) s = ps_train_ctx_loss(c, r->vimg, r->vlab, false, &l);
  if (!s) r->val_loss_sum += l;
  return s;
}
static ps_status rec_optim(void *st, ps_train_ctx *c) {
  recorder *r = st;
  if (c->lookahead) return ps_error(PS_ERR_RUNTIME, "unexpected look-ahead");
  r->optim++;
  return PS_OK;
}
static ps_status rec_after(void *st, ps_train_ctx *c) {
  recorder *r = st;
  r->after++;
  if (!isfinite(c->loss_value)) return ps_error(PS_ERR_RUNTIME, "after_step without a loss");
  return PS_OK;
}
static ps_status rec_val(void *st, ps_train_ctx *c, double dice, bool *stop) {
  recorder *r = st;
  (void)dice;
  r->vals++;
  r->epoch_seen = c->epoch;
  *stop = false;
  return PS_OK;
}
static ps_status rec_save(void *st, cJSON **out) {
  recorder *r = st;
  *out = cJSON_CreateObject();
  cJSON_AddNumberToObject(*out, "before", r->before);
  cJSON_AddNumberToObject(*out, "after", r->after);
  cJSON_AddNumberToObject(*out, "optim", r->optim);
  cJSON_AddNumberToObject(*out, "vals", r->vals);
  /* doubles as text with 17 digits: exact through JSON */
  char b[64];
  snprintf(b, sizeof b, "%.17g", r->rng_sum);
  cJSON_AddStringToObject(*out, "rng_sum", b);
  snprintf(b, sizeof b, "%.17g", r->val_loss_sum);
  cJSON_AddStringToObject(*out, "val_loss_sum", b);
  return PS_OK;
}
static ps_status rec_load(void *st, const cJSON *in) {
  recorder *r = st;
  if (!in) return ps_error(PS_ERR_DATA, "no recorder state in the checkpoint");
  r->before = ps_json_int(in, "before", -1);
  r->after = ps_json_int(in, "after", -1);
  r->optim = ps_json_int(in, "optim", -1);
  r->vals = ps_json_int(in, "vals", -1);
  r->rng_sum = strtod(ps_json_str(in, "rng_sum", "nan"), NULL);
  r->val_loss_sum = strtod(ps_json_str(in, "val_loss_sum", "nan"), NULL);
  return PS_OK;
}
static ps_status rec_result(void *st, ps_train_ctx *c) {
  cJSON *j = NULL;
  rec_save(st, &j);
  char *p = ps_path_join(c->out_dir, "recorder.json");
  ps_status s = ps_json_write(p, j);
  free(p);
  cJSON_Delete(j);
  return s;
}
static const ps_train_plugin recorder_plugin = {
    .name = "recorder", .needs_holdout = true, .create = rec_create, .before_step = rec_before,
    .before_optim_step = rec_optim, .after_step = rec_after, .after_validation = rec_val, .save_state = rec_save,
    .load_state = rec_load, .result = rec_result, .destroy = rec_destroy};

/* kill -9 in the middle of epoch 2 (after epoch 1's checkpoint) */
static ps_status killer_before(void *st, ps_train_ctx *c) {
  (void)st;
  if (c->epoch == 2 && c->iter == 1) raise(SIGKILL);
  return PS_OK;
}
static const ps_train_plugin killer_plugin = {.name = "killer", .before_step = killer_before};

static ps_status stopper_val(void *st, ps_train_ctx *c, double dice, bool *stop) {
  (void)st; (void)c; (void)dice;
  *stop = true;
  return PS_OK;
}
static const ps_train_plugin stopper_plugin = {.name = "stopper", .after_validation = stopper_val};
static ps_status own_step(void *st, ps_train_ctx *c) { (void)st; c->loss_value = 1; return PS_OK; }
static const ps_train_plugin owner_a = {.name = "owner_a", .step = own_step};
static const ps_train_plugin owner_b = {.name = "owner_b", .step = own_step};
static ps_status noholdout_before(void *st, ps_train_ctx *c) { (void)st; return ps_train_ctx_val_batch(c, c->img, c->lab); }
static const ps_train_plugin noholdout_plugin = {.name = "noholdout", .before_step = noholdout_before};

#define NCASES TINY_NCASES
static ps_case cases[NCASES];

static ps_status run(const char *dir, const cJSON *cfg, const ps_train_plugin_use *pl, int np, bool resume,
                     ps_train_result *res) {
  return tiny_run(cases, cfg, dir, pl, np, resume, res);
}

static cJSON *read_json_in(const char *dir, const char *name) {
  char *p = ps_path_join(dir, name);
  cJSON *j = NULL;
  if (ps_json_read(p, &j)) j = NULL;
  free(p);
  return j;
}

static void test_resume(void) {
  cJSON *cfg = tiny_config("adam", 3, 3);
  char *a = ps_test_tmpdir("plugins_a"), *b = ps_test_tmpdir("plugins_b");
  ps_train_plugin_use two[] = {{&recorder_plugin, NULL}, {&killer_plugin, NULL}};
  ps_train_result ra, rb;
  CHECK_OK(run(a, cfg, two, 1, false, &ra));
  cJSON *sa = read_json_in(a, "recorder.json");
  CHECK(sa && ps_json_int(sa, "before", 0) == 9 && ps_json_int(sa, "after", 0) == 9 && ps_json_int(sa, "optim", 0) == 9,
        "3 epochs x 3 steps: 9 calls each of before_step, before_optim_step, after_step");
  CHECK(sa && ps_json_int(sa, "vals", 0) == 3, "one after_validation per epoch (val.every 1)");
  /* a fresh process (fork + exec: OpenMP's threads do not survive a bare fork) */
  pid_t pid = fork();
  if (pid == 0) {
    execl("/proc/self/exe", "test_plugins", "killed-run", b, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child was killed mid-epoch 2");
  CHECK_OK(run(b, cfg, two, 1, true, &rb));
  cJSON *sb = read_json_in(b, "recorder.json");
  char *ja = sa ? cJSON_PrintUnformatted(sa) : NULL, *jb = sb ? cJSON_PrintUnformatted(sb) : NULL;
  CHECK(ja && jb && !strcmp(ja, jb), "plugin state after kill + resume equals the uninterrupted run's: %s vs %s", ja, jb);
  size_t na = 0, nb = 0;
  float *pa = tiny_final_params(a, &na), *pb = tiny_final_params(b, &nb);
  CHECK(pa && pb && na == nb && !memcmp(pa, pb, na * sizeof(float)), "weights after kill + resume are bit-identical");
  CHECK(ra.mean_dice == rb.mean_dice, "same final Dice: %.6f vs %.6f", ra.mean_dice, rb.mean_dice);
  free(pa); free(pb); free(ja); free(jb);
  cJSON_Delete(sa); cJSON_Delete(sb);
  ps_train_result_free(&ra);
  ps_train_result_free(&rb);

  /* stopping, and refused plugin lists */
  ps_train_plugin_use stop[] = {{&stopper_plugin, NULL}};
  ps_train_result rs;
  CHECK_OK(run(a, cfg, stop, 1, false, &rs));
  CHECK(rs.pruned && rs.epochs_done == 1, "a plugin's stop ends the run after the first validation (pruned %d, epochs %d)",
        rs.pruned, rs.epochs_done);
  ps_train_result_free(&rs);
  ps_train_plugin_use owners[] = {{&owner_a, NULL}, {&owner_b, NULL}};
  CHECK(run(a, cfg, owners, 2, false, &rs) == PS_ERR_INVALID && strstr(ps_last_error(), "both replace"),
        "two plugins replacing the weight step are refused: %s", ps_last_error());
  ps_train_result_free(&rs);
  ps_train_plugin_use dup[] = {{&recorder_plugin, NULL}, {&recorder_plugin, NULL}};
  CHECK(run(a, cfg, dup, 2, false, &rs) == PS_ERR_INVALID, "the same plugin twice is refused");
  ps_train_result_free(&rs);
  ps_train_plugin_use nh[] = {{&noholdout_plugin, NULL}};
  CHECK(run(a, cfg, nh, 1, false, &rs) == PS_ERR_INVALID && strstr(ps_last_error(), "needs_holdout"),
        "validation mini-batches without a holdout are refused: %s", ps_last_error());
  ps_train_result_free(&rs);
  free(a);
  free(b);
  cJSON_Delete(cfg);
}

/* snapshot → look-ahead step → restore, for one optimiser */
static void test_snapshot(const char *kind) {
  cJSON *arch = cJSON_Parse("{\"stages\":2,\"base_features\":4}");
  ps_net *net = NULL;
  CHECK_OK(ps_net_create(arch, 1, 2, 3, &net));
  cJSON_Delete(arch);
  if (!net) return;
  ps_params *p = ps_net_params(net);
  ps_optim *o = ps_optim_create(kind, p, NULL);
  size_t n = ps_params_numel(p);
  float *g = ps_params_grad(p);
  ps_rng *r = ps_rng_create(5);
  for (int s = 0; s < 3; s++) { /* build up moments */
    for (size_t i = 0; i < n; i++) g[i] = (float)ps_rng_normal(r, 1);
    CHECK_OK(ps_optim_step(o, 0.01f));
  }
  float *w0 = malloc(n * sizeof(float)), *m0 = malloc(n * sizeof(float));
  memcpy(w0, ps_params_data(p), n * sizeof(float));
  memcpy(m0, ps_optim_state(o, 0, NULL), n * sizeof(float));
  int64_t steps0 = ps_optim_step_count(o);
  for (int with = 0; with < 2; with++) {
    ps_weight_snapshot *snap = NULL;
    CHECK_OK(ps_weight_snapshot_take(net, with ? o : NULL, &snap));
    for (size_t i = 0; i < n; i++) g[i] = (float)ps_rng_normal(r, 1);
    CHECK_OK(ps_optim_step(o, 0.01f));
    CHECK(memcmp(w0, ps_params_data(p), n * sizeof(float)) != 0, "%s: the look-ahead step moved the weights", kind);
    ps_weight_snapshot_restore(snap, net, o);
    ps_weight_snapshot_free(snap);
    CHECK(!memcmp(w0, ps_params_data(p), n * sizeof(float)), "%s: weights restored bit-exactly", kind);
    bool moments_same = !memcmp(m0, ps_optim_state(o, 0, NULL), n * sizeof(float));
    if (with)
      CHECK(moments_same && ps_optim_step_count(o) == steps0, "%s: with the optimiser, moments and step count restored", kind);
    else
      CHECK(!moments_same && ps_optim_step_count(o) == steps0 + 1,
            "%s: weights only: the look-ahead's moments and step count stay (as in the paper's code)", kind);
    /* put the moments back for the next round */
    memcpy(ps_optim_state(o, 0, NULL), m0, n * sizeof(float));
    ps_optim_set_step_count(o, steps0);
  }
  free(w0);
  free(m0);
  ps_rng_free(r);
  ps_optim_free(o);
  ps_net_free(net);
}

int main(int argc, char **argv) {
  ps_threads_set(1);
  ps_log_set_level(PS_LOG_WARN);
  tiny_cases_make(cases, NCASES, 11);
  if (argc == 3 && !strcmp(argv[1], "killed-run")) { /* the child of test_resume: killed in epoch 2 */
    cJSON *cfg = tiny_config("adam", 3, 3);
    ps_train_plugin_use two[] = {{&recorder_plugin, NULL}, {&killer_plugin, NULL}};
    ps_train_result r;
    run(argv[2], cfg, two, 2, false, &r);
    return 3; /* not reached */
  }
  test_snapshot("adam");
  test_snapshot("sgd");
  test_resume();
  tiny_cases_free(cases, NCASES);
  return ps_test_done("test_plugins");
}
