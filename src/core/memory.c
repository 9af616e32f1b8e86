/* How much memory the process may still take: the smaller of the kernel's
 * MemAvailable and what an address-space limit (ulimit -v) leaves. Readers
 * budget against it before inflating a file, so that a gzip bomb or an absurd
 * header is refused instead of swapping the machine to a halt. */
#include "proxyseg/core.h"
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

unsigned long long ps_address_space_left(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return ~0ull;
  unsigned long long pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%llu", &pages) != 1) pages = 0;
    fclose(f);
  }
  unsigned long long used = pages * (unsigned long long)sysconf(_SC_PAGESIZE);
  return used >= rl.rlim_cur ? 0 : rl.rlim_cur - used;
}

unsigned long long ps_memory_available(void) {
  unsigned long long avail = ~0ull, kb;
  char line[256];
  FILE *f = fopen("/proc/meminfo", "r");
  if (f) {
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) { avail = kb * 1024ull; break; }
    fclose(f);
  }
  unsigned long long as = ps_address_space_left();
  return as < avail ? as : avail;
}
