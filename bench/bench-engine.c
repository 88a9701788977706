/* bench-engine: time windows through a beenet model per exit threshold.
 *
 *   bench-engine [MODEL.gguf] [-n WINDOWS] [-t T1,T2,...] [-p POLICY]
 *       [-a AUDIO.s16] [--interval-ms MS] [--sections fe,net,th,stream]
 *       [--dump-features FILE] [--dump-logits FILE] [-H HOP_MS] [--exit E]
 *
 * Without a model file it uses test_models_realistic() from tests/common
 * (random weights: the exit statistics are meaningless, the timings are
 * representative of the network size).  Without --audio the input is a few
 * windows of noise + tones; with it, the windows of a real recording taken
 * every --interval-ms like the element does.  Not a test: nothing is
 * asserted. */
#include "beenet.h"
#include "test-models.h"

#include <glib.h>
#include <malloc.h>
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

static double
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

/* Bytes currently allocated from the heap (glibc). */
static size_t
heap_in_use (void)
{
  struct mallinfo2 mi = mallinfo2 ();
  return mi.uordblks + mi.hblkhd;
}

static void
write_floats (const char *path, const float *v, size_t n)
{
  FILE *f = fopen (path, "wb");
  if (!f || fwrite (v, sizeof (float), n, f) != n || fclose (f) != 0) {
    fprintf (stderr, "bench-engine: cannot write %s\n", path);
    exit (1);
  }
}

static void
die (const char *what, const BeenetError *err)
{
  fprintf (stderr, "bench-engine: %s: %s (%s)\n", what, err->message,
      beenet_status_name (err->code));
  exit (1);
}

/* Push audio (wrapping around its audio_len samples) into the stream from
 * sample *pos up to sample `end`, as the element pushes its buffers. */
static void
push_until (BeenetStream *stream, const float *audio, size_t audio_len,
    uint64_t *pos, uint64_t end)
{
  while (*pos < end) {
    const size_t at = (size_t) (*pos % audio_len);
    size_t k = audio_len - at;
    if (k > end - *pos)
      k = (size_t) (end - *pos);
    beenet_stream_push (stream, audio + at, k, NULL);
    *pos += k;
  }
}

/* --stream-hop: the streaming front-end (BeenetStream) over n_windows
 * windows `hop` samples apart, samples pushed up to each window's end as
 * the element does; audio is the input recording (or the synthetic windows). */
static void
bench_stream (const BeenetFrontendConfig *fc, const float *audio,
    size_t audio_len, uint64_t hop, int n_windows, float *feat)
{
  BeenetStream *stream;
  BeenetStreamStats stats;
  BeenetError err;
  if (beenet_stream_new (fc, NULL, &stream, &err))
    die ("creating the stream", &err);
  uint64_t pos = 0;
  double t0 = now ();
  for (int i = 0; i < n_windows; i++) {
    push_until (stream, audio, audio_len, &pos,
        (uint64_t) i * hop + fc->window_samples);
    if (beenet_stream_features (stream, (uint64_t) i * hop, feat, &err))
      die ("stream features", &err);
  }
  double dt = now () - t0;
  beenet_stream_get_stats (stream, &stats);
  printf ("streaming front-end, hop %.1f ms: %.1f windows/s (%.3f ms/window), "
      "%.1f frames computed + %.1f reused per window\n",
      1e3 * (double) hop / fc->sample_rate, n_windows / dt,
      1e3 * dt / n_windows, (double) stats.frames_computed / n_windows,
      (double) stats.frames_reused / n_windows);
  beenet_stream_free (stream);
}

/* --sections exits: the latency of each exit including the front-end, i.e.
 * beenet_session_classify_params from samples with max_exit = e and an
 * entropy threshold no exit reaches (so exactly e exits run); every exit, or
 * only `only_exit` when it is not 0.  Windows cycle through the n_win input
 * windows `hop` samples apart. */
static void
bench_exits (BeenetSession *session, size_t n_exits, size_t only_exit,
    const float *audio, size_t n_win, size_t hop, uint32_t window_samples,
    int n_windows)
{
  BeenetPolicyParams pp = beenet_policy_default_params (BEENET_POLICY_ENTROPY);
  BeenetError err;
  pp.threshold = -1.0f;
  printf ("\nper exit, front-end + network, %d windows each:\n", n_windows);
  printf ("%6s %12s %10s %10s\n", "exit", "windows/s", "ms/window", "cpu ms");
  for (size_t e = 1; e <= n_exits; e++) {
    if (only_exit && e != only_exit)
      continue;
    pp.max_exit = (uint32_t) e;
    double c0 = cpu_now (), t0 = now ();
    for (int i = 0; i < n_windows; i++) {
      BeenetResult r;
      if (beenet_session_classify_params (session,
              audio + ((size_t) i % n_win) * hop, window_samples, &pp, &r,
              &err))
        die ("classify", &err);
      if (r.exit_index != e) {
        fprintf (stderr, "bench-engine: stopped at exit %u, not %zu\n",
            r.exit_index, e);
        exit (1);
      }
    }
    const double dt = now () - t0, dc = cpu_now () - c0;
    printf ("%6zu %12.1f %10.4f %10.4f\n", e, n_windows / dt,
        1e3 * dt / n_windows, 1e3 * dc / n_windows);
  }
}

int
main (int argc, char **argv)
{
  gint n_windows = 200;
  gchar *thresholds_arg = NULL, *policy_arg = NULL;
  gint seed = 1;
  gchar *audio_arg = NULL, *sections_arg = NULL;
  gchar *dump_features = NULL, *dump_logits = NULL;
  gdouble interval_ms = 500.0;
  gint n_inputs_max = 64;
  gdouble stream_hop_ms = 0.0;
  gint only_exit = 0;
  GOptionEntry entries[] = {
    { "windows", 'n', 0, G_OPTION_ARG_INT, &n_windows,
      "Windows per threshold (default 200)", "N" },
    { "thresholds", 't', 0, G_OPTION_ARG_STRING, &thresholds_arg,
      "Comma-separated thresholds (default: 0,0.5,1,1.5,2,100 for entropy; "
      "0.5,0.7,0.9,0.99,1.01 for max-probability; 0 for the others)", "LIST" },
    { "policy", 'p', 0, G_OPTION_ARG_STRING, &policy_arg,
      "A policy of the engine's table (beenet_policy_name; default entropy)",
      "POLICY" },
    { "seed", 's', 0, G_OPTION_ARG_INT, &seed,
      "Seed of the built-in model and of the input audio", "SEED" },
    { "audio", 'a', 0, G_OPTION_ARG_FILENAME, &audio_arg,
      "Input: raw signed 16-bit little-endian mono audio at the model's "
      "rate (default: synthetic noise + tones)", "FILE" },
    { "interval-ms", 'i', 0, G_OPTION_ARG_DOUBLE, &interval_ms,
      "With --audio: distance between window starts (default 500, the "
      "element's default)", "MS" },
    { "inputs", 0, 0, G_OPTION_ARG_INT, &n_inputs_max,
      "With --audio: distinct windows whose features the fe/net sections "
      "cycle through (default 64)", "N" },
    { "sections", 0, 0, G_OPTION_ARG_STRING, &sections_arg,
      "What to time, comma-separated: fe (front-end), net (network, all "
      "exits, features given), th (threshold sweep), stream (the windows "
      "in order at the model's policy and threshold, with the keyword "
      "detector, like the element), exits (front-end + network up to each "
      "exit, see --exit); default fe,net,th", "LIST" },
    { "dump-features", 0, 0, G_OPTION_ARG_FILENAME, &dump_features,
      "Write the log-Mel features of the distinct input windows (raw "
      "float32) for bench-onnx", "FILE" },
    { "dump-logits", 0, 0, G_OPTION_ARG_FILENAME, &dump_logits,
      "Write run_all_exits' logits of the first input window (raw float32)",
      "FILE" },
    { "stream-hop", 'H', 0, G_OPTION_ARG_DOUBLE, &stream_hop_ms,
      "Also time the streaming front-end with windows HOP ms apart "
      "(e.g. 500, 250)", "HOP_MS" },
    { "exit", 'e', 0, G_OPTION_ARG_INT, &only_exit,
      "The exits section times only this exit (1-based; default 0 = every "
      "exit)", "E" },
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
  BeenetError policy_err;
  if (policy_arg && beenet_policy_from_name (policy_arg, &policy,
          &policy_err)) {
    fprintf (stderr, "bench-engine: %s\n", policy_err.message);
    return 2;
  }

  gchar **sections = g_strsplit (sections_arg ? sections_arg : "fe,net,th",
      ",", -1);
  const gboolean do_fe = g_strv_contains ((const gchar * const *) sections, "fe");
  const gboolean do_net = g_strv_contains ((const gchar * const *) sections, "net");
  const gboolean do_th = g_strv_contains ((const gchar * const *) sections, "th");
  const gboolean do_stream = g_strv_contains ((const gchar * const *) sections,
      "stream");
  const gboolean do_exits = g_strv_contains ((const gchar * const *) sections,
      "exits");
  g_strfreev (sections);

  BeenetModel *model;
  BeenetError err;
  const size_t heap0 = heap_in_use ();
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
  const size_t heap_model = heap_in_use () - heap0;
  printf ("kernels: %s, fft: %s, engine %s\n", beenet_kernel_name (),
      beenet_fft_backend_name () ? beenet_fft_backend_name () : "(none)",
      beenet_version ());

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
  const size_t heap1 = heap_in_use ();
  if (beenet_session_new (model, &session, &err))
    die ("creating a session", &err);
  const size_t heap_session = heap_in_use () - heap1;
  printf ("memory: model %zu bytes, session %zu bytes (heap, mallinfo2)\n",
      heap_model, heap_session);
  printf ("activation memory: %.1f KiB\n",
      beenet_session_activation_bytes (session) / 1024.0);
  /* Issue 8's figure: activations (liveness-planned, after residual
   * fusion) + the packed-sign buffer, against 256 KiB. */
  printf ("session scratch: %.1f KiB (activations %.1f KiB + packed signs "
      "%.1f KiB; target <= 256 KiB)\n",
      beenet_session_scratch_bytes (session) / 1024.0,
      beenet_session_activation_bytes (session) / 1024.0,
      (beenet_session_scratch_bytes (session)
          - beenet_session_activation_bytes (session)) / 1024.0);

  /* Input windows: win[w] points at window_samples samples.  Synthetic:
   * a few distinct windows of noise + tones (fixed seed).  --audio: every
   * window of the recording at the interval. */
  float *audio;
  size_t n_win, hop, n_audio;
  if (audio_arg) {
    gchar *bytes;
    gsize len;
    if (!g_file_get_contents (audio_arg, &bytes, &len, &gerr)) {
      fprintf (stderr, "bench-engine: %s\n", gerr->message);
      return 1;
    }
    const size_t n_samples = len / 2;
    hop = (size_t) lround (interval_ms * 1e-3 * fc.sample_rate);
    if (hop < 1 || n_samples < fc.window_samples) {
      fprintf (stderr, "bench-engine: %s is shorter than one window, or the "
          "interval is too small\n", audio_arg);
      return 2;
    }
    audio = malloc (sizeof (float) * n_samples);
    int16_t *pcm = malloc (len);
    memcpy (pcm, bytes, n_samples * 2);
    beenet_convert_s16 (pcm, audio, n_samples);
    free (pcm);
    g_free (bytes);
    n_win = (n_samples - fc.window_samples) / hop + 1;
    n_audio = n_samples;
    printf ("input: %s, %.1f s, %zu windows every %g ms\n", audio_arg,
        (double) n_samples / fc.sample_rate, n_win, interval_ms);
  } else {
    n_win = 16;
    hop = fc.window_samples;
    n_audio = (size_t) fc.window_samples * n_win;
    audio = malloc (sizeof (float) * n_audio);
    uint32_t st = (uint32_t) seed;
    for (size_t w = 0; w < n_win; w++)
      for (uint32_t i = 0; i < fc.window_samples; i++)
        audio[w * fc.window_samples + i] = 0.05f * test_rand_float (&st)
            + 0.3f * sinf (2.0f * (float) M_PI * (200.0f + 150.0f * w) * i
            / (float) fc.sample_rate);
    printf ("input: %zu synthetic windows (noise + tones)\n", n_win);
  }
#define WINDOW(i) (audio + ((size_t) (i) % n_win) * hop)
  /* Distinct windows the front-end and network sections cycle through:
   * spread evenly over the recording. */
  size_t n_in = n_win < (size_t) MAX (n_inputs_max, 1) ? n_win
      : (size_t) MAX (n_inputs_max, 1);
  const size_t in_step = n_win / n_in;
#define INPUT(i) WINDOW (((size_t) (i) % n_in) * in_step)

  /* Front-end alone. */
  BeenetFrontend *fe;
  if (beenet_frontend_new (&fc, &fe, &err))
    die ("creating the front-end", &err);
  const size_t fsize = (size_t) fc.n_frames * fc.n_mels;
  float *feats = malloc (sizeof (float) * fsize * n_in);
  for (size_t w = 0; w < n_in; w++)
    if (beenet_frontend_compute (fe, INPUT (w), fc.window_samples,
            feats + w * fsize, &err))
      die ("front-end", &err);
  if (dump_features)
    write_floats (dump_features, feats, fsize * n_in);
  float *feat = malloc (sizeof (float) * fsize);
  double t0;
  /* Each timed section prints wall time and this process's CPU time: on a
   * shared machine the CPU time of a single-threaded loop is the steadier
   * figure (time spent waiting for the CPU is not counted). */
  double c0;
  if (do_fe) {
    c0 = cpu_now ();
    t0 = now ();
    for (int i = 0; i < n_windows; i++)
      beenet_frontend_compute (fe, INPUT (i), fc.window_samples, feat, NULL);
    double t_fe = now () - t0, c_fe = cpu_now () - c0;
    printf ("front-end only: %.1f windows/s (%.3f ms/window, %.3f ms CPU/window)\n",
        n_windows / t_fe, 1e3 * t_fe / n_windows, 1e3 * c_fe / n_windows);
  }
  if (stream_hop_ms > 0.0)
    bench_stream (&fc, audio, n_audio,
        (uint64_t) (stream_hop_ms * fc.sample_rate / 1000.0 + 0.5),
        n_windows, feat);

  /* Whole network without early exit. */
  const size_t n_classes = beenet_model_num_classes (model);
  float *logits = malloc (sizeof (float) * n_exits * n_classes);
  if (dump_logits) {
    if (beenet_session_run_all_exits (session, feats, logits, &err))
      die ("run_all_exits", &err);
    write_floats (dump_logits, logits, n_exits * n_classes);
  }
  if (do_net) {
    c0 = cpu_now ();
    t0 = now ();
    for (int i = 0; i < n_windows; i++)
      beenet_session_run_all_exits (session, feats + ((size_t) i % n_in) * fsize,
          logits, NULL);
    double t_all = now () - t0, c_all = cpu_now () - c0;
    printf ("network, all exits (features given): %.1f windows/s (%.3f ms/window, "
        "%.3f ms CPU/window)\n", n_windows / t_all, 1e3 * t_all / n_windows,
        1e3 * c_all / n_windows);
  }

  if (do_exits) {
    if (only_exit < 0 || (size_t) only_exit > n_exits) {
      fprintf (stderr, "bench-engine: --exit must be in 0..%zu\n", n_exits);
      return 2;
    }
    bench_exits (session, n_exits, (size_t) only_exit, audio, n_win, hop,
        fc.window_samples, n_windows);
  }

  const char *defaults = policy == BEENET_POLICY_ENTROPY
      ? "0,0.5,1,1.5,2,100" : policy == BEENET_POLICY_MAX_PROBABILITY
      ? "0.5,0.7,0.9,0.99,1.01" : "0";
  gchar **ths = g_strsplit (thresholds_arg ? thresholds_arg : defaults, ",", -1);
  unsigned *hist = calloc (n_exits + 1, sizeof (unsigned));
  if (do_th) {
  printf ("\npolicy %s, %d windows per threshold (front-end + network):\n",
      beenet_policy_name (policy), n_windows);
  printf ("%10s %12s %10s %10s %10s  exit histogram\n", "threshold",
      "windows/s", "ms/window", "cpu ms", "mean ops");
  for (gchar **t = ths; *t; t++) {
    char *end;
    float th = strtof (*t, &end);
    if (end == *t) {
      fprintf (stderr, "bench-engine: bad threshold '%s'\n", *t);
      return 2;
    }
    memset (hist, 0, sizeof (unsigned) * (n_exits + 1));
    double ops = 0.0;
    c0 = cpu_now ();
    t0 = now ();
    for (int i = 0; i < n_windows; i++) {
      BeenetResult r;
      if (beenet_session_classify (session, WINDOW (i), fc.window_samples,
              policy, th, &r, &err))
        die ("classify", &err);
      hist[r.exit_index]++;
      ops += r.ops_fraction;
    }
    double dt = now () - t0, dc = cpu_now () - c0;
    printf ("%10g %12.1f %10.3f %10.3f %10.3f  ", (double) th, n_windows / dt,
        1e3 * dt / n_windows, 1e3 * dc / n_windows, ops / n_windows);
    for (size_t e = 1; e <= n_exits; e++)
      printf ("%s%u", e > 1 ? "/" : "", hist[e]);
    printf ("\n");
  }
  }
  g_strfreev (ths);

  /* Streaming use: the windows in order, the model's own policy and
   * threshold, posteriors pushed into the keyword detector (what the element
   * does per window, minus GStreamer). */
  if (do_stream) {
    const BeenetPolicy sp = beenet_model_default_policy (model);
    const float sth = beenet_model_default_threshold (model);
    const BeenetPolicyParams spp = beenet_model_default_params (model);
    BeenetDetector *det;
    BeenetStream *stream;
    const size_t heap2 = heap_in_use ();
    if (beenet_detector_new (model, NULL, &det, &err))
      die ("creating the detector", &err);
    const size_t heap_det = heap_in_use () - heap2;
    const size_t heap3 = heap_in_use ();
    if (beenet_stream_new (&fc, NULL, &stream, &err))
      die ("creating the stream", &err);
    const size_t heap_stream = heap_in_use () - heap3;
    memset (hist, 0, sizeof (unsigned) * (n_exits + 1));
    double ops = 0.0;
    unsigned detections = 0;
    uint64_t pos = 0;
    c0 = cpu_now ();
    t0 = now ();
    /* As the element: the recording pushed into a BeenetStream (each 10 ms
     * frame computed once), a window every `hop` samples classified from
     * it (the energy gate off, its default). */
    for (int i = 0; i < n_windows; i++) {
      BeenetResult r;
      BeenetDetection d;
      int fired;
      push_until (stream, audio, n_audio, &pos,
          (uint64_t) i * hop + fc.window_samples);
      if (beenet_session_classify_stream_params (session, stream,
              (uint64_t) i * hop, &spp, &r, &err))
        die ("classify", &err);
      if (beenet_detector_push (det, (int64_t) (i + 1) * (int64_t) hop
              * 1000000000 / fc.sample_rate, r.probabilities, r.num_classes,
              &d, &fired, &err))
        die ("detector", &err);
      detections += (unsigned) fired;
      hist[r.exit_index]++;
      ops += r.ops_fraction;
    }
    const double dt = now () - t0, dc = cpu_now () - c0;
    printf ("\nstream: %d windows, policy %s, threshold %g (the model's), "
        "detector %zu bytes\n", n_windows,
        beenet_policy_name (sp), (double) sth, heap_det);
    printf ("stream: %.1f windows/s wall, %.1f windows per CPU second "
        "(%.3f ms CPU/window), mean ops %.3f, %u detections, exits ",
        n_windows / dt, n_windows / dc, 1e3 * dc / n_windows,
        ops / n_windows, detections);
    for (size_t e = 1; e <= n_exits; e++)
      printf ("%s%u", e > 1 ? "/" : "", hist[e]);
    printf ("\n");
    BeenetStreamStats sst;
    beenet_stream_get_stats (stream, &sst);
    printf ("stream: BeenetStream %zu bytes, %.1f frames computed + %.1f "
        "reused per window\n", heap_stream,
        (double) sst.frames_computed / n_windows,
        (double) sst.frames_reused / n_windows);
    beenet_stream_free (stream);
    beenet_detector_free (det);
  }
  free (hist);
  free (logits);
  free (feat);
  free (feats);
  free (audio);
  beenet_frontend_free (fe);
  beenet_session_free (session);
  beenet_model_unref (model);
  g_free (thresholds_arg);
  g_free (policy_arg);
  g_free (audio_arg);
  g_free (sections_arg);
  g_free (dump_features);
  g_free (dump_logits);
  return 0;
}
