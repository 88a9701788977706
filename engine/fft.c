/* FFT backends: one table, chosen at front-end creation (fft.h). */
#include "fft.h"
#include "beenet-private.h"


#include <gst/fft/gstfftf32.h>
#ifdef BEENET_HAVE_FFTW
#include <fftw3.h>
#include <pthread.h>
#endif

#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *name;
  /* NULL when out of memory. */
  void *(*plan) (uint32_t n, float *in, float *out);
  void (*forward) (void *plan, float *in, float *out);
  void (*destroy) (void *plan);
} BeenetFftImpl;

struct BeenetFft {
  const BeenetFftImpl *impl;
  void *plan;
  float *in, *out;
};

/* ---- GStreamer (kiss_fft) ------------------------------------------------ */

static void *
gst_plan (uint32_t n, float *in, float *out)
{
  (void) in;
  (void) out;
  return gst_fft_f32_new ((gint) n, FALSE);
}

static void
gst_forward (void *plan, float *in, float *out)
{
  gst_fft_f32_fft (plan, in, (GstFFTF32Complex *) out);
}

static void
gst_destroy (void *plan)
{
  gst_fft_f32_free (plan);
}

/* ---- FFTW ---------------------------------------------------------------- */

#ifdef BEENET_HAVE_FFTW
/* FFTW's planner is not thread-safe (plan creation and destruction; the
 * execution of a plan is).  Sessions may be created from any thread, so
 * the planner calls of this library are serialised here: the one piece of
 * process-wide state the engine has, owned by FFTW, not by us. */
static pthread_mutex_t fftw_planner_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
fftw_plan_new (uint32_t n, float *in, float *out)
{
  pthread_mutex_lock (&fftw_planner_lock);
  /* ESTIMATE: no timing, so the plan (and every result) depends only on n
   * and the CPU; PRESERVE_INPUT: the frame's zero tail must survive. */
  fftwf_plan p = fftwf_plan_dft_r2c_1d ((int) n, in, (fftwf_complex *) out,
      FFTW_ESTIMATE | FFTW_PRESERVE_INPUT);
  pthread_mutex_unlock (&fftw_planner_lock);
  return p;
}

static void
fftw_forward (void *plan, float *in, float *out)
{
  fftwf_execute_dft_r2c (plan, in, (fftwf_complex *) out);
}

static void
fftw_destroy (void *plan)
{
  pthread_mutex_lock (&fftw_planner_lock);
  fftwf_destroy_plan (plan);
  pthread_mutex_unlock (&fftw_planner_lock);
}
#endif

/* Best first. */
static const BeenetFftImpl backends[] = {
#ifdef BEENET_HAVE_FFTW
  { "fftw", fftw_plan_new, fftw_forward, fftw_destroy },
#endif
  { "gst", gst_plan, gst_forward, gst_destroy },
};
#define N_BACKENDS (sizeof backends / sizeof backends[0])

static const BeenetFftImpl *
find_backend (const char *name)
{
  for (size_t i = 0; i < N_BACKENDS; i++)
    if (strcmp (backends[i].name, name) == 0)
      return &backends[i];
  return NULL;
}

float *
beenet_fft_alloc (size_t n_floats)
{
  const size_t bytes = (n_floats * sizeof (float) + 63) / 64 * 64;
  float *p = aligned_alloc (64, bytes ? bytes : 64);
  if (p)
    memset (p, 0, bytes ? bytes : 64);
  return p;
}

/* The backend BEENET_FFT forces, else the default; NULL for a name this
 * build lacks. */
static const BeenetFftImpl *
select_backend (void)
{
  const char *force = getenv ("BEENET_FFT");
  return force && *force ? find_backend (force) : &backends[0];
}

const char *
beenet_fft_backend_name (void)
{
  const BeenetFftImpl *impl = select_backend ();
  return impl ? impl->name : NULL;
}

BeenetStatus
beenet_fft_new (uint32_t n, float *in, float *out, BeenetFft **fft,
    BeenetError *err)
{
  *fft = NULL;
  const BeenetFftImpl *impl = select_backend ();
  if (!impl) {
    char have[64] = "";
    for (size_t i = 0; i < N_BACKENDS; i++) {
      strncat (have, i ? ", " : "", sizeof have - strlen (have) - 1);
      strncat (have, backends[i].name, sizeof have - strlen (have) - 1);
    }
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "BEENET_FFT=%s: no such FFT backend in this build (have: %s)",
        getenv ("BEENET_FFT"), have);
  }
  BeenetFft *f = calloc (1, sizeof *f);
  if (!f || !(f->plan = impl->plan (n, in, out))) {
    free (f);
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory planning a %u-point %s FFT", n, impl->name);
  }
  f->impl = impl;
  f->in = in;
  f->out = out;
  *fft = f;
  return BEENET_OK;
}

void
beenet_fft_forward (BeenetFft *fft)
{
  fft->impl->forward (fft->plan, fft->in, fft->out);
}

const char *
beenet_fft_name (const BeenetFft *fft)
{
  return fft->impl->name;
}

void
beenet_fft_free (BeenetFft *fft)
{
  if (!fft)
    return;
  fft->impl->destroy (fft->plan);
  free (fft);
}
