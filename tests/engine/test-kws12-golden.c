/* The shipped version-1 model (models/kws12.gguf) under this engine gives
 * bit for bit the logits the version-1 engine gave.
 *
 *   test-kws12-golden MODEL GOLDEN         compare (exit 1 on a difference)
 *   test-kws12-golden --write MODEL OUT    write the golden file
 *
 * Inputs: 24 deterministic 1-second windows (chirps, tones and LCG noise at
 * several levels) through the public front-end, then
 * beenet_session_run_all_exits.  The golden file holds every exit's logits
 * as C99 hex floats, one window per line.  The program uses only API that
 * existed in format version 1, so tests/engine/kws12-golden.sh can build it
 * against the engine at the commit before the version-2 change and
 * regenerate the file.  Both sides force the portable kernels and
 * GStreamer's FFT (BEENET_KERNELS=portable BEENET_FFT=gst, set by meson and
 * by the script): other kernel sets may differ from it in the last float
 * bit (FMA), FFTW by float rounding, and are compared with a tolerance
 * instead. */
#include "beenet.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_WINDOWS 24

static void
make_window (unsigned i, float *s, size_t n, unsigned rate)
{
  uint32_t st = 1234567u + i * 7919u;
  const double amp = 0.5 / (1 + i % 4);
  for (size_t k = 0; k < n; k++) {
    const double t = (double) k / rate;
    double v;
    st = st * 1664525u + 1013904223u;
    const double noise = ((st >> 8) / 16777216.0 - 0.5);
    switch (i % 3) {
      case 0:   /* chirp 100 Hz -> 100 + 400 i Hz */
        v = sin (2 * M_PI * (100 * t + 200.0 * (1 + i) * t * t));
        break;
      case 1:   /* two tones with an envelope */
        v = sin (2 * M_PI * (200 + 50 * i) * t) * sin (M_PI * t)
            + 0.5 * sin (2 * M_PI * (1200 + 30 * i) * t);
        break;
      default:
        v = 2 * noise;
    }
    s[k] = (float) (amp * v + 0.01 * noise);
  }
}

/* Logits of every exit for every window: N_WINDOWS * exits * classes. */
static float *
run_model (const char *path, size_t *per_window)
{
  BeenetModel *m = NULL;
  BeenetSession *s = NULL;
  BeenetFrontend *fe = NULL;
  BeenetError err;
  BeenetFrontendConfig c;
  if (beenet_model_load_file (path, &m, &err)) {
    fprintf (stderr, "%s\n", err.message);
    exit (1);
  }
  beenet_model_frontend_config (m, &c);
  if (beenet_session_new (m, &s, &err) || beenet_frontend_new (&c, &fe, &err)) {
    fprintf (stderr, "%s\n", err.message);
    exit (1);
  }
  *per_window = beenet_model_num_exits (m) * beenet_model_num_classes (m);
  float *wave = malloc (sizeof (float) * c.window_samples);
  float *feat = malloc (sizeof (float) * c.n_frames * c.n_mels);
  float *out = malloc (sizeof (float) * N_WINDOWS * *per_window);
  for (unsigned i = 0; i < N_WINDOWS; i++) {
    make_window (i, wave, c.window_samples, c.sample_rate);
    if (beenet_frontend_compute (fe, wave, c.window_samples, feat, &err)
        || beenet_session_run_all_exits (s, feat, out + i * *per_window,
            &err)) {
      fprintf (stderr, "window %u: %s\n", i, err.message);
      exit (1);
    }
  }
  free (wave);
  free (feat);
  beenet_frontend_free (fe);
  beenet_session_free (s);
  beenet_model_unref (m);
  return out;
}

int
main (int argc, char **argv)
{
  size_t k;
  if (argc == 4 && strcmp (argv[1], "--write") == 0) {
    float *l = run_model (argv[2], &k);
    FILE *f = fopen (argv[3], "w");
    if (!f)
      return 1;
    for (unsigned i = 0; i < N_WINDOWS; i++) {
      for (size_t j = 0; j < k; j++)
        fprintf (f, "%s%a", j ? " " : "", (double) l[i * k + j]);
      fprintf (f, "\n");
    }
    free (l);
    return fclose (f) ? 1 : 0;
  }
  if (argc != 3) {
    fprintf (stderr, "usage: %s MODEL GOLDEN | --write MODEL OUT\n", argv[0]);
    return 2;
  }
  const char *ks = getenv ("BEENET_KERNELS");
  const int exact = ks && strcmp (ks, "portable") == 0;
  float *l = run_model (argv[1], &k);
  FILE *f = fopen (argv[2], "r");
  if (!f) {
    perror (argv[2]);
    return 1;
  }
  size_t bad = 0, n = 0;
  double worst = 0;
  for (size_t i = 0; i < N_WINDOWS * k; i++) {
    double want;
    if (fscanf (f, "%la", &want) != 1) {
      fprintf (stderr, "%s: value %zu missing\n", argv[2], i);
      return 1;
    }
    const double d = fabs ((double) l[i] - want);
    worst = d > worst ? d : worst;
    if (exact ? (float) want != l[i] : d > 1e-4 * (fabs (want) + 1.0))
      bad++;
    n++;
  }
  fclose (f);
  printf ("%zu logits of %d windows, %s comparison: %zu differ, largest "
      "difference %g\n", n, N_WINDOWS, exact ? "bit-exact" : "1e-4", bad,
      worst);
  free (l);
  return bad ? 1 : 0;
}
