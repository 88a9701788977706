/* Front-end tests: beenet_frontend_compute against an independent
 * double-precision reference (naive O(N^2) DFT, Mel triangles evaluated
 * directly from the spec formulas), plus sample conversion helpers. */
#include "beenet.h"
#include "check-main.h"

#include <check.h>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- reference (docs/model-format.md section 3, nothing from the engine) */

static double
ref_mel (double f)
{
  return 2595.0 * log10 (1.0 + f / 700.0);
}

static double
ref_hz (double m)
{
  return 700.0 * (pow (10.0, m / 2595.0) - 1.0);
}

/* Triangle F[m][k] as the spec words it: rising from f[m] to 1 at f[m+1],
 * falling to 0 at f[m+2], zero outside. */
static double
ref_triangle (const double *edges, unsigned m, double f)
{
  const double a = edges[m], b = edges[m + 1], c = edges[m + 2];
  if (f <= a || f >= c)
    return 0.0;
  if (f <= b)
    return (f - a) / (b - a);
  return (c - f) / (c - b);
}

/* out[t * n_mels + m] = ln(max(E, floor)); also returns per-frame energies
 * E (unfloored) in energies if non-NULL. */
static void
ref_logmel (const BeenetFrontendConfig *c, const float *s, double *out,
    double *energies)
{
  const unsigned N = c->fft_size, L = c->frame_length, nb = N / 2 + 1;
  double *cosv = malloc (sizeof (double) * N), *sinv = malloc (sizeof (double) * N);
  double *edges = malloc (sizeof (double) * (c->n_mels + 2));
  double *frame = malloc (sizeof (double) * L), *P = malloc (sizeof (double) * nb);
  for (unsigned i = 0; i < N; i++) {
    cosv[i] = cos (2.0 * M_PI * i / N);
    sinv[i] = sin (2.0 * M_PI * i / N);
  }
  const double lo = ref_mel (c->fmin), hi = ref_mel (c->fmax);
  for (unsigned i = 0; i < c->n_mels + 2; i++)
    edges[i] = ref_hz (lo + (hi - lo) * i / (c->n_mels + 1));
  for (unsigned t = 0; t < c->n_frames; t++) {
    for (unsigned j = 0; j < L; j++)
      frame[j] = (double) s[t * c->hop_length + j]
          * (0.5 - 0.5 * cos (2.0 * M_PI * j / L));
    for (unsigned k = 0; k < nb; k++) {
      double re = 0.0, im = 0.0;
      for (unsigned j = 0; j < L; j++) {   /* zero padding: j >= L adds 0 */
        unsigned idx = (unsigned) (((uint64_t) k * j) % N);
        re += frame[j] * cosv[idx];
        im -= frame[j] * sinv[idx];
      }
      P[k] = re * re + im * im;
    }
    for (unsigned m = 0; m < c->n_mels; m++) {
      double e = 0.0;
      for (unsigned k = 0; k < nb; k++)
        e += P[k] * ref_triangle (edges, m, (double) k * c->sample_rate / N);
      if (energies)
        energies[t * c->n_mels + m] = e;
      out[t * c->n_mels + m] = log (e > c->log_floor ? e : c->log_floor);
    }
  }
  free (cosv); free (sinv); free (edges); free (frame); free (P);
}

static uint32_t
lcg (uint32_t *s)
{
  *s = *s * 1664525u + 1013904223u;
  return *s;
}

/* Compare engine vs reference.  Tolerance: the engine uses a float32 FFT
 * (kiss_fft in GstFFTF32); its absolute error on every bin is about
 * eps_f32 * log2(N) * (sum |x|), i.e. ~1e-6 of the frame's largest
 * spectral magnitude, so a Mel energy E carries an absolute error of order
 * 1e-6 * Emax(frame) (squared-magnitude cross term) on top of a float32
 * relative error ~1e-6 from windowing/power/accumulation.  We therefore
 * require |E_engine - E_ref| <= 1e-4 * E_ref + 1e-5 * Emax(frame) (both
 * floored), 100x above those estimates, and for bins holding at least 1e-3
 * of the frame maximum that bound means |log diff| <= ~1.1e-4.
 * Returns the max |log diff| over bins with E >= 1e-3 Emax. */
static double
compare (const BeenetFrontendConfig *c, const float *s)
{
  BeenetFrontend *fe = NULL;
  BeenetError err;
  const size_t n = (size_t) c->n_frames * c->n_mels;
  float *out = malloc (sizeof (float) * n);
  double *ref = malloc (sizeof (double) * n), *e = malloc (sizeof (double) * n);
  ck_assert_int_eq (beenet_frontend_new (c, &fe, &err), BEENET_OK);
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c->window_samples, out,
          &err), BEENET_OK);
  ref_logmel (c, s, ref, e);
  double worst_rel = 0.0;
  for (unsigned t = 0; t < c->n_frames; t++) {
    double emax = c->log_floor;
    for (unsigned m = 0; m < c->n_mels; m++)
      emax = fmax (emax, e[t * c->n_mels + m]);
    for (unsigned m = 0; m < c->n_mels; m++) {
      const size_t i = t * c->n_mels + m;
      ck_assert (isfinite (out[i]));
      const double got = exp ((double) out[i]);
      const double want = exp (ref[i]);
      const double tol = 1e-4 * want + 1e-5 * emax;
      ck_assert_msg (fabs (got - want) <= tol,
          "frame %u mel %u: engine E=%.9g reference E=%.9g (tol %.3g)", t, m,
          got, want, tol);
      if (e[i] >= 1e-3 * emax)
        worst_rel = fmax (worst_rel, fabs ((double) out[i] - ref[i]));
    }
  }
  beenet_frontend_free (fe);
  free (out); free (ref); free (e);
  return worst_rel;
}

START_TEST (test_sines)
{
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  const double freqs[] = { 100.0, 440.0, 1000.0, 3000.0, 7000.0 };
  float *s = malloc (sizeof (float) * c.window_samples);
  for (size_t f = 0; f < sizeof freqs / sizeof freqs[0]; f++) {
    for (unsigned i = 0; i < c.window_samples; i++)
      s[i] = (float) (0.5 * sin (2.0 * M_PI * freqs[f] * i / c.sample_rate));
    double worst = compare (&c, s);
    ck_assert_msg (worst < 2e-4, "sine %g Hz: max log diff %g", freqs[f],
        worst);
  }
  free (s);
}
END_TEST

START_TEST (test_sine_peak_bin)
{
  /* Independent sanity check of the Mel scale: a 1 kHz sine puts its
   * largest energy in the filter whose centre is nearest to 1 kHz. */
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  BeenetFrontend *fe;
  ck_assert_int_eq (beenet_frontend_new (&c, &fe, NULL), BEENET_OK);
  float *s = malloc (sizeof (float) * c.window_samples);
  float *out = malloc (sizeof (float) * c.n_frames * c.n_mels);
  for (unsigned i = 0; i < c.window_samples; i++)
    s[i] = (float) (0.5 * sin (2.0 * M_PI * 1000.0 * i / c.sample_rate));
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c.window_samples, out,
          NULL), BEENET_OK);
  const double lo = ref_mel (c.fmin), hi = ref_mel (c.fmax);
  unsigned nearest = 0;
  double best = 1e9;
  for (unsigned m = 0; m < c.n_mels; m++) {
    double centre = ref_hz (lo + (hi - lo) * (m + 1) / (c.n_mels + 1));
    if (fabs (centre - 1000.0) < best) {
      best = fabs (centre - 1000.0);
      nearest = m;
    }
  }
  unsigned arg = 0;
  for (unsigned m = 1; m < c.n_mels; m++)
    if (out[50 * c.n_mels + m] > out[50 * c.n_mels + arg])
      arg = m;
  ck_assert_uint_eq (arg, nearest);
  beenet_frontend_free (fe);
  free (s);
  free (out);
}
END_TEST

START_TEST (test_noise)
{
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  float *s = malloc (sizeof (float) * c.window_samples);
  uint32_t st = 42;
  for (unsigned i = 0; i < c.window_samples; i++)
    s[i] = (float) ((double) (lcg (&st) >> 8) / 8388608.0 - 1.0) * 0.3f;
  double worst = compare (&c, s);
  /* White noise fills every band, so every bin is well above the FFT
   * noise floor: tight relative agreement everywhere. */
  ck_assert_msg (worst < 1e-4, "noise: max log diff %g", worst);
  free (s);
}
END_TEST

START_TEST (test_other_config)
{
  /* Non-default geometry: 8 kHz, 256-point FFT, 40 Mel bins, n > window. */
  BeenetFrontendConfig c = {
    .sample_rate = 8000, .window_samples = 8000, .frame_length = 200,
    .hop_length = 80, .fft_size = 256, .n_mels = 40, .n_frames = 97,
    .fmin = 20.0f, .fmax = 4000.0f, .log_floor = 1e-8f,
  };
  float *s = malloc (sizeof (float) * c.window_samples);
  uint32_t st = 7;
  for (unsigned i = 0; i < c.window_samples; i++)
    s[i] = (float) (0.2 * sin (2.0 * M_PI * 700.0 * i / 8000.0)
        + 0.1 * ((double) (lcg (&st) >> 8) / 8388608.0 - 1.0));
  double worst = compare (&c, s);
  ck_assert_msg (worst < 2e-4, "max log diff %g", worst);
  free (s);
}
END_TEST

START_TEST (test_floors)
{
  /* Half silence, half noise, with the default, a tiny and a subnormal
   * floor (the vectorised log's range reaches FLT_MIN; below it the scalar
   * path) against the reference, the silent frames at the floor's
   * logarithm.  The subnormal floor also needs the engine to leave MXCSR
   * alone (test_fp_state): with ORC's denormals-are-zero left on it would
   * read as 0. */
  static const float floors[] = { 1e-6f, 1e-30f, 1e-40f };
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  float *s = calloc (c.window_samples, sizeof (float));
  uint32_t st = 5;
  for (unsigned i = c.window_samples / 2; i < c.window_samples; i++)
    s[i] = (float) ((double) (lcg (&st) >> 8) / 8388608.0 - 1.0) * 0.1f;
  for (size_t f = 0; f < sizeof floors / sizeof floors[0]; f++) {
    c.log_floor = floors[f];
    double worst = compare (&c, s);
    ck_assert_msg (worst < 1e-4, "floor %g: max log diff %g",
        (double) floors[f], worst);
    BeenetFrontend *fe;
    float *out = malloc (sizeof (float) * c.n_frames * c.n_mels);
    ck_assert_int_eq (beenet_frontend_new (&c, &fe, NULL), BEENET_OK);
    ck_assert_int_eq (beenet_frontend_compute (fe, s, c.window_samples, out,
            NULL), BEENET_OK);
    const double want = log ((double) c.log_floor);
    for (unsigned m = 0; m < c.n_mels; m++)   /* frame 0 is silent */
      ck_assert_msg (fabs (out[m] - want) <= 2e-6 * fabs (want),
          "floor %g mel %u: %.9g, want %.9g", (double) floors[f], m,
          (double) out[m], want);
    beenet_frontend_free (fe);
    free (out);
  }
  free (s);
}
END_TEST

START_TEST (test_silence)
{
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  BeenetFrontend *fe;
  ck_assert_int_eq (beenet_frontend_new (&c, &fe, NULL), BEENET_OK);
  float *s = calloc (c.window_samples + 100, sizeof (float));
  float *out = malloc (sizeof (float) * c.n_frames * c.n_mels);
  /* n larger than window_samples is allowed; extra samples are ignored. */
  for (unsigned i = c.window_samples; i < c.window_samples + 100; i++)
    s[i] = 1.0f;
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c.window_samples + 100,
          out, NULL), BEENET_OK);
  const float want = (float) log ((double) c.log_floor);
  for (size_t i = 0; i < (size_t) c.n_frames * c.n_mels; i++)
    ck_assert_float_eq_tol (out[i], want, 1e-6f);
  beenet_frontend_free (fe);
  free (s);
  free (out);
}
END_TEST

START_TEST (test_deterministic)
{
  /* Same input twice through one object -> identical output (no state
   * leaks between calls). */
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  BeenetFrontend *fe;
  ck_assert_int_eq (beenet_frontend_new (&c, &fe, NULL), BEENET_OK);
  const size_t n = (size_t) c.n_frames * c.n_mels;
  float *s = malloc (sizeof (float) * c.window_samples);
  float *a = malloc (sizeof (float) * n), *b = malloc (sizeof (float) * n);
  float *other = malloc (sizeof (float) * c.window_samples);
  uint32_t st = 3;
  for (unsigned i = 0; i < c.window_samples; i++) {
    s[i] = (float) ((double) (lcg (&st) >> 8) / 8388608.0 - 1.0);
    other[i] = 0.5f;
  }
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c.window_samples, a, NULL), 0);
  ck_assert_int_eq (beenet_frontend_compute (fe, other, c.window_samples, b, NULL), 0);
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c.window_samples, b, NULL), 0);
  ck_assert_mem_eq (a, b, n * sizeof (float));
  beenet_frontend_free (fe);
  free (s); free (a); free (b); free (other);
}
END_TEST

/* Log-Mel features of one LCG-noise window with the FFT backend `name`
 * forced (BEENET_FFT); false when this build lacks it. */
static bool
features_with_fft (const char *name, const BeenetFrontendConfig *c, float *out)
{
  setenv ("BEENET_FFT", name, 1);
  const char *got = beenet_fft_backend_name ();
  BeenetFrontend *fe = NULL;
  BeenetError err;
  const BeenetStatus st = beenet_frontend_new (c, &fe, &err);
  unsetenv ("BEENET_FFT");
  if (!got) {
    ck_assert_int_eq (st, BEENET_ERROR_INVALID_ARGUMENT);
    ck_assert_msg (strstr (err.message, name) && strstr (err.message, "gst"),
        "message: %s", err.message);
    return false;
  }
  ck_assert_str_eq (got, name);
  ck_assert_int_eq (st, BEENET_OK);
  float *s = malloc (sizeof (float) * c->window_samples);
  uint32_t state = 11;
  for (unsigned i = 0; i < c->window_samples; i++)
    s[i] = (float) ((double) (lcg (&state) >> 8) / 8388608.0 - 1.0) * 0.3f;
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c->window_samples, out,
          NULL), BEENET_OK);
  beenet_frontend_free (fe);
  free (s);
  return true;
}

START_TEST (test_fft_backends)
{
  /* Every compiled-in backend gives the reference's features to float
   * rounding; a forced backend this build lacks is a clear error (never a
   * silent fallback); unset, the default is the first compiled-in one. */
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  const size_t n = (size_t) c.n_frames * c.n_mels;
  float *ref = malloc (sizeof (float) * n), *got = malloc (sizeof (float) * n);
  ck_assert (features_with_fft ("gst", &c, ref));
  if (features_with_fft ("fftw", &c, got)) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++)
      worst = fmax (worst, fabs ((double) got[i] - ref[i]));
    ck_assert_msg (worst < 1e-4, "fftw - gst: max log diff %g", worst);
    ck_assert_str_eq (beenet_fft_backend_name (), "fftw");
  } else {
    ck_assert_str_eq (beenet_fft_backend_name (), "gst");
  }
  ck_assert (!features_with_fft ("no-such-fft", &c, got));
  free (ref);
  free (got);
}
END_TEST

START_TEST (test_errors)
{
  BeenetFrontendConfig c, bad;
  BeenetFrontend *fe = NULL;
  BeenetError err;
  beenet_frontend_config_default (&c);

  ck_assert_int_eq (beenet_frontend_new (NULL, &fe, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  bad = c; bad.fft_size = 500;   /* not a power of two */
  ck_assert_int_eq (beenet_frontend_new (&bad, &fe, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_null (fe);
  ck_assert_ptr_nonnull (strstr (err.message, "fft_size"));
  bad = c; bad.fft_size = 256;   /* shorter than the frame */
  ck_assert_int_eq (beenet_frontend_new (&bad, &fe, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  bad = c; bad.fmax = 9000.0f;   /* above Nyquist */
  ck_assert_int_eq (beenet_frontend_new (&bad, &fe, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "fmax"));
  bad = c; bad.fmin = 8000.0f;   /* fmin >= fmax */
  ck_assert_int_eq (beenet_frontend_new (&bad, &fe, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  bad = c; bad.n_frames = 99;    /* (99-1)*160+400 > 16000 */
  ck_assert_int_eq (beenet_frontend_new (&bad, &fe, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "n_frames"));
  bad = c; bad.log_floor = 0.0f;
  ck_assert_int_eq (beenet_frontend_new (&bad, &fe, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  bad = c; bad.log_floor = NAN;
  ck_assert_int_eq (beenet_frontend_new (&bad, &fe, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  bad = c; bad.n_mels = 0;
  ck_assert_int_eq (beenet_frontend_new (&bad, &fe, &err),
      BEENET_ERROR_INVALID_ARGUMENT);

  ck_assert_int_eq (beenet_frontend_new (&c, &fe, &err), BEENET_OK);
  ck_assert_int_eq (err.code, BEENET_OK);
  float *s = calloc (c.window_samples, sizeof (float));
  float *out = malloc (sizeof (float) * c.n_frames * c.n_mels);
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c.window_samples - 1, out,
          &err), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_frontend_compute (fe, NULL, c.window_samples, out,
          &err), BEENET_ERROR_INVALID_ARGUMENT);
  s[12345] = NAN;
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c.window_samples, out,
          &err), BEENET_ERROR_NONFINITE);
  ck_assert_int_eq (err.code, BEENET_ERROR_NONFINITE);
  s[12345] = INFINITY;
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c.window_samples, out,
          &err), BEENET_ERROR_NONFINITE);
  s[12345] = -INFINITY;
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c.window_samples, out,
          NULL), BEENET_ERROR_NONFINITE);
  /* Finite samples so large that the float power spectrum overflows. */
  s[12345] = 0.0f;
  for (unsigned i = 1000; i < 1400; i++)
    s[i] = 3e37f;
  ck_assert_int_eq (beenet_frontend_compute (fe, s, c.window_samples, out,
          &err), BEENET_ERROR_NONFINITE);
  ck_assert_ptr_nonnull (strstr (err.message, "too large"));
  for (unsigned i = 1000; i < 1400; i++)
    s[i] = 0.0f;
  /* A NaN after window_samples is not read. */
  float *longer = calloc (c.window_samples + 1, sizeof (float));
  longer[c.window_samples] = NAN;
  ck_assert_int_eq (beenet_frontend_compute (fe, longer, c.window_samples + 1,
          out, &err), BEENET_OK);
  free (longer);
  beenet_frontend_free (fe);
  free (s);
  free (out);
  beenet_frontend_free (NULL);
}
END_TEST

START_TEST (test_convert_s16)
{
  /* Every int16 value maps exactly to v / 32768 (exact in float32). */
  int16_t *in = malloc (sizeof (int16_t) * 65536 + 2);
  float *out = malloc (sizeof (float) * 65536 + 4);
  for (int v = -32768; v <= 32767; v++)
    in[v + 32768] = (int16_t) v;
  beenet_convert_s16 (in, out, 65536);
  for (int v = -32768; v <= 32767; v++)
    ck_assert_msg (out[v + 32768] == (float) v / 32768.0f, "value %d", v);
  /* Odd lengths and offsets (ORC prologue/epilogue paths). */
  for (size_t n = 0; n < 40; n++) {
    memset (out, 0, sizeof (float) * 64);
    beenet_convert_s16 (in + 1 + n, out + 1, n);
    for (size_t i = 0; i < n; i++)
      ck_assert (out[1 + i] == (float) in[1 + n + i] / 32768.0f);
    ck_assert (out[1 + n] == 0.0f);   /* nothing written past n */
  }
  free (in);
  free (out);
}
END_TEST

START_TEST (test_mixdown)
{
  uint32_t st = 99;
  const unsigned chans[] = { 1, 2, 3, 6 };
  float *in = malloc (sizeof (float) * 6 * 1001 + 16);
  float *out = malloc (sizeof (float) * 1001 + 16);
  for (size_t ci = 0; ci < sizeof chans / sizeof chans[0]; ci++) {
    const unsigned ch = chans[ci];
    for (size_t offset = 0; offset < 2; offset++) {   /* aligned, unaligned */
      float *src = in + offset;
      const size_t frames = 1001 - offset;
      for (size_t i = 0; i < frames * ch; i++)
        src[i] = (float) ((double) (lcg (&st) >> 8) / 8388608.0 - 1.0);
      beenet_mixdown_f32 (src, out, frames, ch);
      for (size_t f = 0; f < frames; f++) {
        double m = 0.0;
        for (unsigned c = 0; c < ch; c++)
          m += src[f * ch + c];
        m /= ch;
        /* float sum of <= 6 values in [-1,1): error <= 6 * 2^-24. */
        ck_assert_msg (fabs (out[f] - m) <= 6e-7 * ch, "ch %u frame %zu", ch, f);
      }
    }
  }
  free (in);
  free (out);
}
END_TEST

/* ORC's x86 code switches on flush-to-zero / denormals-are-zero and never
 * switches them off; the engine restores the caller's MXCSR around every
 * ORC call, so no entry point changes the thread's floating-point state. */
START_TEST (test_fp_state)
{
#if defined(__SSE__) || defined(__x86_64__)
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  const size_t W = c.window_samples;
  float *s = calloc (2 * W, sizeof (float));
  int16_t *pcm = calloc (W, sizeof (int16_t));
  float *out = malloc (sizeof (float) * c.n_frames * c.n_mels);
  uint32_t st = 9;
  for (size_t i = 0; i < 2 * W; i++)
    s[i] = (float) ((double) (lcg (&st) >> 8) / 8388608.0 - 1.0) * 0.1f;
  const unsigned before = _mm_getcsr ();
  ck_assert_uint_eq (before & 0x8040u, 0);    /* FTZ and DAZ off to start */
  BeenetFrontend *fe;
  ck_assert_int_eq (beenet_frontend_new (&c, &fe, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_frontend_compute (fe, s, W, out, NULL), BEENET_OK);
  ck_assert_uint_eq (_mm_getcsr (), before);
  beenet_convert_s16 (pcm, s, W);
  ck_assert_uint_eq (_mm_getcsr (), before);
  beenet_mixdown_f32 (s, s + W, W / 2, 2);
  ck_assert_uint_eq (_mm_getcsr (), before);
  BeenetStream *str;
  ck_assert_int_eq (beenet_stream_new (&c, NULL, &str, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_push (str, s, W, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_features (str, 0, out, NULL), BEENET_OK);
  ck_assert_uint_eq (_mm_getcsr (), before);
  beenet_stream_free (str);
  beenet_frontend_free (fe);
  free (out);
  free (pcm);
  free (s);
#endif
}
END_TEST

static Suite *
frontend_suite (void)
{
  Suite *s = suite_create ("frontend");
  TCase *tc = tcase_create ("core");
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_sines);
  tcase_add_test (tc, test_sine_peak_bin);
  tcase_add_test (tc, test_noise);
  tcase_add_test (tc, test_other_config);
  tcase_add_test (tc, test_silence);
  tcase_add_test (tc, test_floors);
  tcase_add_test (tc, test_deterministic);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_fft_backends);
  tcase_add_test (tc, test_convert_s16);
  tcase_add_test (tc, test_mixdown);
  tcase_add_test (tc, test_fp_state);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return check_run_suite (frontend_suite ());
}
