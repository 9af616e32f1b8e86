/* Augmentation policy: defaults, JSON (nested or dotted keys) and per-patch
 * parameter draws. Draw order is fixed so a seed gives the same patches. */
#include "proxyseg/augment.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const ps_aug_op_names[PS_AUG_N_OPS] = {
    "rot_x", "rot_y", "rot_z", "scale", "elastic_alpha", "elastic_sigma", "gamma",
    "noise", "smooth", "sharpen", "contrast", "brightness_mul", "shift"};

ps_aug_op *ps_aug_policy_op(ps_aug_policy *pol, int i) {
  ps_aug_op *ops[PS_AUG_N_OPS] = {&pol->rot_x, &pol->rot_y, &pol->rot_z, &pol->scale,
                                  &pol->elastic_alpha, &pol->elastic_sigma, &pol->gamma,
                                  &pol->noise, &pol->smooth, &pol->sharpen, &pol->contrast,
                                  &pol->brightness_mul, &pol->shift};
  return (i >= 0 && i < PS_AUG_N_OPS) ? ops[i] : NULL;
}

static ps_aug_op op(double p, double lo, double hi) { ps_aug_op o = {p, lo, hi}; return o; }

ps_aug_policy ps_aug_policy_none(void) {
  ps_aug_policy a = ps_aug_policy_default();
  for (int i = 0; i < PS_AUG_N_OPS; i++) ps_aug_policy_op(&a, i)->p = 0;
  a.mirror_p[0] = a.mirror_p[1] = a.mirror_p[2] = 0;
  return a;
}

ps_aug_policy ps_aug_policy_default(void) {
  ps_aug_policy a;
  const double r = 30.0 * M_PI / 180.0;
  a.rot_x = op(0.2, -r, r);
  a.rot_y = op(0.2, -r, r);
  a.rot_z = op(0.2, -r, r);
  a.scale = op(0.2, 0.7, 1.4);
  a.elastic_alpha = op(0.0, 0.0, 900.0); /* nnU-Net's (0, 900) and (9, 13), off as there */
  a.elastic_sigma = op(0.0, 9.0, 13.0);
  a.gamma = op(0.3, 0.7, 1.5);
  a.noise = op(0.1, 0.0, 0.1);
  a.smooth = op(0.2, 0.5, 1.0);
  a.sharpen = op(0.0, 0.1, 0.5);
  a.contrast = op(0.15, 0.75, 1.25);
  a.brightness_mul = op(0.15, 0.75, 1.25);
  a.shift = op(0.0, -0.1, 0.1);
  a.mirror_p[0] = a.mirror_p[1] = a.mirror_p[2] = 0.5;
  return a;
}

static int op_index(const char *name, size_t len) {
  for (int i = 0; i < PS_AUG_N_OPS; i++)
    if (strlen(ps_aug_op_names[i]) == len && !strncmp(ps_aug_op_names[i], name, len)) return i;
  return -1;
}

static ps_status set_field(ps_aug_policy *out, const char *opname, size_t oplen, const char *field, const cJSON *v) {
  if (!cJSON_IsNumber(v)) return ps_error(PS_ERR_INVALID, "aug.%.*s.%s: expected a number", (int)oplen, opname, field);
  double x = v->valuedouble;
  if (oplen == 6 && !strncmp(opname, "mirror", 6)) { /* "mirror": {"p": x} sets all axes */
    if (strcmp(field, "p")) return ps_error(PS_ERR_INVALID, "aug.mirror.%s: unknown key (use p)", field);
    out->mirror_p[0] = out->mirror_p[1] = out->mirror_p[2] = x;
    return PS_OK;
  }
  if (oplen == 8 && !strncmp(opname, "mirror_p", 8)) {
    char *end;
    long k = strtol(field, &end, 10);
    if (*end || k < 0 || k > 2) return ps_error(PS_ERR_INVALID, "aug.mirror_p.%s: axis must be 0, 1 or 2", field);
    out->mirror_p[k] = x;
    return PS_OK;
  }
  int i = op_index(opname, oplen);
  if (i < 0) return ps_error(PS_ERR_INVALID, "aug.%.*s: unknown augmentation op", (int)oplen, opname);
  ps_aug_op *o = ps_aug_policy_op(out, i);
  if (!strcmp(field, "p")) o->p = x;
  else if (!strcmp(field, "lo")) o->lo = x;
  else if (!strcmp(field, "hi")) o->hi = x;
  else return ps_error(PS_ERR_INVALID, "aug.%.*s.%s: unknown key (use p, lo, hi)", (int)oplen, opname, field);
  return PS_OK;
}

static ps_status validate(const ps_aug_policy *a) {
  ps_aug_policy c = *a;
  for (int i = 0; i < PS_AUG_N_OPS; i++) {
    const ps_aug_op *o = ps_aug_policy_op(&c, i);
    if (!(o->p >= 0 && o->p <= 1)) return ps_error(PS_ERR_INVALID, "aug.%s.p = %g: must be in [0, 1]", ps_aug_op_names[i], o->p);
    if (!(o->lo <= o->hi)) return ps_error(PS_ERR_INVALID, "aug.%s: lo %g > hi %g", ps_aug_op_names[i], o->lo, o->hi);
  }
  for (int k = 0; k < 3; k++)
    if (!(a->mirror_p[k] >= 0 && a->mirror_p[k] <= 1)) return ps_error(PS_ERR_INVALID, "aug.mirror_p[%d] = %g: must be in [0, 1]", k, a->mirror_p[k]);
  if (a->scale.p > 0 && a->scale.lo <= 0) return ps_error(PS_ERR_INVALID, "aug.scale.lo = %g: zoom factors must be > 0", a->scale.lo);
  if (a->gamma.p > 0 && a->gamma.lo <= 0) return ps_error(PS_ERR_INVALID, "aug.gamma.lo = %g: must be > 0", a->gamma.lo);
  if (a->noise.p > 0 && a->noise.lo < 0) return ps_error(PS_ERR_INVALID, "aug.noise.lo = %g: a variance must be >= 0", a->noise.lo);
  if (a->elastic_alpha.p > 0 && (a->elastic_sigma.lo < 0 || a->elastic_alpha.lo < 0))
    return ps_error(PS_ERR_INVALID, "aug.elastic: alpha.lo = %g and sigma.lo = %g must be >= 0", a->elastic_alpha.lo, a->elastic_sigma.lo);
  return PS_OK;
}

ps_status ps_aug_policy_from_json(const cJSON *aug, ps_aug_policy *out) {
  if (!aug) return PS_OK;
  if (!cJSON_IsObject(aug)) return ps_error(PS_ERR_INVALID, "aug: expected an object");
  ps_aug_policy a = *out;
  ps_status st = PS_OK;
  for (const cJSON *it = aug->child; it && st == PS_OK; it = it->next) {
    const char *key = it->string;
    const char *dot = strchr(key, '.');
    if (dot) {
      st = set_field(&a, key, (size_t)(dot - key), dot + 1, it);
    } else if (!strcmp(key, "mirror_p") && cJSON_IsArray(it)) {
      if (cJSON_GetArraySize(it) != 3) return ps_error(PS_ERR_INVALID, "aug.mirror_p: expected 3 numbers");
      for (int k = 0; k < 3 && st == PS_OK; k++) {
        char f[2] = {(char)('0' + k), 0};
        st = set_field(&a, key, strlen(key), f, cJSON_GetArrayItem(it, k));
      }
    } else if (cJSON_IsObject(it)) {
      for (const cJSON *f = it->child; f && st == PS_OK; f = f->next) st = set_field(&a, key, strlen(key), f->string, f);
    } else {
      st = ps_error(PS_ERR_INVALID, "aug.%s: expected an object {p, lo, hi}", key);
    }
  }
  if (st != PS_OK) return st;
  if ((st = validate(&a)) != PS_OK) return st;
  *out = a;
  return PS_OK;
}

cJSON *ps_aug_policy_to_json(const ps_aug_policy *pol) {
  cJSON *j = cJSON_CreateObject();
  if (!j) return NULL;
  ps_aug_policy c = *pol;
  for (int i = 0; i < PS_AUG_N_OPS; i++) {
    const ps_aug_op *o = ps_aug_policy_op(&c, i);
    cJSON *e = cJSON_AddObjectToObject(j, ps_aug_op_names[i]);
    cJSON_AddNumberToObject(e, "p", o->p);
    cJSON_AddNumberToObject(e, "lo", o->lo);
    cJSON_AddNumberToObject(e, "hi", o->hi);
  }
  cJSON *m = cJSON_AddArrayToObject(j, "mirror_p");
  for (int k = 0; k < 3; k++) cJSON_AddItemToArray(m, cJSON_CreateNumber(pol->mirror_p[k]));
  return j;
}

/* Always consume the same number of draws per op, so toggling one op does not
 * shift the random stream of the others (keeps searches' comparisons paired). */
static bool draw_op(const ps_aug_op *o, ps_rng *r, double *val) {
  double u = ps_rng_uniform(r), v = ps_rng_uniform(r);
  *val = o->lo + (o->hi - o->lo) * v;
  return o->p > 0 && u < o->p;
}

/* Scale and gamma as batchgenerators draws them: with probability 1/2 (when
 * lo < 1) from [lo, 1], else from [max(lo, 1), hi], so that shrinking and
 * enlarging (darkening and brightening) are equally likely whatever the
 * interval's asymmetry. Same two draws as draw_op. */
static bool draw_split(const ps_aug_op *o, ps_rng *r, double *val) {
  double u = ps_rng_uniform(r), v = ps_rng_uniform(r);
  if (o->lo < 1 && v < 0.5) *val = o->lo + (1 - o->lo) * (2 * v);
  else {
    double a = o->lo > 1 ? o->lo : 1, t = o->lo < 1 ? 2 * v - 1 : v;
    *val = a + (o->hi - a) * t;
  }
  return o->p > 0 && u < o->p;
}

void ps_aug_draw_sample(const ps_aug_policy *pol, ps_rng *r, ps_aug_draw *d) {
  memset(d, 0, sizeof *d);
  d->scale = 1;
  if (!pol) return;
  double v;
  /* Rotation as batchgenerators decides it: ONE uniform per sample (p_rot),
   * then an angle per axis from its own range. Axis k rotates when that
   * uniform is below its p_k: with equal p's (the default, ASNG's p_rot) all
   * three axes rotate together or none; with unequal p's each axis keeps its
   * marginal p_k and some rotation happens with max p_k. Four draws always. */
  const ps_aug_op *rot[3] = {&pol->rot_x, &pol->rot_y, &pol->rot_z};
  double u_rot = ps_rng_uniform(r);
  for (int k = 0; k < 3; k++) {
    v = ps_rng_uniform(r);
    if (rot[k]->p > 0 && u_rot < rot[k]->p) d->rot[k] = rot[k]->lo + (rot[k]->hi - rot[k]->lo) * v;
  }
  if (draw_split(&pol->scale, r, &v)) d->scale = v;
  double sg;
  d->elastic = draw_op(&pol->elastic_alpha, r, &d->elastic_alpha);
  draw_op(&pol->elastic_sigma, r, &sg);
  d->elastic_sigma = sg;
  d->elastic_seed = (uint64_t)ps_rng_int(r, UINT64_C(1) << 62);
  if (d->elastic && d->elastic_alpha == 0) d->elastic = false;
  d->spatial = d->rot[0] != 0 || d->rot[1] != 0 || d->rot[2] != 0 || d->scale != 1 || d->elastic;
  for (int k = 0; k < 3; k++) d->mirror[k] = ps_rng_uniform(r) < pol->mirror_p[k];
  d->gamma_on = draw_split(&pol->gamma, r, &d->gamma);
  d->noise_on = draw_op(&pol->noise, r, &d->noise_var);
  d->smooth_on = draw_op(&pol->smooth, r, &d->smooth_sigma);
  d->sharpen_on = draw_op(&pol->sharpen, r, &d->sharpen);
  d->contrast_on = draw_op(&pol->contrast, r, &d->contrast);
  d->mul_on = draw_op(&pol->brightness_mul, r, &d->mul);
  d->shift_on = draw_op(&pol->shift, r, &d->shift);
  d->noise_seed = (uint64_t)ps_rng_int(r, UINT64_C(1) << 62);
}
