/* Thread-local error messages and the status → name / exit-code mapping. */
#include "proxyseg/core.h"
#include <errno.h>
#include <stdarg.h>
#include <string.h>

static _Thread_local char last_msg[2048];
static _Thread_local ps_status last_status;
static _Thread_local int last_errno; /* errno when the last error was recorded */

ps_status ps_error(ps_status st, const char *fmt, ...) {
  last_errno = errno; /* before formatting, which may change it */
  last_status = st;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_msg, sizeof last_msg, fmt, ap);
  va_end(ap);
  return st;
}

ps_status ps_error_prefix(ps_status st, const char *fmt, ...) {
  char prefix[512], old[sizeof last_msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, last_msg, sizeof old);
  /* callers write the prefix with or without its ": "; the message gets one */
  size_t plen = strlen(prefix);
  while (plen > 0 && (prefix[plen - 1] == ' ' || prefix[plen - 1] == ':')) prefix[--plen] = 0;
  /* the prefix is short; cut the old message if the sum would not fit */
  int k = snprintf(last_msg, sizeof last_msg, "%s: ", prefix);
  if (k > 0 && (size_t)k < sizeof last_msg) snprintf(last_msg + k, sizeof last_msg - (size_t)k, "%.*s", (int)(sizeof last_msg - (size_t)k - 1), old);
  return st;
}

const char *ps_last_error(void) { return last_msg[0] ? last_msg : "no error"; }
void ps_clear_error(void) {
  last_msg[0] = 0;
  last_status = PS_OK;
  last_errno = 0;
}

bool ps_error_machine(void) {
  if (last_status != PS_ERR_IO) return false;
  switch (last_errno) {
  case EACCES: case EPERM: case ENOENT: case ENOTDIR: case EISDIR: case ELOOP: case ENAMETOOLONG:
    return false; /* the named path, not the machine */
  default:
    return true; /* ENOSPC, EDQUOT, EIO, EROFS, EMFILE..., or no errno to go by */
  }
}

const char *ps_status_name(ps_status st) {
  switch (st) {
  case PS_OK: return "ok";
  case PS_ERR_NOMEM: return "out of memory";
  case PS_ERR_IO: return "I/O error";
  case PS_ERR_INVALID: return "invalid argument";
  case PS_ERR_DATA: return "bad input data";
  case PS_ERR_NONFINITE: return "diverged (non-finite value)";
  case PS_ERR_UNSUPPORTED: return "unsupported";
  case PS_ERR_RUNTIME: return "run-time failure";
  case PS_ERR_INTERRUPTED: return "interrupted";
  }
  return "unknown status";
}

int ps_status_exit_code(ps_status st) {
  switch (st) {
  case PS_OK: return 0;
  case PS_ERR_INVALID: return 2;
  case PS_ERR_DATA: return 3;
  default: return 1;
  }
}
