/* Energy gate (beenet_stream_level, beenet_session_classify_stream_gated)
 * on synthetic audio: digital silence, tones at known dBFS. */
#include "beenet.h"
#include "check-main.h"
#include "gguf-writer.h"
#include "test-models.h"
#include "writer-load.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(BEENET_TEST_WRAP_MALLOC)
#include "alloc-count.h"
#endif

#define RATE 16000
#define WIN 16000

static BeenetModel *
level_model (const char *const *labels)
{
  return writer_load_ok (test_models_level_writer (labels));
}

/* A sine of peak amplitude 10^(dbfs_peak / 20), 1 kHz. */
static void
tone (float *x, size_t n, double dbfs_peak)
{
  const double a = pow (10.0, dbfs_peak / 20.0);
  for (size_t i = 0; i < n; i++)
    x[i] = (float) (a * sin (2.0 * M_PI * 1000.0 * (double) i / RATE));
}

static BeenetStream *
stream_with (const float *x, size_t n)
{
  BeenetStream *st = NULL;
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  ck_assert_int_eq (beenet_stream_new (&c, NULL, &st, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_push (st, x, n, NULL), BEENET_OK);
  return st;
}

START_TEST (test_level)
{
  float *x = calloc (WIN, sizeof (float));
  double db;
  BeenetError err;
  BeenetStream *st = stream_with (x, WIN);
  ck_assert_int_eq (beenet_stream_level (st, 0, &db, &err), BEENET_OK);
  ck_assert (isinf (db) && db < 0);
  beenet_stream_free (st);

  /* a sine's rms is its peak - 3.01 dB */
  const double peaks[] = { 0.0, -20.0, -60.0 };
  for (int i = 0; i < 3; i++) {
    tone (x, WIN, peaks[i]);
    st = stream_with (x, WIN);
    ck_assert_int_eq (beenet_stream_level (st, 0, &db, &err), BEENET_OK);
    ck_assert_double_eq_tol (db, peaks[i] - 3.0103, 0.01);
    beenet_stream_free (st);
  }
  st = stream_with (x, WIN - 1);
  ck_assert_int_eq (beenet_stream_level (st, 0, &db, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  x[5] = NAN;
  beenet_stream_push (st, x, WIN, NULL);
  ck_assert_int_eq (beenet_stream_level (st, WIN - 1, &db, &err),
      BEENET_ERROR_NONFINITE);
  beenet_stream_free (st);
  free (x);
}
END_TEST

static void
check_gate (const char *const *labels, uint32_t silence_class,
    const char *silence_label)
{
  BeenetModel *m = level_model (labels);
  BeenetSession *s;
  BeenetResult r;
  BeenetError err;
  double db;
  ck_assert_int_eq (beenet_session_new (m, &s, &err), BEENET_OK);
  BeenetPolicyParams p = beenet_model_default_params (m);
  float *x = malloc (sizeof (float) * WIN);

  /* -40 dBFS peak tone (-43 dB rms): gated below a -30 dB gate */
  tone (x, WIN, -40.0);
  BeenetStream *st = stream_with (x, WIN);
  ck_assert_int_eq (beenet_session_classify_stream_gated (s, st, 0, &p,
          -30.0, &r, &db, &err), BEENET_OK);
  ck_assert_double_eq_tol (db, -43.01, 0.01);
  ck_assert_uint_eq (r.exit_index, 0);
  ck_assert_uint_eq (r.class_index, silence_class);
  ck_assert_str_eq (r.label, silence_label);
  ck_assert_double_eq (r.ops_fraction, 0.0);
  ck_assert_uint_eq (r.bops_executed + r.flops_executed, 0);
  ck_assert_float_eq (r.confidence, 1.0f);
  ck_assert_float_eq (r.probabilities[silence_class], 1.0f);
  ck_assert_uint_eq (r.num_classes, 4);

  /* the same window above a -50 dB gate, or with the gate off, runs */
  const double gates[] = { -50.0, -INFINITY };
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq (beenet_session_classify_stream_gated (s, st, 0, &p,
            gates[i], &r, NULL, &err), BEENET_OK);
    ck_assert_uint_ge (r.exit_index, 1);
    ck_assert_double_gt (r.ops_fraction, 0.0);
  }
  ck_assert_int_eq (beenet_session_classify_stream_gated (s, st, 0, &p,
          NAN, &r, NULL, &err), BEENET_ERROR_INVALID_ARGUMENT);
  beenet_stream_free (st);

  /* digital silence is gated by any finite gate */
  memset (x, 0, sizeof (float) * WIN);
  st = stream_with (x, WIN);
  ck_assert_int_eq (beenet_session_classify_stream_gated (s, st, 0, &p,
          -150.0, &r, &db, &err), BEENET_OK);
  ck_assert_uint_eq (r.exit_index, 0);
  ck_assert (isinf (db));
#if defined(BEENET_TEST_WRAP_MALLOC)
  n_allocs = 0;
  counting = 1;
  for (int i = 0; i < 10; i++)
    beenet_session_classify_stream_gated (s, st, 0, &p, -150.0, &r, &db,
        &err);
  counting = 0;
  ck_assert_int_eq (n_allocs, 0);
#endif
  beenet_stream_free (st);
  free (x);
  beenet_session_free (s);
  beenet_model_unref (m);
}

START_TEST (test_gate_silence_label)
{
  const char *const labels[] = { "a", "_silence_", "b", "c" };
  check_gate (labels, 1, "_silence_");
}
END_TEST

START_TEST (test_gate_no_silence_label)
{
  const char *const labels[] = { "a", "b", "c", "d" };
  BeenetModel *m = level_model (labels);
  ck_assert_int_eq (beenet_model_silence_class (m), -1);
  beenet_model_unref (m);
  check_gate (labels, 0, "a");
}
END_TEST

static Suite *
gate_suite (void)
{
  Suite *s = suite_create ("gate");
  TCase *tc = tcase_create ("core");
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_level);
  tcase_add_test (tc, test_gate_silence_label);
  tcase_add_test (tc, test_gate_no_silence_label);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return check_run_suite (gate_suite ());
}
