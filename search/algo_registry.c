/* The algorithm registry: name → vtable. A new algorithm adds its extern and
 * one row to the table below (and its name appears in ps_algo_names). */
#include "proxyseg/search.h"
#include <string.h>

extern const ps_algo_vtable ps_algo_random;
extern const ps_algo_vtable ps_algo_rl;

static const ps_algo_vtable *const registry[] = {
    &ps_algo_random,
    &ps_algo_rl,
};
#define N_ALGOS (sizeof registry / sizeof registry[0])

const ps_algo_vtable *ps_algo_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < N_ALGOS; i++)
    if (!strcmp(registry[i]->name, name)) return registry[i];
  return NULL;
}

const char *ps_algo_names(void) {
  static char names[256];
  if (!names[0]) {
    size_t off = 0;
    for (size_t i = 0; i < N_ALGOS && off < sizeof names; i++)
      off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "", registry[i]->name);
  }
  return names;
}
