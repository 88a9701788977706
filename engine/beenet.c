/* Status names, version and error helpers. */
#include "beenet-private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <orc/orc.h>

#ifndef BEENET_VERSION_STRING
#define BEENET_VERSION_STRING "0.1.0"
#endif

const char *
beenet_status_name (BeenetStatus status)
{
  switch (status) {
    case BEENET_OK: return "ok";
    case BEENET_ERROR_INVALID_ARGUMENT: return "invalid-argument";
    case BEENET_ERROR_IO: return "io";
    case BEENET_ERROR_FORMAT: return "format";
    case BEENET_ERROR_TRUNCATED: return "truncated";
    case BEENET_ERROR_CORRUPT: return "corrupt";
    case BEENET_ERROR_UNSUPPORTED: return "unsupported";
    case BEENET_ERROR_NOMEM: return "no-memory";
    case BEENET_ERROR_NONFINITE: return "non-finite";
  }
  return "unknown";
}

const char *
beenet_version (void)
{
  return BEENET_VERSION_STRING;
}

BeenetStatus
beenet_set_errorv (BeenetError *err, BeenetStatus code, const char *fmt,
    va_list ap)
{
  if (err) {
    err->code = code;
    vsnprintf (err->message, sizeof err->message, fmt, ap);
  }
  return code;
}

BeenetStatus
beenet_set_error (BeenetError *err, BeenetStatus code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  beenet_set_errorv (err, code, fmt, ap);
  va_end (ap);
  return code;
}

void
beenet_clear_error (BeenetError *err)
{
  if (err) {
    err->code = BEENET_OK;
    err->message[0] = '\0';
  }
}

/* A float is inf or NaN iff its exponent bits are all ones, i.e. iff
 * (bits & 0x7f800000) + 0x00800000 carries into bit 31.  OR-ing that over a
 * fixed-size block has no branch per element and vectorises at -O2 (SSE2
 * in the baseline build); one test per block keeps the early exit. */
#define FINITE_BLOCK 64u

static inline uint32_t
nonfinite_bit (const float *p)
{
  uint32_t u;
  memcpy (&u, p, sizeof u);
  return (u & 0x7f800000u) + 0x00800000u;
}

bool
beenet_all_finite (const float *v, size_t n)
{
  size_t i = 0;
  for (; i + FINITE_BLOCK <= n; i += FINITE_BLOCK) {
    uint32_t bad = 0;
    for (uint32_t j = 0; j < FINITE_BLOCK; j++)
      bad |= nonfinite_bit (v + i + j);
    if (bad & 0x80000000u)
      return false;
  }
  uint32_t bad = 0;
  for (; i < n; i++)
    bad |= nonfinite_bit (v + i);
  return !(bad & 0x80000000u);
}

void
beenet_orc_init_once (void)
{
  /* orc_init() is documented as idempotent and thread-safe. */
  orc_init ();
}
