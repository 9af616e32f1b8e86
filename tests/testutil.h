/* Minimal test harness: CHECK records failures and keeps going; ps_test_done
 * prints "N passed, N failed" and returns the exit code. PS_SKIP exits 77
 * after saying why (CTest maps 77 to "skipped" via SKIP_RETURN_CODE). */
#ifndef PS_TESTUTIL_H
#define PS_TESTUTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "proxyseg/core.h"

extern int ps_test_passed, ps_test_failed;

#define CHECK(cond, ...)                                                        \
  do {                                                                          \
    if (cond) ps_test_passed++;                                                 \
    else {                                                                      \
      ps_test_failed++;                                                         \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
      fprintf(stderr, __VA_ARGS__);                                             \
      fprintf(stderr, "\n");                                                    \
    }                                                                           \
  } while (0)

#define CHECK_OK(expr)                                                          \
  do {                                                                          \
    ps_status st_ = (expr);                                                     \
    CHECK(st_ == PS_OK, "%s -> %s: %s", #expr, ps_status_name(st_), ps_last_error()); \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                   \
  do {                                                                          \
    double a_ = (a), b_ = (b);                                                  \
    CHECK(fabs(a_ - b_) <= (tol), "%s = %.9g, %s = %.9g, |diff| %.3g > %.3g",   \
          #a, a_, #b, b_, fabs(a_ - b_), (double)(tol));                        \
  } while (0)

#define PS_SKIP(...)                                                            \
  do {                                                                          \
    fprintf(stderr, "SKIPPED: ");                                               \
    fprintf(stderr, __VA_ARGS__);                                               \
    fprintf(stderr, "\n");                                                      \
    exit(77);                                                                   \
  } while (0)

int ps_test_done(const char *name);
/* Max relative error between two arrays: max|a-b| / max(max|b|, floor). */
double ps_test_max_rel_err(const float *a, const float *b, size_t n, double floor);
/* A scratch folder under the test's working dir, emptied first. Caller frees. */
char *ps_test_tmpdir(const char *name);
/* Run a shell command; returns its exit status. */
int ps_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Oracle python (/usr/bin/python3 or $PS_PYTHON) when it can import `modules`
 * (comma-separated); NULL otherwise. */
const char *ps_test_python_with(const char *modules);
#endif
