/* Shared test helpers (see testutil.h). */
#include "testutil.h"
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>

int ps_test_passed = 0, ps_test_failed = 0;

int ps_test_done(const char *name) {
  printf("%s: %d passed, %d failed\n", name, ps_test_passed, ps_test_failed);
  return ps_test_failed ? 1 : (ps_test_passed ? 0 : 1);
}

double ps_test_max_rel_err(const float *a, const float *b, size_t n, double floor) {
  double md = 0, mb = floor;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (!(d <= md)) md = d; /* NaN propagates as a failure */
    if (fabs(b[i]) > mb) mb = fabs(b[i]);
  }
  return md / mb;
}

char *ps_test_tmpdir(const char *name) {
  char *d = ps_strfmt("tmp_%s", name);
  ps_test_sh("rm -rf '%s' && mkdir -p '%s'", d, d);
  return d;
}

int ps_test_sh(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

const char *ps_test_python_with(const char *modules) {
  const char *py = getenv("PS_PYTHON");
  if (!py || !*py) py = "/usr/bin/python3";
  char imports[512];
  snprintf(imports, sizeof imports, "%s", modules);
  for (char *c = imports; *c; c++)
    if (*c == ';' || *c == '\'') *c = ' ';
  if (ps_test_sh("'%s' -c 'import %s' >/dev/null 2>&1", py, imports) != 0) return NULL;
  return py;
}
