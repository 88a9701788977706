/* bench-onnx: time an ONNX model (the float twin of a beenet model, see
 * bench/twin.py) with the ONNX Runtime C API, like bench-engine times the
 * engine.
 *
 *   bench-onnx MODEL.onnx FEATURES.f32 [-n WINDOWS] [-j THREADS]
 *       [--expect LOGITS.f32]
 *
 * FEATURES.f32 holds one or more windows of raw float32 log-Mel features
 * (n_frames * n_mels each, frame-major), as `bench-engine --dump-features`
 * writes them; the model input is (1, n_frames, n_mels) and its shape is
 * read from the model.  The windows are cycled through.  With --expect, the
 * logits of the first window are compared with LOGITS.f32 (the engine's
 * run_all_exits logits of the same window, `bench-engine --dump-logits`).
 *
 * Not built by meson (libonnxruntime is not a build dependency): bench/run.sh
 * compiles it when it has the library.  Not a test: nothing is asserted. */
#include <onnxruntime_c_api.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const OrtApi *ort;

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

static void
check (OrtStatus *st, const char *what)
{
  if (!st)
    return;
  fprintf (stderr, "bench-onnx: %s: %s\n", what, ort->GetErrorMessage (st));
  ort->ReleaseStatus (st);
  exit (1);
}

static float *
read_floats (const char *path, size_t *n)
{
  FILE *f = fopen (path, "rb");
  if (!f) {
    perror (path);
    exit (1);
  }
  fseek (f, 0, SEEK_END);
  long size = ftell (f);
  fseek (f, 0, SEEK_SET);
  if (size <= 0 || size % 4) {
    fprintf (stderr, "bench-onnx: %s: not a float32 array\n", path);
    exit (1);
  }
  float *v = malloc ((size_t) size);
  if (!v || fread (v, 1, (size_t) size, f) != (size_t) size) {
    fprintf (stderr, "bench-onnx: cannot read %s\n", path);
    exit (1);
  }
  fclose (f);
  *n = (size_t) size / 4;
  return v;
}

static void
usage (void)
{
  fprintf (stderr, "usage: bench-onnx MODEL.onnx FEATURES.f32 [-n WINDOWS] "
      "[-j THREADS] [--expect LOGITS.f32]\n");
  exit (2);
}

int
main (int argc, char **argv)
{
  const char *model_path = NULL, *feat_path = NULL, *expect_path = NULL;
  int n_windows = 200, threads = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp (argv[i], "-n") && i + 1 < argc)
      n_windows = atoi (argv[++i]);
    else if (!strcmp (argv[i], "-j") && i + 1 < argc)
      threads = atoi (argv[++i]);
    else if (!strcmp (argv[i], "--expect") && i + 1 < argc)
      expect_path = argv[++i];
    else if (argv[i][0] == '-')
      usage ();
    else if (!model_path)
      model_path = argv[i];
    else if (!feat_path)
      feat_path = argv[i];
    else
      usage ();
  }
  if (!model_path || !feat_path || n_windows < 1 || threads < 1)
    usage ();

  ort = OrtGetApiBase ()->GetApi (ORT_API_VERSION);
  if (!ort) {
    fprintf (stderr, "bench-onnx: libonnxruntime %s does not provide C API "
        "version %d\n", OrtGetApiBase ()->GetVersionString (), ORT_API_VERSION);
    return 1;
  }

  OrtEnv *env;
  check (ort->CreateEnv (ORT_LOGGING_LEVEL_WARNING, "bench-onnx", &env),
      "CreateEnv");
  OrtSessionOptions *so;
  check (ort->CreateSessionOptions (&so), "CreateSessionOptions");
  check (ort->SetIntraOpNumThreads (so, threads), "SetIntraOpNumThreads");
  check (ort->SetInterOpNumThreads (so, 1), "SetInterOpNumThreads");
  check (ort->SetSessionExecutionMode (so, ORT_SEQUENTIAL),
      "SetSessionExecutionMode");
  check (ort->SetSessionGraphOptimizationLevel (so, ORT_ENABLE_ALL),
      "SetSessionGraphOptimizationLevel");
  OrtSession *session;
  check (ort->CreateSession (env, model_path, so, &session), "CreateSession");

  /* Input shape from the model: (1, n_frames, n_mels). */
  OrtTypeInfo *ti;
  check (ort->SessionGetInputTypeInfo (session, 0, &ti), "input type");
  const OrtTensorTypeAndShapeInfo *tsi;
  check (ort->CastTypeInfoToTensorInfo (ti, &tsi), "input tensor info");
  size_t in_dims_n;
  check (ort->GetDimensionsCount (tsi, &in_dims_n), "input rank");
  int64_t in_dims[8] = { 0 };
  if (in_dims_n != 3) {
    fprintf (stderr, "bench-onnx: expected a (1, frames, mels) input, got "
        "rank %zu\n", in_dims_n);
    return 1;
  }
  check (ort->GetDimensions (tsi, in_dims, in_dims_n), "input dims");
  ort->ReleaseTypeInfo (ti);
  const size_t window = (size_t) (in_dims[1] * in_dims[2]);

  size_t n_feat;
  float *feats = read_floats (feat_path, &n_feat);
  if (n_feat < window || n_feat % window) {
    fprintf (stderr, "bench-onnx: %s holds %zu floats, not a multiple of the "
        "window (%zu)\n", feat_path, n_feat, window);
    return 1;
  }
  const size_t n_inputs = n_feat / window;

  OrtMemoryInfo *mem;
  check (ort->CreateCpuMemoryInfo (OrtArenaAllocator, OrtMemTypeDefault, &mem),
      "CreateCpuMemoryInfo");
  OrtValue **inputs = calloc (n_inputs, sizeof (OrtValue *));
  for (size_t w = 0; w < n_inputs; w++)
    check (ort->CreateTensorWithDataAsOrtValue (mem, feats + w * window,
            window * sizeof (float), in_dims, 3,
            ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &inputs[w]), "input tensor");

  const char *in_names[] = { "features" };
  const char *out_names[] = { "logits" };

  /* First window: output shape and the optional comparison. */
  OrtValue *out = NULL;
  check (ort->Run (session, NULL, in_names, (const OrtValue *const *) &inputs[0],
          1, out_names, 1, &out), "Run");
  OrtTensorTypeAndShapeInfo *oti;
  check (ort->GetTensorTypeAndShape (out, &oti), "output shape");
  size_t n_out;
  check (ort->GetTensorShapeElementCount (oti, &n_out), "output size");
  ort->ReleaseTensorTypeAndShapeInfo (oti);
  float *logits;
  check (ort->GetTensorMutableData (out, (void **) &logits), "output data");
  if (expect_path) {
    size_t n_exp;
    float *exp = read_floats (expect_path, &n_exp);
    if (n_exp < n_out) {
      fprintf (stderr, "bench-onnx: %s holds %zu logits, the model outputs "
          "%zu\n", expect_path, n_exp, n_out);
      return 1;
    }
    double maxd = 0.0, maxv = 0.0;
    for (size_t i = 0; i < n_out; i++) {
      maxd = fmax (maxd, fabs ((double) logits[i] - exp[i]));
      maxv = fmax (maxv, fabs ((double) exp[i]));
    }
    printf ("check: max |onnx - engine| logit difference %.3g "
        "(largest logit %.3g) over %zu logits\n", maxd, maxv, n_out);
    free (exp);
  }
  ort->ReleaseValue (out);

  /* Warm-up, then the timed loop (outputs allocated by ORT each run, as a
   * plain Run() caller would). */
  const int warm = n_windows < 20 ? n_windows : 20;
  for (int i = 0; i < warm; i++) {
    out = NULL;
    check (ort->Run (session, NULL, in_names,
            (const OrtValue *const *) &inputs[(size_t) i % n_inputs], 1,
            out_names, 1, &out), "Run");
    ort->ReleaseValue (out);
  }
  /* CPU time is the whole process's: with several intra-op threads it is
   * the sum over them (their spinning included), not a latency. */
  double c0 = cpu_now ();
  double t0 = now ();
  for (int i = 0; i < n_windows; i++) {
    out = NULL;
    check (ort->Run (session, NULL, in_names,
            (const OrtValue *const *) &inputs[(size_t) i % n_inputs], 1,
            out_names, 1, &out), "Run");
    ort->ReleaseValue (out);
  }
  double dt = now () - t0, dc = cpu_now () - c0;
  printf ("onnxruntime %s, %d intra-op thread%s, %zu outputs: "
      "%.1f windows/s (%.3f ms/window, %.3f ms CPU/window)\n",
      OrtGetApiBase ()->GetVersionString (), threads, threads > 1 ? "s" : "",
      n_out, n_windows / dt, 1e3 * dt / n_windows, 1e3 * dc / n_windows);

  for (size_t w = 0; w < n_inputs; w++)
    ort->ReleaseValue (inputs[w]);
  free (inputs);
  ort->ReleaseMemoryInfo (mem);
  ort->ReleaseSession (session);
  ort->ReleaseSessionOptions (so);
  ort->ReleaseEnv (env);
  free (feats);
  return 0;
}
