/* Seeded random numbers from GSL's mt19937; the state is saved in checkpoints
 * so that a resumed run draws the same numbers as an uninterrupted one. */
#include "proxyseg/core.h"
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

struct ps_rng { gsl_rng *g; };

uint64_t ps_seed_derive(uint64_t base, uint64_t index) {
  uint64_t z = base + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

ps_rng *ps_rng_create(uint64_t seed) {
  ps_rng *r = malloc(sizeof *r);
  if (!r) return NULL;
  r->g = gsl_rng_alloc(gsl_rng_mt19937);
  if (!r->g) { free(r); return NULL; }
  ps_rng_seed(r, seed);
  return r;
}

void ps_rng_free(ps_rng *r) {
  if (!r) return;
  gsl_rng_free(r->g);
  free(r);
}

/* mt19937 takes an unsigned long; fold the 64-bit seed so nearby seeds differ. */
void ps_rng_seed(ps_rng *r, uint64_t seed) { gsl_rng_set(r->g, (unsigned long)(ps_seed_derive(seed, 0) & 0xffffffffu)); }
double ps_rng_uniform(ps_rng *r) { return gsl_rng_uniform(r->g); }
double ps_rng_uniform_range(ps_rng *r, double lo, double hi) { return lo + (hi - lo) * gsl_rng_uniform(r->g); }
double ps_rng_normal(ps_rng *r, double sigma) { return gsl_ran_gaussian_ziggurat(r->g, sigma); }
uint64_t ps_rng_int(ps_rng *r, uint64_t n) {
  if (n <= 1) return 0;
  if (n <= 0xffffffffu) return gsl_rng_uniform_int(r->g, (unsigned long)n);
  return (uint64_t)(gsl_rng_uniform(r->g) * (double)n) % n;
}
double ps_rng_beta(ps_rng *r, double a, double b) { return gsl_ran_beta(r->g, a, b); }
double ps_rng_gamma(ps_rng *r, double a, double b) { return gsl_ran_gamma(r->g, a, b); }
size_t ps_rng_state_size(const ps_rng *r) { return gsl_rng_size(r->g); }
void ps_rng_state_save(const ps_rng *r, void *buf) { memcpy(buf, gsl_rng_state(r->g), gsl_rng_size(r->g)); }
ps_status ps_rng_state_load(ps_rng *r, const void *buf, size_t n) {
  if (n != gsl_rng_size(r->g)) return ps_error(PS_ERR_DATA, "RNG state has %zu bytes, expected %zu", n, gsl_rng_size(r->g));
  memcpy(gsl_rng_state(r->g), buf, n);
  return PS_OK;
}
void *ps_rng_gsl(ps_rng *r) { return r->g; }
