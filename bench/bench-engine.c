/* bench-engine: time windows through a beenet model per exit threshold.
 *
 *   bench-engine [MODEL.gguf] [-n WINDOWS] [-t T1,T2,...] [-p POLICY]
 *
 * Without a model file it uses test_models_realistic() from tests/common
 * (random weights: the exit statistics are meaningless, the timings are
 * representative of the network size).  Not a test: nothing is asserted. */
#include "beenet.h"
#include "test-models.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static void
die (const char *what, const BeenetError *err)
{
  fprintf (stderr, "bench-engine: %s: %s (%s)\n", what, err->message,
      beenet_status_name (err->code));
  exit (1);
}

int
main (int argc, char **argv)
{
  gint n_windows = 200;
  gchar *thresholds_arg = NULL, *policy_arg = NULL;
  gint seed = 1;
  GOptionEntry entries[] = {
    { "windows", 'n', 0, G_OPTION_ARG_INT, &n_windows,
      "Windows per threshold (default 200)", "N" },
    { "thresholds", 't', 0, G_OPTION_ARG_STRING, &thresholds_arg,
      "Comma-separated thresholds (default: 0,0.5,1,1.5,2,100 for entropy; "
      "0.5,0.7,0.9,0.99,1.01 for max-probability)", "LIST" },
    { "policy", 'p', 0, G_OPTION_ARG_STRING, &policy_arg,
      "entropy (default) or max-probability", "POLICY" },
    { "seed", 's', 0, G_OPTION_ARG_INT, &seed,
      "Seed of the built-in model and of the input audio", "SEED" },
    { NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL }
  };
  GError *gerr = NULL;
  GOptionContext *ctx = g_option_context_new ("[MODEL.gguf] - time beenet inference");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &gerr)) {
    fprintf (stderr, "bench-engine: %s\n", gerr->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (n_windows < 1) {
    fprintf (stderr, "bench-engine: --windows must be >= 1\n");
    return 2;
  }

  BeenetPolicy policy = BEENET_POLICY_ENTROPY;
  if (policy_arg && strcmp (policy_arg, "max-probability") == 0)
    policy = BEENET_POLICY_MAX_PROBABILITY;
  else if (policy_arg && strcmp (policy_arg, "entropy") != 0) {
    fprintf (stderr, "bench-engine: unknown policy '%s'\n", policy_arg);
    return 2;
  }

  BeenetModel *model;
  BeenetError err;
  if (argc > 1) {
    if (beenet_model_load_file (argv[1], &model, &err))
      die ("loading the model", &err);
    printf ("model: %s (%s)\n", argv[1], beenet_model_name (model));
  } else {
    size_t size;
    uint8_t *bytes = test_models_realistic ((uint32_t) seed, &size);
    if (beenet_model_load_memory (bytes, size, &model, &err))
      die ("loading the built-in model", &err);
    free (bytes);
    printf ("model: built-in test_models_realistic(seed %d), %zu bytes\n",
        seed, size);
  }
  printf ("kernels: %s, engine %s\n", beenet_kernel_name (), beenet_version ());

  /* Per-exit operation counts: run all exits once and read them from
   * describe()'s numbers via results at threshold extremes is not enough,
   * so print the model description's exit table. */
  char *desc = beenet_model_describe (model);
  const char *exits = desc ? strstr (desc, "exits (") : NULL;
  if (exits)
    printf ("%s", exits);
  free (desc);

  BeenetFrontendConfig fc;
  beenet_model_frontend_config (model, &fc);
  const size_t n_exits = beenet_model_num_exits (model);
  BeenetSession *session;
  if (beenet_session_new (model, &session, &err))
    die ("creating a session", &err);
  printf ("activation memory: %.1f KiB\n",
      beenet_session_activation_bytes (session) / 1024.0);

  /* Input: a few distinct windows of noise + tones (fixed seed). */
  enum { N_INPUTS = 16 };
  float *audio = malloc (sizeof (float) * fc.window_samples * N_INPUTS);
  uint32_t st = (uint32_t) seed;
  for (int w = 0; w < N_INPUTS; w++)
    for (uint32_t i = 0; i < fc.window_samples; i++)
      audio[(size_t) w * fc.window_samples + i] = 0.05f * test_rand_float (&st)
          + 0.3f * sinf (2.0f * (float) M_PI * (200.0f + 150.0f * w) * i
          / (float) fc.sample_rate);

  /* Front-end alone. */
  BeenetFrontend *fe;
  if (beenet_frontend_new (&fc, &fe, &err))
    die ("creating the front-end", &err);
  float *feat = malloc (sizeof (float) * fc.n_frames * fc.n_mels);
  double t0 = now ();
  for (int i = 0; i < n_windows; i++)
    beenet_frontend_compute (fe, audio + (size_t) (i % N_INPUTS) * fc.window_samples,
        fc.window_samples, feat, NULL);
  double t_fe = now () - t0;
  printf ("front-end only: %.1f windows/s (%.3f ms/window)\n",
      n_windows / t_fe, 1e3 * t_fe / n_windows);

  /* Whole network without early exit. */
  float *logits = malloc (sizeof (float) * n_exits * beenet_model_num_classes (model));
  t0 = now ();
  for (int i = 0; i < n_windows; i++)
    beenet_session_run_all_exits (session, feat, logits, NULL);
  double t_all = now () - t0;
  printf ("network, all exits (features given): %.1f windows/s (%.3f ms/window)\n",
      n_windows / t_all, 1e3 * t_all / n_windows);

  const char *defaults = policy == BEENET_POLICY_ENTROPY
      ? "0,0.5,1,1.5,2,100" : "0.5,0.7,0.9,0.99,1.01";
  gchar **ths = g_strsplit (thresholds_arg ? thresholds_arg : defaults, ",", -1);
  printf ("\npolicy %s, %d windows per threshold (front-end + network):\n",
      policy == BEENET_POLICY_ENTROPY ? "entropy" : "max-probability",
      n_windows);
  printf ("%10s %12s %10s %10s  exit histogram\n", "threshold", "windows/s",
      "ms/window", "mean ops");
  unsigned *hist = calloc (n_exits + 1, sizeof (unsigned));
  for (gchar **t = ths; *t; t++) {
    char *end;
    float th = strtof (*t, &end);
    if (end == *t) {
      fprintf (stderr, "bench-engine: bad threshold '%s'\n", *t);
      return 2;
    }
    memset (hist, 0, sizeof (unsigned) * (n_exits + 1));
    double ops = 0.0;
    t0 = now ();
    for (int i = 0; i < n_windows; i++) {
      BeenetResult r;
      if (beenet_session_classify (session,
              audio + (size_t) (i % N_INPUTS) * fc.window_samples,
              fc.window_samples, policy, th, &r, &err))
        die ("classify", &err);
      hist[r.exit_index]++;
      ops += r.ops_fraction;
    }
    double dt = now () - t0;
    printf ("%10g %12.1f %10.3f %10.3f  ", (double) th, n_windows / dt,
        1e3 * dt / n_windows, ops / n_windows);
    for (size_t e = 1; e <= n_exits; e++)
      printf ("%s%u", e > 1 ? "/" : "", hist[e]);
    printf ("\n");
  }
  g_strfreev (ths);
  free (hist);
  free (logits);
  free (feat);
  free (audio);
  beenet_frontend_free (fe);
  beenet_session_free (session);
  beenet_model_unref (model);
  g_free (thresholds_arg);
  g_free (policy_arg);
  return 0;
}
