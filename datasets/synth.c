/* Synthetic MSD task generator: one case = torso + deformed organ + distractors,
 * rendered in CT or MR appearance (see synth.h). Each case draws from its own
 * ps_rng seeded from (seed, site, index), so cases are generated in parallel
 * and the result does not depend on the thread count. */
#include "proxyseg/synth.h"
#include "proxyseg/json.h"
#include "proxyseg/nifti.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ps_synth_opts_default(ps_synth_opts *o) {
  memset(o, 0, sizeof *o);
  o->cases = 20; o->size = 64; o->seed = 1; o->site = 'a'; o->classes = 2; o->modality = "CT";
  o->atypical_fraction = 0.15;
}

static int is_ct(const ps_synth_opts *o) { return !o->modality || !strcmp(o->modality, "CT"); }

static ps_status check_opts(const ps_synth_opts *o) {
  if (o->cases < 1 || o->cases > 100000) return ps_error(PS_ERR_INVALID, "synth: cases %d outside 1..100000", o->cases);
  if (o->size < 16 || o->size > 512) return ps_error(PS_ERR_INVALID, "synth: size %d outside 16..512", o->size);
  if (o->site != 'a' && o->site != 'b') return ps_error(PS_ERR_INVALID, "synth: site '%c' (use a or b)", o->site);
  if (o->classes != 2 && o->classes != 3) return ps_error(PS_ERR_INVALID, "synth: classes %d (use 2 or 3)", o->classes);
  if (o->modality && strcmp(o->modality, "CT") && strcmp(o->modality, "MR") && strcmp(o->modality, "MRI"))
    return ps_error(PS_ERR_INVALID, "synth: modality '%s' (use CT or MR)", o->modality);
  if (!(o->atypical_fraction >= 0 && o->atypical_fraction <= 1)) return ps_error(PS_ERR_INVALID, "synth: atypical fraction outside 0..1");
  return PS_OK;
}

/* Seeded shuffle of the case indices; the first round(f·n) are atypical. */
int ps_synth_is_atypical(const ps_synth_opts *o, int index) {
  int n = o->cases, na = (int)lround(o->atypical_fraction * n);
  if (index < 0 || index >= n || na == 0) return 0;
  int *perm = malloc((size_t)n * sizeof *perm);
  ps_rng *r = ps_rng_create(ps_seed_derive(o->seed, 0x5eed0000u + (uint64_t)o->site));
  if (!perm || !r) { free(perm); ps_rng_free(r); return 0; }
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)ps_rng_int(r, (uint64_t)i + 1), t = perm[i];
    perm[i] = perm[j]; perm[j] = t;
  }
  int hit = 0;
  for (int i = 0; i < na; i++) hit |= perm[i] == index;
  free(perm);
  ps_rng_free(r);
  return hit;
}

/* A smoothly deformed, rotated ellipsoid: inside where
 * |M (p − c)| + Σ_m a_m sin(k_m · (p − c) / r̄ + φ_m) ≤ 1. */
typedef struct {
  double c[3], rot[3][3], inv_r[3], rbar;
  double amp[3], k[3][3], phase[3];
} blob;

static void rotation(ps_rng *r, double R[3][3], double tilt) {
  double t = ps_rng_uniform_range(r, 0, 2 * M_PI), f = ps_rng_uniform_range(r, -tilt, tilt);
  double ct = cos(t), st = sin(t), cf = cos(f), sf = sin(f);
  /* Rz(t) · Rx(f) */
  double M[3][3] = {{ct, -st * cf, st * sf}, {st, ct * cf, -ct * sf}, {0, sf, cf}};
  memcpy(R, M, sizeof M);
}

static void blob_init(ps_rng *r, blob *b, const double c[3], const double radii[3], double deform) {
  memcpy(b->c, c, sizeof b->c);
  rotation(r, b->rot, 0.5);
  b->rbar = (radii[0] + radii[1] + radii[2]) / 3;
  for (int a = 0; a < 3; a++) b->inv_r[a] = 1 / radii[a];
  for (int m = 0; m < 3; m++) {
    b->amp[m] = deform * ps_rng_uniform_range(r, 0.5, 1.0);
    double kk = ps_rng_uniform_range(r, 1.0, 2.5), n = 0;
    for (int a = 0; a < 3; a++) { b->k[m][a] = ps_rng_normal(r, 1); n += b->k[m][a] * b->k[m][a]; }
    n = sqrt(n) + 1e-12;
    for (int a = 0; a < 3; a++) b->k[m][a] *= kk / n;
    b->phase[m] = ps_rng_uniform_range(r, 0, 2 * M_PI);
  }
}

static double blob_level(const blob *b, const double p[3]) {
  double d[3] = {p[0] - b->c[0], p[1] - b->c[1], p[2] - b->c[2]}, q = 0, s = 0;
  for (int a = 0; a < 3; a++) {
    double u = (b->rot[0][a] * d[0] + b->rot[1][a] * d[1] + b->rot[2][a] * d[2]) * b->inv_r[a];
    q += u * u;
  }
  for (int m = 0; m < 3; m++)
    s += b->amp[m] * sin((b->k[m][0] * d[0] + b->k[m][1] * d[1] + b->k[m][2] * d[2]) / b->rbar + b->phase[m]);
  return sqrt(q) + s;
}

/* A vessel: a tube along z whose centre line wanders sinusoidally. */
typedef struct { double x0, y0, ax, ay, fx, fy, px, py, radius; } tube;

static double tube_dist(const tube *t, const double p[3], double zext) {
  double u = p[2] / zext;
  double cx = t->x0 + t->ax * sin(t->fx * u + t->px), cy = t->y0 + t->ay * sin(t->fy * u + t->py);
  return sqrt((p[0] - cx) * (p[0] - cx) + (p[1] - cy) * (p[1] - cy));
}

/* Separable Gaussian blur (sigma in voxels per axis D, H, W), edges clamped. */
static ps_status blur(float *x, int64_t D, int64_t H, int64_t W, const double sig[3]) {
  int64_t dims[3] = {D, H, W}, strides[3] = {H * W, W, 1};
  size_t n = (size_t)(D * H * W);
  float *tmp = malloc(n * sizeof(float));
  if (!tmp) return ps_error(PS_ERR_NOMEM, "synth: out of memory");
  for (int a = 0; a < 3; a++) {
    if (sig[a] < 0.2) continue;
    int rad = (int)ceil(3 * sig[a]);
    double wts[64];
    if (rad > 31) rad = 31;
    double ws = 0;
    for (int t = -rad; t <= rad; t++) ws += wts[t + rad] = exp(-0.5 * t * t / (sig[a] * sig[a]));
    for (int t = 0; t <= 2 * rad; t++) wts[t] /= ws;
    memcpy(tmp, x, n * sizeof(float));
    for (size_t idx = 0; idx < n; idx++) {
      int64_t pos = ((int64_t)idx / strides[a]) % dims[a];
      double s = 0;
      for (int t = -rad; t <= rad; t++) {
        int64_t q = pos + t;
        q = q < 0 ? 0 : q >= dims[a] ? dims[a] - 1 : q;
        s += wts[t + rad] * tmp[(int64_t)idx + (q - pos) * strides[a]];
      }
      x[idx] = (float)s;
    }
  }
  free(tmp);
  return PS_OK;
}

ps_status ps_synth_case(const ps_synth_opts *o, int index, ps_volume *img, ps_labelmap *lab, ps_synth_case_info *info) {
  memset(img, 0, sizeof *img);
  memset(lab, 0, sizeof *lab);
  ps_status st = check_opts(o);
  if (st) return st;
  ps_rng *r = ps_rng_create(ps_seed_derive(ps_seed_derive(o->seed, o->site == 'b'), (uint64_t)index));
  if (!r) return ps_error(PS_ERR_NOMEM, "synth: out of memory");
  const int ct = is_ct(o), siteb = o->site == 'b';
  ps_synth_case_info inf;
  memset(&inf, 0, sizeof inf);
  inf.atypical = ps_synth_is_atypical(o, index) ? 1 + (int)ps_rng_int(r, 3) : 0;

  /* Geometry: in-plane spacing 1–1.5 mm, slices 1–3 mm; D keeps the field of view roughly cubic. */
  double sx = ps_rng_uniform_range(r, 1.0, 1.5), sz = ps_rng_uniform_range(r, 1.0, 3.0);
  int64_t W = o->size, H = o->size, D = (int64_t)lround(o->size * sx / sz);
  if (D < 8) D = 8;
  inf.spacing[0] = sz; inf.spacing[1] = sx; inf.spacing[2] = sx;
  double R = o->size * sx / 2, Z = (double)D * sz / 2; /* half extents, mm */

  /* Anatomy. */
  double bx = 0.86 * R * ps_rng_uniform_range(r, 0.9, 1.05), by = 0.64 * R * ps_rng_uniform_range(r, 0.9, 1.05);
  double fat = ps_rng_uniform_range(r, 0.05, 0.12);
  double spine[2] = {ps_rng_normal(r, 0.02 * R), -0.62 * by}, spine_r = 0.13 * by;
  /* organ radius relative to the body: about 2-4 % of the volume, large enough to learn in a
   * short proxy trial; atypical "tiny" organs are a tenth of that */
  double org_scale = inf.atypical == 1 ? ps_rng_uniform_range(r, 0.12, 0.16) : ps_rng_uniform_range(r, 0.30, 0.42);
  double radii[3] = {R * org_scale * ps_rng_uniform_range(r, 0.8, 1.25), R * org_scale * ps_rng_uniform_range(r, 0.7, 1.1),
                     R * org_scale * ps_rng_uniform_range(r, 0.8, 1.3)};
  double rmax = fmax(radii[0], fmax(radii[1], radii[2]));
  double oc[3] = {ps_rng_uniform_range(r, -0.45, 0.45) * (bx - 1.2 * rmax), ps_rng_uniform_range(r, -0.2, 0.45) * (by - 1.2 * rmax),
                  ps_rng_uniform_range(r, -0.35, 0.35) * Z};
  blob organ;
  blob_init(r, &organ, oc, radii, 0.12);
  double lrad = 0.35 * fmin(radii[0], fmin(radii[1], radii[2])) * ps_rng_uniform_range(r, 0.8, 1.2);
  double lc[3];
  for (int a = 0; a < 3; a++) lc[a] = oc[a] + ps_rng_normal(r, 0.12 * radii[a]);
  int nblob = 2 + (int)ps_rng_int(r, 2);
  blob dis[3];
  double dis_shift[3];
  for (int b = 0; b < nblob; b++) {
    double br = R * ps_rng_uniform_range(r, 0.06, 0.14), c[3]; /* smaller than the organ: size and shape tell them apart */
    for (int tries = 0; tries < 30; tries++) { /* away from the organ */
      c[0] = ps_rng_uniform_range(r, -0.7, 0.7) * bx; c[1] = ps_rng_uniform_range(r, -0.4, 0.7) * by;
      c[2] = ps_rng_uniform_range(r, -0.8, 0.8) * Z;
      double dd = sqrt((c[0] - oc[0]) * (c[0] - oc[0]) + (c[1] - oc[1]) * (c[1] - oc[1]) + (c[2] - oc[2]) * (c[2] - oc[2]));
      if (dd > rmax * 1.25 + br + 3) break;
    }
    double rr[3] = {br * ps_rng_uniform_range(r, 0.7, 1.3), br * ps_rng_uniform_range(r, 0.7, 1.3), br * ps_rng_uniform_range(r, 0.7, 1.3)};
    blob_init(r, &dis[b], c, rr, 0.1);
    dis_shift[b] = ps_rng_uniform_range(r, -0.15, 0.15); /* relative to the organ contrast */
  }
  tube ves[2];
  for (int t = 0; t < 2; t++) {
    ves[t].x0 = (t ? -1 : 1) * ps_rng_uniform_range(r, 0.1, 0.35) * bx; ves[t].y0 = ps_rng_uniform_range(r, -0.35, 0.1) * by;
    ves[t].ax = ps_rng_uniform_range(r, 0, 0.1) * R; ves[t].ay = ps_rng_uniform_range(r, 0, 0.1) * R;
    ves[t].fx = ps_rng_uniform_range(r, 0.5, 2.5); ves[t].fy = ps_rng_uniform_range(r, 0.5, 2.5);
    ves[t].px = ps_rng_uniform_range(r, 0, 2 * M_PI); ves[t].py = ps_rng_uniform_range(r, 0, 2 * M_PI);
    ves[t].radius = ps_rng_uniform_range(r, 2.0, 4.5);
  }

  /* Appearance. */
  double air, fatv, tissue, bone, contrast, sigma, lesion_drop, bias_amp = 0;
  if (ct) {
    air = -1000; fatv = -100 + ps_rng_normal(r, 10); tissue = 40 + ps_rng_normal(r, 6); bone = ps_rng_uniform_range(r, 350, 700);
    contrast = inf.atypical == 2 ? ps_rng_uniform_range(r, 8, 14) : ps_rng_uniform_range(r, 35, 90);
    sigma = ps_rng_uniform_range(r, 10, 25);
  } else {
    air = 0; fatv = ps_rng_uniform_range(r, 800, 1000); tissue = ps_rng_uniform_range(r, 350, 450); bone = ps_rng_uniform_range(r, 80, 150);
    contrast = tissue * (inf.atypical == 2 ? ps_rng_uniform_range(r, 0.05, 0.09) : ps_rng_uniform_range(r, 0.3, 0.7));
    sigma = ps_rng_uniform_range(r, 15, 35);
    bias_amp = ps_rng_uniform_range(r, 0.15, 0.35);
  }
  lesion_drop = -0.6 * contrast - (ct ? 15 : 0.05 * tissue);
  double blur_sigma = inf.atypical == 3 ? ps_rng_uniform_range(r, 1.5, 2.2) : ps_rng_uniform_range(r, 0.4, 0.8);
  if (inf.atypical == 3) sigma *= 1.8;
  double gain = 1, offs = 0;
  if (siteb) { /* another scanner: shifted/scaled intensities, more noise, less contrast, softer */
    contrast *= 0.75; sigma *= 1.6; blur_sigma += 0.3;
    if (ct) { gain = 1.08; offs = 25; }
    else { gain = 1.7; bias_amp += 0.15; }
  }
  double bias_c[3][2];
  for (int a = 0; a < 3; a++) { bias_c[a][0] = ps_rng_normal(r, 1); bias_c[a][1] = ps_rng_normal(r, 0.5); }
  inf.contrast = contrast * gain;
  inf.noise_sigma = sigma;

  if ((st = ps_volume_alloc(img, 1, D, H, W)) || (st = ps_labelmap_alloc(lab, D, H, W))) {
    ps_volume_free(img); ps_rng_free(r);
    return st;
  }
  double sp[3] = {sz, sx, sx};
  memcpy(img->spacing, sp, sizeof sp);
  memcpy(lab->spacing, sp, sizeof sp);
  /* RAS affine, grid centred on the world origin. */
  double A[4][4] = {{sx, 0, 0, -(W - 1) * sx / 2}, {0, sx, 0, -(H - 1) * sx / 2}, {0, 0, sz, -(D - 1) * sz / 2}, {0, 0, 0, 1}};
  memcpy(img->affine, A, sizeof A);
  memcpy(lab->affine, A, sizeof A);

  float *x = img->data;
  uint8_t *y = lab->data;
  for (int64_t k = 0; k < D; k++)
    for (int64_t j = 0; j < H; j++)
      for (int64_t i = 0; i < W; i++) {
        double p[3] = {A[0][0] * i + A[0][3], A[1][1] * j + A[1][3], A[2][2] * k + A[2][3]};
        size_t idx = (size_t)((k * H + j) * W + i);
        double q = sqrt((p[0] / bx) * (p[0] / bx) + (p[1] / by) * (p[1] / by)) * (1 + 0.08 * (p[2] / Z) * (p[2] / Z));
        double v = air;
        int lbl = 0;
        if (q <= 1) {
          v = q > 1 - fat ? fatv : tissue;
          double sd = sqrt((p[0] - spine[0]) * (p[0] - spine[0]) + (p[1] - spine[1]) * (p[1] - spine[1]));
          if (sd < spine_r) v = bone;
          for (int b = 0; b < nblob; b++)
            if (blob_level(&dis[b], p) <= 1) v = tissue + contrast * (1 + dis_shift[b]);
          for (int t = 0; t < 2; t++)
            if (tube_dist(&ves[t], p, Z) < ves[t].radius) v = tissue + contrast * 1.1;
          if (blob_level(&organ, p) <= 1) {
            v = tissue + contrast;
            lbl = 1;
            if (o->classes == 3) {
              double dl = sqrt((p[0] - lc[0]) * (p[0] - lc[0]) + (p[1] - lc[1]) * (p[1] - lc[1]) + (p[2] - lc[2]) * (p[2] - lc[2]));
              if (dl < lrad) { v += lesion_drop; lbl = 2; }
            }
          }
        }
        x[idx] = (float)v;
        y[idx] = (uint8_t)lbl;
      }
  double bs[3] = {blur_sigma * sx / sz, blur_sigma, blur_sigma};
  if ((st = blur(x, D, H, W, bs))) goto fail;
  for (int64_t k = 0; k < D; k++)
    for (int64_t j = 0; j < H; j++)
      for (int64_t i = 0; i < W; i++) {
        size_t idx = (size_t)((k * H + j) * W + i);
        double v = x[idx];
        if (ct) v = v + ps_rng_normal(r, sigma);
        else {
          double u[3] = {(double)i / W - 0.5, (double)j / H - 0.5, (double)k / D - 0.5}, e = 0;
          for (int a = 0; a < 3; a++) e += bias_c[a][0] * u[a] + bias_c[a][1] * u[a] * u[a];
          v *= exp(bias_amp * e);
          double n1 = ps_rng_normal(r, sigma), n2 = ps_rng_normal(r, sigma);
          v = sqrt((v + n1) * (v + n1) + n2 * n2); /* Rician magnitude */
        }
        x[idx] = (float)(v * gain + offs);
      }
  ps_rng_free(r);
  if (info) *info = inf;
  return PS_OK;
fail:
  ps_rng_free(r);
  ps_volume_free(img);
  ps_labelmap_free(lab);
  return st;
}

ps_status ps_synth_generate(const ps_synth_opts *o, const char *out_dir) {
  ps_status st = check_opts(o);
  if (st) return st;
  char *dimg = ps_path_join(out_dir, "imagesTr"), *dlab = ps_path_join(out_dir, "labelsTr");
  if ((st = ps_mkdir_p(dimg)) || (st = ps_mkdir_p(dlab))) { free(dimg); free(dlab); return st; }
  ps_synth_case_info *infos = calloc((size_t)o->cases, sizeof *infos);
  if (!infos) { free(dimg); free(dlab); return ps_error(PS_ERR_NOMEM, "synth: out of memory"); }
  ps_status first = PS_OK;
  char msg[512] = "";
  const int ct = is_ct(o);
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < o->cases; i++) {
    ps_volume img;
    ps_labelmap lab;
    ps_status s = ps_synth_case(o, i, &img, &lab, &infos[i]);
    char name[64];
    snprintf(name, sizeof name, "synth_%03d.nii.gz", i);
    char *pi = ps_path_join(dimg, name), *pl = ps_path_join(dlab, name);
    if (!s) s = ps_nifti_write(pi, &img, ct ? PS_NIFTI_INT16 : PS_NIFTI_FLOAT32);
    if (!s) s = ps_nifti_write_labels(pl, &lab);
    if (s) {
#pragma omp critical(ps_synth_err)
      if (!first) { first = s; snprintf(msg, sizeof msg, "case %d: %s", i, ps_last_error()); }
    }
    free(pi); free(pl);
    ps_volume_free(&img);
    ps_labelmap_free(&lab);
  }
  free(dimg); free(dlab);
  if (first) { free(infos); return ps_error(first, "%s", msg); }

  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "name", ct ? "SynthCT" : "SynthMR");
  cJSON_AddStringToObject(j, "description", "proxyseg synthetic torso task: a deformed organ among distractors of similar intensity");
  cJSON_AddStringToObject(j, "reference", "proxyseg datasets/synth.c");
  cJSON_AddStringToObject(j, "licence", "CC0");
  cJSON_AddStringToObject(j, "release", PS_VERSION_STRING);
  cJSON_AddStringToObject(j, "tensorImageSize", "3D");
  cJSON *m = cJSON_AddObjectToObject(j, "modality");
  cJSON_AddStringToObject(m, "0", ct ? "CT" : "MRI");
  cJSON *l = cJSON_AddObjectToObject(j, "labels");
  cJSON_AddStringToObject(l, "0", "background");
  cJSON_AddStringToObject(l, "1", "organ");
  if (o->classes == 3) cJSON_AddStringToObject(l, "2", "lesion");
  cJSON_AddNumberToObject(j, "numTraining", o->cases);
  cJSON_AddNumberToObject(j, "numTest", 0);
  cJSON *tr = cJSON_AddArrayToObject(j, "training");
  cJSON_AddArrayToObject(j, "test");
  cJSON *sy = cJSON_AddObjectToObject(j, "synthetic");
  cJSON_AddNumberToObject(sy, "seed", (double)o->seed);
  char site[2] = {o->site, 0};
  cJSON_AddStringToObject(sy, "site", site);
  cJSON_AddNumberToObject(sy, "size", o->size);
  cJSON_AddNumberToObject(sy, "classes", o->classes);
  cJSON *ca = cJSON_AddArrayToObject(sy, "cases");
  for (int i = 0; i < o->cases; i++) {
    char im[64], lb[64], id[32];
    snprintf(id, sizeof id, "synth_%03d", i);
    snprintf(im, sizeof im, "./imagesTr/%s.nii.gz", id);
    snprintf(lb, sizeof lb, "./labelsTr/%s.nii.gz", id);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "image", im);
    cJSON_AddStringToObject(e, "label", lb);
    cJSON_AddItemToArray(tr, e);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", id);
    static const char *kinds[] = {"typical", "tiny_organ", "low_contrast", "blur_noise"};
    cJSON_AddStringToObject(c, "kind", kinds[infos[i].atypical]);
    cJSON_AddNumberToObject(c, "contrast", infos[i].contrast);
    cJSON_AddNumberToObject(c, "noise_sigma", infos[i].noise_sigma);
    cJSON *s = cJSON_AddArrayToObject(c, "spacing");
    for (int a = 0; a < 3; a++) cJSON_AddItemToArray(s, cJSON_CreateNumber(infos[i].spacing[a]));
    cJSON_AddItemToArray(ca, c);
  }
  free(infos);
  char *p = ps_path_join(out_dir, "dataset.json");
  st = ps_json_write(p, j);
  free(p);
  cJSON_Delete(j);
  return st;
}
