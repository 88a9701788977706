/* Internal declarations shared by the engine's translation units.
 * Not installed; nothing here is part of the public API. */
#ifndef BEENET_PRIVATE_H
#define BEENET_PRIVATE_H

#include "beenet.h"

#include <stdarg.h>
#include <stdbool.h>

#if defined(__GNUC__)
#define BEENET_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BEENET_PRINTF(f, a)
#endif

/* Fill *err (if non-NULL) with code and a formatted message; returns code so
 * callers can write `return beenet_set_error (err, CODE, "...")`. */
BeenetStatus beenet_set_error (BeenetError *err, BeenetStatus code,
    const char *fmt, ...) BEENET_PRINTF(3, 4);
BeenetStatus beenet_set_errorv (BeenetError *err, BeenetStatus code,
    const char *fmt, va_list ap) BEENET_PRINTF(3, 0);
void beenet_clear_error (BeenetError *err);

/* ORC's compiled x86 code switches on flush-to-zero and denormals-are-zero
 * in MXCSR and leaves them on.  The engine must not change the
 * floating-point environment of the thread that calls it (in GStreamer
 * other elements share the streaming thread), so every ORC call site saves
 * the state before and restores it after. */
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
typedef unsigned int BeenetFpState;
static inline BeenetFpState beenet_fp_save (void) { return _mm_getcsr (); }
static inline void beenet_fp_restore (BeenetFpState s) { _mm_setcsr (s); }
#else
typedef int BeenetFpState;
static inline BeenetFpState beenet_fp_save (void) { return 0; }
static inline void beenet_fp_restore (BeenetFpState s) { (void) s; }
#endif

/* Validate a front-end configuration (shared by beenet_frontend_new and the
 * model loader).  `what` prefixes messages (e.g. "beenet.frontend."). */
BeenetStatus beenet_frontend_config_validate (const BeenetFrontendConfig *c,
    BeenetStatus code, const char *what, BeenetError *err);

/* One log-Mel frame: src holds frame_length samples, dst receives n_mels
 * values.  Returns false (dst partly written) when a Mel energy is not
 * finite (the float power spectrum overflowed).  Shared by the batch
 * front-end and the stream, so both compute bit-identical frames. */
bool beenet_frontend_frame (BeenetFrontend *fe, const float *src, float *dst);
const BeenetFrontendConfig *beenet_frontend_get_config (
    const BeenetFrontend *fe);

/* Validate detector parameters (shared by the detector API and the model
 * loader); `prefix` is prepended to the field names in messages (e.g.
 * "beenet.detection."). */
BeenetStatus beenet_detector_params_check (const BeenetDetectorParams *p,
    BeenetStatus code, const char *prefix, BeenetError *err);

/* True when every value is finite. */
bool beenet_all_finite (const float *v, size_t n);

/* One-time ORC initialisation (idempotent, thread-safe). */
void beenet_orc_init_once (void);

#endif
