/* Real forward FFTs for the front-end, behind one table of backends
 * (docs/engine.md, "FFT backends").  Not installed.
 *
 *   "gst"   GStreamer's GstFFTF32 (kiss_fft, scalar): the reference, always
 *           compiled in; the golden tests force it.
 *   "fftw"  FFTW 3 single precision (SIMD codelets chosen for the CPU,
 *           FFTW_ESTIMATE so the plan and therefore every result are a
 *           pure function of size and CPU); when built with fftw3f.
 *
 * The default is the first compiled-in backend of the table (fftw before
 * gst); the environment variable BEENET_FFT=<name> forces one (an unknown
 * or missing name is an error, so a forced comparison never silently runs
 * the other backend).  Both compute the unnormalised DFT X[k] = sum x[n]
 * e^{-2 pi i k n / N}, k = 0..N/2, as interleaved (re, im) floats; they
 * agree to float rounding, not bit for bit. */
#ifndef BEENET_FFT_H
#define BEENET_FFT_H

#include "beenet.h"

#include <stdint.h>

typedef struct BeenetFft BeenetFft;

/* A plan for n-point transforms (n a power of two >= 2) from `in` (n
 * floats) to `out` (n + 2 floats); beenet_fft_forward then always uses
 * these two buffers.  Allocate them with beenet_fft_alloc (SIMD-aligned). */
BeenetStatus beenet_fft_new (uint32_t n, float *in, float *out,
    BeenetFft **fft, BeenetError *err);
void beenet_fft_forward (BeenetFft *fft);
void beenet_fft_free (BeenetFft *fft);
/* Name of the backend in use ("gst", "fftw"). */
const char *beenet_fft_name (const BeenetFft *fft);

/* Zeroed, 64-byte aligned floats (free with free()); NULL when out of memory. */
float *beenet_fft_alloc (size_t n_floats);

#endif /* BEENET_FFT_H */
