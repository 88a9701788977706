/* Tests for the beenet element (GstHarness, no system plugins needed).
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Model used by most tests: test_models_constant_exits() with 3 exits and
 * 2 classes whose logits never depend on the input:
 *
 *   exit 1: {0, 1}  -> p = (1/(1+e), e/(1+e)) = (0.268941421, 0.731058579)
 *                      class 1, H = ln(1+e) - e/(1+e) = 0.582203109 nats
 *   exit 2: {10, 0} -> p = (1/(1+e^-10), e^-10/(1+e^-10))
 *                      = (0.999954602, 0.000045398)
 *                      class 0, H = 0.000499378 nats
 *   exit 3: {0, 3}  -> p = (1/(1+e^3), e^3/(1+e^3)) = (0.047425873, 0.952574127)
 *                      class 1, H = 0.190864971 nats
 *
 * So under the entropy policy threshold 0.7 stops at exit 1, 0.5 at exit 2
 * and 0.0001 runs to the last exit; under max-probability 0.7 stops at
 * exit 1, 0.9 at exit 2 and 0.99999 at exit 3.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <gst/gst.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/controller/gstinterpolationcontrolsource.h>
#include <gst/controller/gstdirectcontrolbinding.h>

#include "beenet.h"
#include "gstbeenet.h"
#include "harness.h"
#include "test-models.h"

#ifndef HAVE_DEFAULT_MODEL
#define HAVE_DEFAULT_MODEL 0
#endif

#define RATE 16000
#define WINDOW 16000
#define NS_PER_SAMPLE (GST_SECOND / RATE)       /* 62500 exactly */

static const float const_logits[] = { 0.f, 1.f, 10.f, 0.f, 0.f, 3.f };

typedef struct
{
  guint cls;
  const gchar *label;
  gdouble p0, p1, entropy;
} ExitExpect;

static const ExitExpect exits_expected[3] = {
  {1, "class1", 0.268941421, 0.731058579, 0.582203109},
  {0, "class0", 0.999954602, 0.000045398, 0.000499378},
  {1, "class1", 0.047425873, 0.952574127, 0.190864971},
};

/* ------------------------------------------------------------------------ */
/* helpers (the harness itself is in harness.c)                             */

/* A small model whose output follows the input: the time-averaged log-Mel
 * spectrum (avgpool 98x1 -> 1x64) feeds two dense exits (random weights
 * from the builder's fixed seed, scale 0.05 so the softmax is not
 * saturated).  Used where results must depend on the exact samples. */
static guint8 *
input_dependent_model (size_t * size)
{
  static const float scale[3] = { 0.05f, 0.05f, 0.05f };
  static const float bias[3] = { 0.f, 0.f, 0.f };
  TestModel *m = test_model_new (3);
  int pooled, a;

  pooled = test_model_avgpool (m, 0, 98, 1, 98, 1, 0, 0);
  fail_unless (pooled > 0);
  a = test_model_dense (m, pooled, 3, 0, NULL, scale, bias);
  fail_unless (test_model_exit (m, a) > 0);
  a = test_model_dense (m, pooled, 3, 0, NULL, scale, bias);
  fail_unless (test_model_exit (m, a) > 0);
  return test_model_finish_bytes (m, size);
}

/* 16 kHz audio, S16LE or F32LE: explicit threshold (the default may be
 * retuned for the shipped model); these tests count the per-window
 * messages only (keyword detections are tested in test-beenet-detection.c) */
static void
setup (Fixture * f, const gchar * model, guint64 interval, gboolean f32,
    guint channels)
{
  fixture_setup (f, model, interval, "threshold", 0.5, "post-detections",
      FALSE, NULL);
  fixture_set_format (f, f32 ? GST_AUDIO_FORMAT_F32 : GST_AUDIO_FORMAT_S16,
      RATE, channels, FALSE);
}

/* Makes a buffer of n frames from mono samples (each channel a copy). */
static GstBuffer *
make_buffer (Fixture * f, const gfloat * mono, gsize n, GstClockTime pts)
{
  gboolean f32 = GST_AUDIO_INFO_FORMAT (&f->info) == GST_AUDIO_FORMAT_F32;
  guint channels = GST_AUDIO_INFO_CHANNELS (&f->info);
  GstBuffer *buf = gst_buffer_new_allocate (NULL,
      n * GST_AUDIO_INFO_BPF (&f->info), NULL);
  GstMapInfo map;
  gsize i, c;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (i = 0; i < n; i++) {
    for (c = 0; c < channels; c++) {
      if (f32) {
        ((gfloat *) map.data)[i * channels + c] = mono[i];
      } else {
        ((gint16 *) map.data)[i * channels + c] =
            (gint16) lrintf (mono[i] * 32768.0f);
      }
    }
  }
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = n * NS_PER_SAMPLE;
  return buf;
}

/* Pushes n samples starting at pts, in buffers of `chunk` frames, and
 * checks each buffer comes out unchanged. */
static void
push_samples (Fixture * f, const gfloat * mono, gsize n, gsize chunk,
    GstClockTime pts)
{
  gsize done;

  for (done = 0; done < n; done += chunk)
    fixture_push_exact (f, make_buffer (f, mono + done, MIN (chunk,
                n - done), pts + done * NS_PER_SAMPLE));
}

static gfloat *
zeros (gsize n)
{
  return g_new0 (gfloat, n);
}

/* Deterministic "audio": two tones plus LCG noise, quantised to 16-bit
 * steps so S16 and F32 carry exactly the same values. */
static gfloat *
test_audio (gsize n, guint32 seed)
{
  gfloat *s = g_new (gfloat, n);
  guint32 state = seed;
  gsize i;

  for (i = 0; i < n; i++) {
    gdouble v = 0.3 * sin (2 * G_PI * 440.0 * i / RATE) +
        0.2 * sin (2 * G_PI * (1000.0 + (i / 4000) * 300.0) * i / RATE) +
        0.1 * test_rand_float (&state);
    gint q = (gint) lrint (v * 32768.0);
    s[i] = CLAMP (q, -32768, 32767) / 32768.0f;
  }
  return s;
}

/* Pops the next element/error/warning message, NULL if none. */
static GstMessage *
pop_message (GstBus * bus)
{
  return fixture_pop (bus, GST_MESSAGE_ERROR | GST_MESSAGE_WARNING);
}

/* The next message, which must be a "beenet" one (NULL if none). */
static GstMessage *
pop_beenet (GstBus * bus)
{
  GstMessage *m = fixture_pop (bus, 0);

  if (m != NULL)
    fail_unless (gst_message_has_name (m, "beenet"), "%" GST_PTR_FORMAT,
        gst_message_get_structure (m));
  return m;
}

/* The "probabilities" field: a GValueArray of doubles (as level's rms). */
static const GValueArray *
get_probabilities (const GstStructure * s)
{
  const GValue *v = gst_structure_get_value (s, "probabilities");
  const GValueArray *arr;
  guint i;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  fail_unless (v != NULL && G_VALUE_HOLDS (v, g_value_array_get_type ()));
  G_GNUC_END_IGNORE_DEPRECATIONS;
  arr = g_value_get_boxed (v);
  fail_unless (arr != NULL);
  for (i = 0; i < arr->n_values; i++)
    fail_unless (G_VALUE_HOLDS_DOUBLE (&arr->values[i]));
  return arr;
}

#define assert_close(a, b, tol) \
  fail_unless (fabs ((gdouble) (a) - (gdouble) (b)) <= (tol), \
      "%s = %.9g, expected %.9g", #a, (gdouble) (a), (gdouble) (b))

/* Checks the message of a window classified by the constant model. */
static void
check_constant_window (GstMessage * m, guint exit_no, gdouble threshold,
    const gchar * policy)
{
  const GstStructure *s = gst_message_get_structure (m);
  const ExitExpect *e = &exits_expected[exit_no - 1];
  const GValueArray *probs;

  fail_unless_equals_int (get_uint (s, "exit"), exit_no);
  fail_unless_equals_int (get_uint (s, "num-exits"), 3);
  fail_unless_equals_int (get_uint (s, "class"), e->cls);
  fail_unless_equals_string (gst_structure_get_string (s, "label"), e->label);
  assert_close (get_double (s, "entropy"), e->entropy, 2e-5);
  assert_close (get_double (s, "confidence"), MAX (e->p0, e->p1), 2e-6);
  assert_close (get_double (s, "threshold"), threshold, 1e-12);
  fail_unless_equals_string (gst_structure_get_string (s, "policy"), policy);
  probs = get_probabilities (s);
  fail_unless_equals_int (probs->n_values, 2);
  assert_close (g_value_get_double (&probs->values[0]), e->p0, 2e-6);
  assert_close (g_value_get_double (&probs->values[1]), e->p1, 2e-6);
  fail_unless (get_double (s, "ops-fraction") > 0.0);
  fail_unless (get_double (s, "ops-fraction") <= 1.0 + 1e-9);
  if (exit_no == 3)
    assert_close (get_double (s, "ops-fraction"), 1.0, 1e-9);
  fail_unless (gst_structure_has_field_typed (s, "inference-time",
          G_TYPE_UINT64));
}

/* setup() with `model`, which fixture_teardown() then removes. */
static void
setup_owned (Fixture * f, gchar * model, guint64 interval, gboolean f32,
    guint channels)
{
  setup (f, model, interval, f32, channels);
  f->model = model;
}

/* setup_owned() with the constant model. */
static void
setup_constant (Fixture * f, guint64 interval, gboolean f32, guint channels)
{
  setup_owned (f, fixture_constant_model (), interval, f32, channels);
}

/* The next message is a window of the constant model (see
 * check_constant_window()). */
static void
expect_constant_window (Fixture * f, guint exit_no, gdouble threshold,
    const gchar * policy)
{
  GstMessage *m = pop_beenet (f->bus);

  fail_unless (m != NULL);
  check_constant_window (m, exit_no, threshold, policy);
  gst_message_unref (m);
}

/* The next message is a window at `ts`, lasting `duration` unless that is
 * GST_CLOCK_TIME_NONE (not checked). */
static void
expect_window (Fixture * f, GstClockTime ts, GstClockTime duration)
{
  GstMessage *m = pop_beenet (f->bus);
  const GstStructure *s;

  fail_unless (m != NULL);
  s = gst_message_get_structure (m);
  fail_unless_equals_uint64 (get_u64 (s, "timestamp"), ts);
  if (duration != GST_CLOCK_TIME_NONE)
    fail_unless_equals_uint64 (get_u64 (s, "duration"), duration);
  gst_message_unref (m);
}

/* No message is left; tears f down and frees audio. */
static void
finish (Fixture * f, gfloat * audio)
{
  fail_unless (pop_message (f->bus) == NULL);
  fixture_teardown (f);
  g_free (audio);
}

/* ------------------------------------------------------------------------ */
/* windowing and timestamps                                                 */

GST_START_TEST (test_timestamps)
{
  static const gsize chunks[] = { 1, 160, 1000, 16000, 48000 };
  static const guint64 intervals[] = { 250 * GST_MSECOND, 500 * GST_MSECOND,
    GST_SECOND
  };
  const GstClockTime seg_start = 5 * GST_SECOND, seg_time = 100 * GST_SECOND,
      seg_base = 2 * GST_SECOND;
  const gsize total = 3 * WINDOW + 5000;        /* 3.3125 s */
  gchar *model = fixture_constant_model ();
  gfloat *audio = zeros (total);
  guint ci, ii;

  for (ii = 0; ii < G_N_ELEMENTS (intervals); ii++) {
    for (ci = 0; ci < G_N_ELEMENTS (chunks); ci++) {
      guint64 interval = intervals[ii];
      gsize istep = interval / NS_PER_SAMPLE;
      Fixture f;
      GstMessage *m;
      gsize k, expected = 0;

      setup (&f, model, interval, TRUE, 1);
      fixture_segment (&f, seg_start, seg_time, seg_base);
      push_samples (&f, audio, total, chunks[ci], seg_start);
      fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));

      for (k = 0;; k++) {
        gsize start = k * istep, real;
        GstClockTime ts;
        const GstStructure *s;

        if (start >= total || 2 * (total - start) < WINDOW)
          break;
        real = MIN (WINDOW, total - start);
        ts = seg_start + start * NS_PER_SAMPLE;
        m = pop_beenet (f.bus);
        fail_unless (m != NULL, "missing window %" G_GSIZE_FORMAT
            " (chunk %" G_GSIZE_FORMAT ", interval %" G_GUINT64_FORMAT ")",
            k, chunks[ci], interval);
        s = gst_message_get_structure (m);
        fail_unless (GST_MESSAGE_SRC (m) == GST_OBJECT (f.element));
        fail_unless_equals_uint64 (get_u64 (s, "timestamp"), ts);
        fail_unless_equals_uint64 (get_u64 (s, "duration"),
            real * NS_PER_SAMPLE);
        fail_unless_equals_uint64 (get_u64 (s, "stream-time"),
            ts - seg_start + seg_time);
        fail_unless_equals_uint64 (get_u64 (s, "running-time"),
            ts - seg_start + seg_base);
        check_constant_window (m, 2, 0.5, "entropy");
        gst_message_unref (m);
        expected++;
      }
      m = pop_message (f.bus);
      fail_unless (m == NULL, "unexpected extra message after %"
          G_GSIZE_FORMAT " windows", expected);
      /* 250 ms: 10 full + 2 padded; 500 ms: 5 + 1; 1 s: 3 + 0 */
      fail_unless_equals_int (expected, ii == 0 ? 12 : ii == 1 ? 6 : 3);
      fixture_teardown (&f);
    }
  }
  g_free (audio);
  fixture_remove_model (model);
}

GST_END_TEST;

/* Windows hold exactly the right samples: the element's result for each
 * window equals the engine's result on the same slice of the input. */
GST_START_TEST (test_window_contents)
{
  const gsize total = 2 * WINDOW + 4000;
  gfloat *audio = test_audio (total, 7);
  size_t size = 0;
  guint8 *bytes = input_dependent_model (&size);
  gchar *model = fixture_write_model_bytes (bytes, size);
  BeenetModel *bm = NULL;
  gdouble first_p0 = -1.0;
  gboolean differs = FALSE;
  BeenetSession *session = NULL;
  BeenetError err;
  Fixture f;
  gsize k;

  fail_unless_equals_int (beenet_model_load_memory (bytes, size, &bm, &err),
      BEENET_OK);
  fail_unless_equals_int (beenet_session_new (bm, &session, &err), BEENET_OK);

  setup (&f, model, 250 * GST_MSECOND, TRUE, 1);
  g_object_set (f.element, "threshold", 0.3, NULL);
  push_samples (&f, audio, total, 333, 0);

  for (k = 0; k * 4000 + WINDOW <= total; k++) {
    GstMessage *m = pop_beenet (f.bus);
    const GstStructure *s;
    const GValueArray *probs;
    BeenetResult res;
    guint i;

    fail_unless (m != NULL);
    s = gst_message_get_structure (m);
    fail_unless_equals_int (beenet_session_classify (session,
            audio + k * 4000, WINDOW, BEENET_POLICY_ENTROPY, 0.3f, &res,
            &err), BEENET_OK);
    fail_unless_equals_uint64 (get_u64 (s, "timestamp"),
        k * 4000 * NS_PER_SAMPLE);
    fail_unless_equals_int (get_uint (s, "exit"), res.exit_index);
    fail_unless_equals_int (get_uint (s, "class"), res.class_index);
    fail_unless_equals_string (gst_structure_get_string (s, "label"),
        res.label);
    fail_unless (get_double (s, "entropy") == (gdouble) res.entropy);
    probs = get_probabilities (s);
    fail_unless_equals_int (probs->n_values, res.num_classes);
    for (i = 0; i < res.num_classes; i++)
      fail_unless (g_value_get_double (&probs->values[i]) ==
          (gdouble) res.probabilities[i]);
    if (first_p0 < 0.0)
      first_p0 = res.probabilities[0];
    else if (first_p0 != res.probabilities[0])
      differs = TRUE;
    gst_message_unref (m);
  }
  fail_unless (pop_message (f.bus) == NULL);
  /* the check above is only meaningful if windows differ */
  fail_unless (differs, "the model gives the same output for every window");
  fixture_teardown (&f);

  beenet_session_free (session);
  beenet_model_unref (bm);
  free (bytes);
  g_free (audio);
  fixture_remove_model (model);
}

GST_END_TEST;

/* The same for intervals on the 10 ms frame grid (130 ms) and off it
 * (125 ms: every other window; 333 ms: most windows), where the element's
 * streaming front-end shares frames or falls back to whole windows, and
 * for the zero-padded windows at EOS: each message equals the engine's
 * batch result on that window's samples. */
GST_START_TEST (test_window_contents_intervals)
{
  static const guint64 intervals_ms[] = { 130, 125, 333 };
  static const gsize chunks[] = { 333, 4096 };
  const gsize total = 2 * WINDOW + 4321;
  gfloat *audio = test_audio (total, 9);
  gfloat *padded = g_new0 (gfloat, WINDOW);
  size_t size = 0;
  guint8 *bytes = input_dependent_model (&size);
  gchar *model = fixture_write_model_bytes (bytes, size);
  BeenetModel *bm = NULL;
  BeenetSession *session = NULL;
  BeenetError err;
  guint ii, ci;

  fail_unless_equals_int (beenet_model_load_memory (bytes, size, &bm, &err),
      BEENET_OK);
  fail_unless_equals_int (beenet_session_new (bm, &session, &err), BEENET_OK);
  for (ii = 0; ii < G_N_ELEMENTS (intervals_ms); ii++) {
    for (ci = 0; ci < G_N_ELEMENTS (chunks); ci++) {
      const gsize step = intervals_ms[ii] * RATE / 1000;
      gsize k, n_windows = 0;
      Fixture f;

      setup (&f, model, intervals_ms[ii] * GST_MSECOND, TRUE, 1);
      g_object_set (f.element, "threshold", 0.3, NULL);
      push_samples (&f, audio, total, chunks[ci], 0);
      fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
      for (k = 0; k * step < total && 2 * (total - k * step) >= WINDOW; k++) {
        const gsize start = k * step, real = MIN (WINDOW, total - start);
        GstMessage *m = pop_beenet (f.bus);
        const GstStructure *s;
        const GValueArray *probs;
        BeenetResult res;
        guint i;

        fail_unless (m != NULL, "interval %" G_GUINT64_FORMAT " ms chunk %"
            G_GSIZE_FORMAT ": missing window %" G_GSIZE_FORMAT,
            intervals_ms[ii], chunks[ci], k);
        memset (padded, 0, WINDOW * sizeof (gfloat));
        memcpy (padded, audio + start, real * sizeof (gfloat));
        s = gst_message_get_structure (m);
        fail_unless_equals_int (beenet_session_classify (session, padded,
                WINDOW, BEENET_POLICY_ENTROPY, 0.3f, &res, &err), BEENET_OK);
        fail_unless_equals_uint64 (get_u64 (s, "timestamp"),
            start * NS_PER_SAMPLE);
        fail_unless_equals_uint64 (get_u64 (s, "duration"),
            real * NS_PER_SAMPLE);
        fail_unless_equals_int (get_uint (s, "exit"), res.exit_index);
        fail_unless (get_double (s, "entropy") == (gdouble) res.entropy);
        probs = get_probabilities (s);
        for (i = 0; i < res.num_classes; i++)
          fail_unless (g_value_get_double (&probs->values[i]) ==
              (gdouble) res.probabilities[i], "interval %" G_GUINT64_FORMAT
              " ms window %" G_GSIZE_FORMAT " class %u", intervals_ms[ii], k,
              i);
        gst_message_unref (m);
        n_windows++;
      }
      fail_unless (pop_message (f.bus) == NULL);
      fail_unless (n_windows >= (total - WINDOW) / step + 1);
      fixture_teardown (&f);
    }
  }
  beenet_session_free (session);
  beenet_model_unref (bm);
  free (bytes);
  g_free (padded);
  g_free (audio);
  fixture_remove_model (model);
}

GST_END_TEST;

/* S16 and F32, mono and stereo (identical channels) give identical
 * messages with an input-dependent model. */
GST_START_TEST (test_formats_identical)
{
  const gsize total = 2 * WINDOW + 8000;
  gfloat *audio = test_audio (total, 11);
  size_t size = 0;
  guint8 *bytes = input_dependent_model (&size);
  gchar *model = fixture_write_model_bytes (bytes, size);
  GPtrArray *ref = NULL;
  gint cfg;

  for (cfg = 0; cfg < 4; cfg++) {
    gboolean f32 = (cfg & 1);
    guint channels = (cfg & 2) ? 2 : 1;
    GPtrArray *got = g_ptr_array_new_with_free_func ((GDestroyNotify)
        gst_structure_free);
    GstMessage *m;
    Fixture f;
    guint i;

    setup (&f, model, 500 * GST_MSECOND, f32, channels);
    g_object_set (f.element, "threshold", 0.2, NULL);
    push_samples (&f, audio, total, 1234, 0);
    fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
    while ((m = pop_message (f.bus)) != NULL) {
      GstStructure *s;

      fail_unless_equals_int (GST_MESSAGE_TYPE (m), GST_MESSAGE_ELEMENT);
      s = gst_structure_copy (gst_message_get_structure (m));
      gst_structure_remove_field (s, "inference-time");
      g_ptr_array_add (got, s);
      gst_message_unref (m);
    }
    fixture_teardown (&f);

    /* 0, 0.5, 1.0 full, 1.5 (1.0 s real) full, 2.0 padded (0.5 s) */
    fail_unless_equals_int (got->len, 5);
    if (ref == NULL) {
      ref = got;
      continue;
    }
    for (i = 0; i < got->len; i++) {
      gchar *a = gst_structure_to_string (g_ptr_array_index (ref, i));
      gchar *b = gst_structure_to_string (g_ptr_array_index (got, i));
      fail_unless (gst_structure_is_equal (g_ptr_array_index (ref, i),
              g_ptr_array_index (got, i)), "config %d window %u:\n%s\n%s",
          cfg, i, a, b);
      g_free (a);
      g_free (b);
    }
    g_ptr_array_unref (got);
  }
  /* the comparison is only meaningful if windows differ */
  fail_unless (g_value_get_double (&get_probabilities (g_ptr_array_index (ref,
                  0))->values[0]) !=
      g_value_get_double (&get_probabilities (g_ptr_array_index (ref,
                  1))->values[0]));
  g_ptr_array_unref (ref);
  free (bytes);
  g_free (audio);
  fixture_remove_model (model);
}

GST_END_TEST;

GST_START_TEST (test_discont_resets)
{
  gfloat *audio = zeros (WINDOW);
  GstBuffer *buf;
  Fixture f;

  setup_constant (&f, 500 * GST_MSECOND, TRUE, 1);
  /* 0.6 s, not enough for a window */
  push_samples (&f, audio, 9600, 9600, 0);
  /* DISCONT at 10 s: the 0.6 s are dropped, counting restarts there */
  buf = make_buffer (&f, audio, WINDOW, 10 * GST_SECOND);
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  fail_unless_equals_int (gst_harness_push (f.h, buf), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (f.h));

  expect_window (&f, 10 * GST_SECOND, GST_CLOCK_TIME_NONE);
  fail_unless (pop_message (f.bus) == NULL);

  /* EOS: 0.5 s after 10.5 s remain -> one zero-padded window */
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  expect_window (&f, 10 * GST_SECOND + GST_SECOND / 2, GST_SECOND / 2);
  finish (&f, audio);
}

GST_END_TEST;

GST_START_TEST (test_flush_resets)
{
  gfloat *audio = zeros (WINDOW);
  GstSegment seg;
  GstMessage *m;
  Fixture f;

  setup_constant (&f, 500 * GST_MSECOND, FALSE, 1);
  push_samples (&f, audio, 12000, 4000, 0);     /* 0.75 s */
  fail_unless (pop_message (f.bus) == NULL);

  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = 20 * GST_SECOND;
  seg.time = 20 * GST_SECOND;
  fail_unless (gst_harness_push_event (f.h, gst_event_new_segment (&seg)));

  /* without the reset, 0.25 s more would complete a window at 0 s */
  push_samples (&f, audio, 8000, 8000, 20 * GST_SECOND);
  fail_unless (pop_message (f.bus) == NULL);
  push_samples (&f, audio, 8000, 8000, 20 * GST_SECOND + GST_SECOND / 2);
  m = pop_beenet (f.bus);
  fail_unless (m != NULL);
  fail_unless_equals_uint64 (get_u64 (gst_message_get_structure (m),
          "timestamp"), 20 * GST_SECOND);
  fail_unless_equals_uint64 (get_u64 (gst_message_get_structure (m),
          "running-time"), 0);
  gst_message_unref (m);
  finish (&f, audio);
}

GST_END_TEST;

GST_START_TEST (test_eos_partial_window)
{
  gchar *model = fixture_constant_model ();
  gfloat *audio = zeros (WINDOW);
  Fixture f;

  /* exactly half a window: classified, zero-padded */
  setup (&f, model, GST_SECOND, TRUE, 1);
  push_samples (&f, audio, WINDOW / 2, 1000, 0);
  fail_unless (pop_message (f.bus) == NULL);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  expect_window (&f, 0, GST_SECOND / 2);
  fail_unless (pop_message (f.bus) == NULL);
  fixture_teardown (&f);

  /* after a full window, a trailing part one sample short of half a window
   * is not classified */
  setup (&f, model, GST_SECOND, TRUE, 1);
  push_samples (&f, audio, WINDOW, 1000, 0);
  expect_window (&f, 0, GST_CLOCK_TIME_NONE);
  push_samples (&f, audio, WINDOW / 2 - 1, 1000, GST_SECOND);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  fail_unless (pop_message (f.bus) == NULL);
  fixture_teardown (&f);

  /* a whole stream shorter than half a window (espeak's "yes" is 0.49 s) is
   * still classified once, zero-padded */
  setup (&f, model, GST_SECOND, TRUE, 1);
  push_samples (&f, audio, WINDOW / 2 - 1, 1000, 0);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  expect_window (&f, 0, GST_CLOCK_TIME_NONE);
  fail_unless (pop_message (f.bus) == NULL);
  fixture_teardown (&f);

  /* ... but not when it is under a tenth of a window */
  setup (&f, model, GST_SECOND, TRUE, 1);
  push_samples (&f, audio, WINDOW / 10 - 1, 1000, 0);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  fail_unless (pop_message (f.bus) == NULL);
  fixture_teardown (&f);

  g_free (audio);
  fixture_remove_model (model);
}

GST_END_TEST;

/* READY and back: the partial window is dropped, the model kept, counting
 * restarts at the next buffer. */
GST_START_TEST (test_restart)
{
  gfloat *audio = zeros (WINDOW);
  GstMessage *m;
  Fixture f;

  setup_constant (&f, GST_SECOND, FALSE, 2);
  push_samples (&f, audio, 12000, 4000, 0);
  fail_unless_equals_int (gst_element_set_state (f.element, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (gst_element_set_state (f.element,
          GST_STATE_PLAYING), GST_STATE_CHANGE_SUCCESS);
  gst_harness_set_src_caps_str (f.h, "audio/x-raw, format=S16LE, "
      "rate=16000, channels=2, layout=interleaved");
  push_samples (&f, audio, WINDOW, 4000, 30 * GST_SECOND);
  m = pop_beenet (f.bus);
  fail_unless (m != NULL);
  fail_unless_equals_uint64 (get_u64 (gst_message_get_structure (m),
          "timestamp"), 30 * GST_SECOND);
  check_constant_window (m, 2, 0.5, "entropy");
  gst_message_unref (m);
  finish (&f, audio);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* thresholds and policies                                                  */

GST_START_TEST (test_threshold_while_playing)
{
  static const gdouble thresholds[] = { 0.7, 0.5, 0.0001, 0.6 };
  static const guint exits[] = { 1, 2, 3, 1 };
  gfloat *audio = zeros (WINDOW);
  Fixture f;
  guint i;

  setup_constant (&f, GST_SECOND, TRUE, 1);
  for (i = 0; i < G_N_ELEMENTS (thresholds); i++) {
    g_object_set (f.element, "threshold", thresholds[i], NULL);
    push_samples (&f, audio, WINDOW, 4000, i * GST_SECOND);
    expect_constant_window (&f, exits[i], thresholds[i], "entropy");
  }
  finish (&f, audio);
}

GST_END_TEST;

GST_START_TEST (test_max_probability_policy)
{
  static const gdouble thresholds[] = { 0.7, 0.9, 0.99999, 0.731 };
  static const guint exits[] = { 1, 2, 3, 1 };
  gfloat *audio = zeros (WINDOW);
  gdouble ops[3] = { 0, 0, 0 };
  Fixture f;
  guint i;

  setup_constant (&f, GST_SECOND, TRUE, 1);
  g_object_set (f.element, "policy", BEENET_POLICY_MAX_PROBABILITY, NULL);
  for (i = 0; i < G_N_ELEMENTS (thresholds); i++) {
    GstMessage *m;

    g_object_set (f.element, "threshold", thresholds[i], NULL);
    push_samples (&f, audio, WINDOW, WINDOW, i * GST_SECOND);
    m = pop_beenet (f.bus);
    fail_unless (m != NULL);
    check_constant_window (m, exits[i], thresholds[i], "max-probability");
    ops[exits[i] - 1] = get_double (gst_message_get_structure (m),
        "ops-fraction");
    gst_message_unref (m);
  }
  /* deeper exits execute more of the network */
  fail_unless (ops[0] < ops[1] && ops[1] < ops[2]);
  fixture_teardown (&f);
  g_free (audio);
}

GST_END_TEST;

GST_START_TEST (test_policy_property)
{
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e),
      "policy");
  GEnumClass *klass = g_type_class_ref (pspec->value_type);
  gint policy;
  gdouble threshold;
  guint64 interval;
  gboolean post;

  fail_unless (g_enum_get_value_by_nick (klass, "entropy")->value ==
      BEENET_POLICY_ENTROPY);
  fail_unless (g_enum_get_value_by_nick (klass, "max-probability")->value ==
      BEENET_POLICY_MAX_PROBABILITY);
  g_type_class_unref (klass);

  g_object_get (e, "policy", &policy, "threshold", &threshold, "interval",
      &interval, "post-messages", &post, NULL);
  fail_unless_equals_int (policy, BEENET_POLICY_ENTROPY);
  assert_close (threshold, GST_BEENET_DEFAULT_THRESHOLD, 0);
  /* the model's interval (test_interval_from_model) */
  fail_unless_equals_uint64 (interval, GST_CLOCK_TIME_NONE);
  fail_unless (post);
  fail_unless (pspec->flags & GST_PARAM_MUTABLE_PLAYING);
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "threshold");
  fail_unless (pspec->flags & GST_PARAM_CONTROLLABLE);
  fail_unless (pspec->flags & GST_PARAM_MUTABLE_PLAYING);
  /* the model can be swapped while playing (test-beenet-swap.c) */
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "model");
  fail_unless (pspec->flags & GST_PARAM_MUTABLE_PLAYING);

  gst_util_set_object_arg (G_OBJECT (e), "policy", "max-probability");
  g_object_get (e, "policy", &policy, NULL);
  fail_unless_equals_int (policy, BEENET_POLICY_MAX_PROBABILITY);
  gst_object_unref (e);
}

GST_END_TEST;

/* patience and max-exit: a 5-exit, 2-class constant model whose argmax
 * sequence is A, A, B, B, B (A = class0, B = class1). */
static const float aabbb_logits[] = { 1.f, 0.f, 2.f, 0.f, 0.f, 3.f, 0.f,
  4.f, 0.f, 5.f
};

static gchar *
aabbb_model_path (void)
{
  size_t size = 0;
  guint8 *bytes = test_models_constant_exits (5, 2, aabbb_logits, &size);
  gchar *path;

  fail_unless (bytes != NULL);
  path = fixture_write_model_bytes (bytes, size);
  free (bytes);
  return path;
}

static void
check_policy_fields (GstMessage * m, const gchar * policy, guint patience,
    guint max_exit, guint exit_no)
{
  const GstStructure *s = gst_message_get_structure (m);

  fail_unless_equals_string (gst_structure_get_string (s, "policy"), policy);
  fail_unless_equals_int (get_uint (s, "patience"), patience);
  fail_unless_equals_int (get_uint (s, "max-exit"), max_exit);
  fail_unless_equals_int (get_uint (s, "num-exits"), 5);
  fail_unless_equals_int (get_uint (s, "exit"), exit_no);
  fail_unless_equals_int (get_uint (s, "class"), exit_no <= 2 ? 0 : 1);
}

/* keyword-exit: the aabbb model with class1 (B, exits 3-5) the only
 * keyword and beenet.keyword_exit 4.  At threshold 0.3 nats exits 1-2 (A)
 * do not stop and exit 3 (B) does, unless keyword-exit sends it on. */
GST_START_TEST (test_keyword_exit_while_playing)
{
  static const struct
  {
    gint keyword_exit;
    gdouble threshold;
    guint reported, exit;
  } steps[] = {
    {-1, 0.3, 4, 4},            /* the model's value */
    {0, 0.3, 0, 3},
    {3, 0.3, 3, 3},
    {5, 0.3, 5, 5},
    {99, 0.3, 99, 5},           /* beyond the exits: the last */
    {5, 1.0, 5, 1},             /* A is no keyword: it still leaves early */
    {-1, 0.3, 4, 4},
  };
  const guint32 keywords[1] = { 1 };
  size_t size = 0;
  GgufWriter *w = test_models_constant_exits_writer (5, 2, aabbb_logits);
  guint8 *bytes;
  gchar *model;
  gfloat *audio = zeros (WINDOW);
  Fixture f;
  guint i;

  fail_unless (w != NULL);
  gguf_writer_add_array_u32 (w, "beenet.keywords", keywords, 1);
  gguf_writer_add_u32 (w, "beenet.keyword_exit", 4);
  bytes = gguf_writer_serialize (w, &size);
  gguf_writer_free (w);
  model = fixture_write_model_bytes (bytes, size);
  free (bytes);
  setup_owned (&f, model, GST_SECOND, TRUE, 1);
  for (i = 0; i < G_N_ELEMENTS (steps); i++) {
    GstMessage *m;
    gint got;
    const GstStructure *s;

    g_object_set (f.element, "keyword-exit", steps[i].keyword_exit,
        "threshold", steps[i].threshold, NULL);
    g_object_get (f.element, "keyword-exit", &got, NULL);
    fail_unless_equals_int (got, steps[i].keyword_exit);
    push_samples (&f, audio, WINDOW, 4000, i * GST_SECOND);
    m = pop_beenet (f.bus);
    fail_unless (m != NULL);
    s = gst_message_get_structure (m);
    fail_unless_equals_int (get_uint (s, "keyword-exit"), steps[i].reported);
    fail_unless_equals_int (get_uint (s, "exit"), steps[i].exit);
    fail_unless_equals_int (get_uint (s, "class"), steps[i].exit <= 2 ? 0 : 1);
    gst_message_unref (m);
  }
  finish (&f, audio);
}

GST_END_TEST;

/* policy=patience, patience and max-exit changed while buffers flow: each
 * window applies the values set before it. */
GST_START_TEST (test_patience_and_max_exit_while_playing)
{
  static const struct
  {
    const gchar *policy;
    guint patience, max_exit, exit;
  } steps[] = {
    {"patience", 1, 0, 1},
    {"patience", 2, 0, 2},
    {"patience", 3, 0, 5},      /* the A run only reaches 2 */
    {"patience", 3, 4, 4},      /* capped */
    {"patience", 2, 1, 1},
    {"patience", 9, 7, 5},      /* beyond the exits: no limit */
    {"entropy", 9, 3, 3},       /* threshold 0.0001: capped at 3 */
    {"max-probability", 9, 2, 2},
    {"entropy", 1, 0, 5},       /* patience is ignored by entropy */
  };
  gfloat *audio = zeros (WINDOW);
  Fixture f;
  guint i;

  setup_owned (&f, aabbb_model_path (), GST_SECOND, TRUE, 1);
  g_object_set (f.element, "threshold", 0.0001, NULL);
  for (i = 0; i < G_N_ELEMENTS (steps); i++) {
    GstMessage *m;

    if (g_str_equal (steps[i].policy, "max-probability"))
      g_object_set (f.element, "threshold", 1.0, NULL);
    gst_util_set_object_arg (G_OBJECT (f.element), "policy", steps[i].policy);
    g_object_set (f.element, "patience", steps[i].patience, "max-exit",
        steps[i].max_exit, NULL);
    push_samples (&f, audio, WINDOW, 4000, i * GST_SECOND);
    m = pop_beenet (f.bus);
    fail_unless (m != NULL);
    check_policy_fields (m, steps[i].policy, steps[i].patience,
        steps[i].max_exit, steps[i].exit);
    gst_message_unref (m);
    if (g_str_equal (steps[i].policy, "max-probability"))
      g_object_set (f.element, "threshold", 0.0001, NULL);
  }
  finish (&f, audio);
}

GST_END_TEST;

/* max-exit and patience are controllable: windows at stream time 0, 1, 2 s
 * see max-exit 1, 3, 0 (patience 3 throughout). */
GST_START_TEST (test_max_exit_controller)
{
  static const guint expect_max[] = { 1, 3, 0 };
  static const guint expect_exit[] = { 1, 3, 5 };
  gfloat *audio = zeros (3 * WINDOW);
  GstControlSource *cs;
  GstTimedValueControlSource *tvcs;
  Fixture f;
  guint i;

  setup_owned (&f, aabbb_model_path (), GST_SECOND, TRUE, 1);
  g_object_set (f.element, "policy", BEENET_POLICY_PATIENCE, "patience", 3,
      NULL);
  cs = gst_interpolation_control_source_new ();
  g_object_set (cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  tvcs = GST_TIMED_VALUE_CONTROL_SOURCE (cs);
  gst_timed_value_control_source_set (tvcs, 0, 1.0);
  gst_timed_value_control_source_set (tvcs, GST_SECOND, 3.0);
  gst_timed_value_control_source_set (tvcs, 2 * GST_SECOND, 0.0);
  fail_unless (gst_object_add_control_binding (GST_OBJECT (f.element),
          gst_direct_control_binding_new_absolute (GST_OBJECT (f.element),
              "max-exit", cs)));

  push_samples (&f, audio, 3 * WINDOW, 1600, 0);
  for (i = 0; i < 3; i++) {
    GstMessage *m = pop_beenet (f.bus);

    fail_unless (m != NULL);
    check_policy_fields (m, "patience", 3, expect_max[i], expect_exit[i]);
    gst_message_unref (m);
  }
  finish (&f, audio);
  gst_object_unref (cs);
}

GST_END_TEST;

/* ---- class-exclusion ------------------------------------------------------
 * The constant model with beenet.class_exclusion.factors e^-2, e^-0.5, 0
 * (exclusion margins 2 and 0.5 nats at threshold 1):
 *   exit 1 {0, 1}:  class 0 is 1 below class 1, within 2: 2 candidates;
 *   exit 2 {10, 0}: class 1 is 10 below class 0: excluded, 1 left: stop at
 *                   exit 2 with class 0, probability 1 (masked softmax).
 * Threshold 0.4 (margin 0.8 at exit 1): class 0 is excluded at exit 1: stop
 * there with class 1, certain. */

static gchar *
exclusion_model_path (gboolean with_factors)
{
  static const float factors[3] = { 0.13533528f, 0.60653066f, 0.0f };
  GgufWriter *w = test_models_constant_exits_writer (3, 2, const_logits);
  guint8 *bytes;
  size_t size = 0;
  gchar *path;

  fail_unless (w != NULL);
  if (with_factors)
    gguf_writer_add_array_f32 (w, "beenet.class_exclusion.factors", factors,
        3);
  bytes = gguf_writer_serialize (w, &size);
  gguf_writer_free (w);
  path = fixture_write_model_bytes (bytes, size);
  free (bytes);
  return path;
}

/* The "classes-remaining" field: a GValueArray of uint, one per exit run. */
static void
check_remaining (const GstStructure * s, const guint * want, guint n)
{
  const GValue *v = gst_structure_get_value (s, "classes-remaining");
  const GValueArray *arr;
  guint i;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  fail_unless (v != NULL && G_VALUE_HOLDS (v, g_value_array_get_type ()),
      "no classes-remaining array");
  G_GNUC_END_IGNORE_DEPRECATIONS;
  arr = g_value_get_boxed (v);
  fail_unless_equals_int (arr->n_values, n);
  fail_unless_equals_int (n, get_uint (s, "exit"));
  for (i = 0; i < n; i++) {
    fail_unless (G_VALUE_HOLDS_UINT (&arr->values[i]));
    fail_unless_equals_int (g_value_get_uint (&arr->values[i]), want[i]);
  }
}

GST_START_TEST (test_class_exclusion_policy)
{
  static const struct
  {
    const gchar *policy;
    gdouble threshold;
    guint exit, cls, n;
    guint remaining[3];
  } steps[] = {
    {"class-exclusion", 1.0, 2, 0, 2, {2, 1}},
    {"class-exclusion", 0.4, 1, 1, 1, {1}},
    {"entropy", 0.0001, 3, 1, 3, {2, 2, 2}},  /* nothing excluded */
    {"class-exclusion", 1.0, 2, 0, 2, {2, 1}},
  };
  gfloat *audio = zeros (WINDOW);
  Fixture f;
  guint i;

  setup_owned (&f, exclusion_model_path (TRUE), GST_SECOND, TRUE, 1);
  for (i = 0; i < G_N_ELEMENTS (steps); i++) {
    const GstStructure *s;
    const GValueArray *probs;
    GstMessage *m;

    /* the enum nick is the engine's table name */
    gst_util_set_object_arg (G_OBJECT (f.element), "policy", steps[i].policy);
    g_object_set (f.element, "threshold", steps[i].threshold, NULL);
    push_samples (&f, audio, WINDOW, WINDOW, i * GST_SECOND);
    m = pop_beenet (f.bus);
    fail_unless (m != NULL);
    s = gst_message_get_structure (m);
    fail_unless_equals_string (gst_structure_get_string (s, "policy"),
        steps[i].policy);
    fail_unless_equals_int (get_uint (s, "exit"), steps[i].exit);
    fail_unless_equals_int (get_uint (s, "class"), steps[i].cls);
    check_remaining (s, steps[i].remaining, steps[i].n);
    probs = get_probabilities (s);
    if (g_str_equal (steps[i].policy, "class-exclusion")) {
      /* one candidate left: certain, the excluded class at 0 */
      assert_close (get_double (s, "confidence"), 1.0, 1e-6);
      assert_close (get_double (s, "entropy"), 0.0, 1e-6);
      assert_close (g_value_get_double (&probs->values[1 - steps[i].cls]),
          0.0, 0.0);
      assert_close (get_double (s, "threshold"), steps[i].threshold, 1e-12);
    }
    gst_message_unref (m);
  }
  finish (&f, audio);
}

GST_END_TEST;

/* A model without factors refuses the policy with a clear error. */
GST_START_TEST (test_class_exclusion_needs_factors)
{
  gfloat *audio = zeros (WINDOW);
  GstBuffer *buf;
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;
  Fixture f;

  setup_owned (&f, exclusion_model_path (FALSE), GST_SECOND, TRUE, 1);
  gst_util_set_object_arg (G_OBJECT (f.element), "policy", "class-exclusion");
  g_object_set (f.element, "threshold", 1.0, NULL);
  buf = make_buffer (&f, audio, WINDOW, 0);
  fail_unless_equals_int (gst_harness_push (f.h, buf), GST_FLOW_ERROR);
  m = gst_bus_pop_filtered (f.bus, GST_MESSAGE_ERROR);
  fail_unless (m != NULL);
  gst_message_parse_error (m, &err, &dbg);
  fail_unless (g_error_matches (err, GST_LIBRARY_ERROR,
          GST_LIBRARY_ERROR_SETTINGS));
  fail_unless (strstr (err->message, "\"class-exclusion\"") != NULL, "%s",
      err->message);
  fail_unless (strstr (dbg, "beenet.class_exclusion.factors") != NULL, "%s",
      dbg);
  g_clear_error (&err);
  g_free (dbg);
  gst_message_unref (m);
  fixture_teardown (&f);
  g_free (audio);
}

GST_END_TEST;

/* The enum comes from the engine's policy table; defaults from
 * beenet_policy_default_params. */
GST_START_TEST (test_policy_enum_from_engine_table)
{
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e),
      "policy");
  GEnumClass *klass = g_type_class_ref (pspec->value_type);
  const gchar *names[] = { "patience", "max-exit" };
  guint i, patience, max_exit;

  fail_unless_equals_int (klass->n_values, beenet_policy_count ());
  for (i = 0; i < beenet_policy_count (); i++) {
    GEnumValue *v = g_enum_get_value (klass, i);
    fail_unless (v != NULL);
    fail_unless_equals_string (v->value_nick,
        beenet_policy_name ((BeenetPolicy) i));
    fail_unless_equals_string (v->value_name,
        beenet_policy_description ((BeenetPolicy) i));
  }
  fail_unless (g_enum_get_value_by_nick (klass, "patience")->value ==
      BEENET_POLICY_PATIENCE);
  g_type_class_unref (klass);

  g_object_get (e, "patience", &patience, "max-exit", &max_exit, NULL);
  fail_unless_equals_int (patience,
      beenet_policy_default_params (BEENET_POLICY_PATIENCE).patience);
  fail_unless_equals_int (max_exit, 0);
  for (i = 0; i < G_N_ELEMENTS (names); i++) {
    pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), names[i]);
    fail_unless (pspec != NULL);
    fail_unless (pspec->flags & GST_PARAM_CONTROLLABLE);
    fail_unless (pspec->flags & GST_PARAM_MUTABLE_PLAYING);
    fail_unless (pspec->flags & G_PARAM_STATIC_STRINGS);
  }
  /* patience 0 is refused by the property range (the engine's rule) */
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "patience");
  fail_unless_equals_int (G_PARAM_SPEC_UINT (pspec)->minimum, 1);
  gst_object_unref (e);
}

GST_END_TEST;

/* A control source drives the threshold: windows at stream time 0, 1 and
 * 2 s see 0.7, 0.5 and 0.0001. */
GST_START_TEST (test_controller)
{
  gfloat *audio = zeros (3 * WINDOW);
  GstControlSource *cs;
  GstTimedValueControlSource *tvcs;
  Fixture f;
  guint i;

  setup_constant (&f, GST_SECOND, TRUE, 1);
  cs = gst_interpolation_control_source_new ();
  g_object_set (cs, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
  tvcs = GST_TIMED_VALUE_CONTROL_SOURCE (cs);
  gst_timed_value_control_source_set (tvcs, 0, 0.7);
  gst_timed_value_control_source_set (tvcs, GST_SECOND, 0.5);
  gst_timed_value_control_source_set (tvcs, 2 * GST_SECOND, 0.0001);
  fail_unless (gst_object_add_control_binding (GST_OBJECT (f.element),
          gst_direct_control_binding_new_absolute (GST_OBJECT (f.element),
              "threshold", cs)));

  push_samples (&f, audio, 3 * WINDOW, 1600, 0);
  for (i = 0; i < 3; i++) {
    static const gdouble expect_t[] = { 0.7, 0.5, 0.0001 };

    expect_constant_window (&f, i + 1, expect_t[i], "entropy");
  }
  finish (&f, audio);
  gst_object_unref (cs);
}

GST_END_TEST;

GST_START_TEST (test_post_messages_false)
{
  gfloat *audio = zeros (2 * WINDOW);
  Fixture f;

  setup_constant (&f, 500 * GST_MSECOND, TRUE, 1);
  g_object_set (f.element, "post-messages", FALSE, NULL);
  push_samples (&f, audio, 2 * WINDOW, 800, 0);
  fail_unless (pop_message (f.bus) == NULL);
  /* switching back on while playing resumes at the next window (1.5 s) */
  g_object_set (f.element, "post-messages", TRUE, NULL);
  push_samples (&f, audio, WINDOW / 2, 800, 2 * GST_SECOND);
  expect_window (&f, 3 * GST_SECOND / 2, GST_CLOCK_TIME_NONE);
  finish (&f, audio);
}

GST_END_TEST;

/* A new interval applies from the window after the next one (the interval
 * is read once per buffer, when the buffer completing a window arrives). */
/* "interval" left at its default follows the model's
 * beenet.detection.interval_ms (the interval its detection defaults were
 * tuned for); a set interval wins; models without the key get 500 ms. */
GST_START_TEST (test_interval_from_model)
{
  static const float logits[] = { 0.f, 1.f, 10.f, 0.f, 0.f, 3.f };
  GgufWriter *w = test_models_constant_exits_writer (3, 2, logits);
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  gfloat *audio = zeros (WINDOW + WINDOW / 2);
  guint64 interval = 0;
  Fixture f;

  g_object_get (e, "interval", &interval, NULL);
  fail_unless_equals_uint64 (interval, GST_CLOCK_TIME_NONE);
  gst_object_unref (e);

  gguf_writer_add_f32 (w, "beenet.detection.interval_ms", 250.0f);
  setup_owned (&f, fixture_write_model (w), GST_CLOCK_TIME_NONE, TRUE, 1);
  push_samples (&f, audio, WINDOW + WINDOW / 2, WINDOW / 4, 0);
  expect_window (&f, 0, GST_CLOCK_TIME_NONE);
  expect_window (&f, GST_SECOND / 4, GST_CLOCK_TIME_NONE);
  expect_window (&f, GST_SECOND / 2, GST_CLOCK_TIME_NONE);
  fail_unless (pop_message (f.bus) == NULL);
  fixture_teardown (&f);

  /* set: the property wins over the model */
  setup_owned (&f, fixture_write_model (test_models_constant_exits_writer (3,
              2, logits)), GST_SECOND / 2, TRUE, 1);
  push_samples (&f, audio, WINDOW + WINDOW / 2, WINDOW / 4, 0);
  expect_window (&f, 0, GST_CLOCK_TIME_NONE);
  expect_window (&f, GST_SECOND / 2, GST_CLOCK_TIME_NONE);
  fixture_teardown (&f);

  /* no key: 500 ms */
  setup_constant (&f, GST_CLOCK_TIME_NONE, TRUE, 1);
  push_samples (&f, audio, WINDOW + WINDOW / 2, WINDOW / 4, 0);
  expect_window (&f, 0, GST_CLOCK_TIME_NONE);
  expect_window (&f, GST_SECOND / 2, GST_CLOCK_TIME_NONE);
  finish (&f, audio);
}

GST_END_TEST;

GST_START_TEST (test_interval_while_playing)
{
  static const GstClockTime expect[] = { 0, GST_SECOND,
    GST_SECOND + GST_SECOND / 4, GST_SECOND + GST_SECOND / 2
  };
  gfloat *audio = zeros (WINDOW);
  gchar *path = NULL;
  Fixture f;
  guint i;

  setup_constant (&f, GST_SECOND, TRUE, 1);
  push_samples (&f, audio, WINDOW, WINDOW, 0);
  g_object_set (f.element, "interval", 250 * GST_MSECOND, NULL);
  push_samples (&f, audio, WINDOW, WINDOW, GST_SECOND);
  push_samples (&f, audio, WINDOW / 2, WINDOW / 2, 2 * GST_SECOND);
  for (i = 0; i < G_N_ELEMENTS (expect); i++)
    expect_window (&f, expect[i], GST_CLOCK_TIME_NONE);
  fail_unless (pop_message (f.bus) == NULL);

  /* the model cannot change while playing: ignored */
  g_object_set (f.element, "model", "/nonexistent/other.gguf", NULL);
  g_object_get (f.element, "model", &path, NULL);
  fail_unless_equals_string (path, f.model);
  g_free (path);

  fixture_teardown (&f);
  g_free (audio);
}

GST_END_TEST;

/* Refined windows: after a window whose likeliest keyword is above the
 * refine level (here every window: class0 at 0.99995, exit 2), one more
 * 125 ms later (half the 250 ms interval);
 * the model's level (beenet.detection.refine_level) unless "refine-level"
 * is set, and set live it applies from the next window on. */
GST_START_TEST (test_refine_level)
{
  static const GstClockTime first[] = { 0, 125, 250, 375, 500 };
  static const GstClockTime then[] = { 625, 750, 1000 };
  GgufWriter *w = test_models_constant_exits_writer (3, 2, const_logits);
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  gfloat *audio = zeros (2 * WINDOW);
  gdouble level = 0.0;
  Fixture f;
  guint i;

  g_object_get (e, "refine-level", &level, NULL);
  fail_unless_equals_float (level, -1.0);
  gst_object_unref (e);

  gguf_writer_add_f32 (w, "beenet.detection.refine_level", 0.5f);
  setup_owned (&f, fixture_write_model (w), 250 * GST_MSECOND, TRUE, 1);
  push_samples (&f, audio, WINDOW + WINDOW / 2, 1000, 0);
  for (i = 0; i < G_N_ELEMENTS (first); i++)
    expect_window (&f, first[i] * GST_MSECOND, GST_SECOND);
  fail_unless (pop_message (f.bus) == NULL);
  /* 1 = never: the refined window the 500 ms one asked for still comes */
  g_object_set (f.element, "refine-level", 1.0, NULL);
  push_samples (&f, audio, WINDOW / 2, 1000, 3 * GST_SECOND / 2);
  for (i = 0; i < G_N_ELEMENTS (then); i++)
    expect_window (&f, then[i] * GST_MSECOND, GST_SECOND);
  fail_unless (pop_message (f.bus) == NULL);
  fixture_teardown (&f);

  /* the property wins over the model's level; above it, no refining */
  w = test_models_constant_exits_writer (3, 2, const_logits);
  gguf_writer_add_f32 (w, "beenet.detection.refine_level", 0.5f);
  setup_owned (&f, fixture_write_model (w), 250 * GST_MSECOND, TRUE, 1);
  g_object_set (f.element, "refine-level", 0.99999, NULL);
  push_samples (&f, audio, WINDOW + WINDOW / 4, 1000, 0);
  expect_window (&f, 0, GST_SECOND);
  expect_window (&f, 250 * GST_MSECOND, GST_SECOND);
  finish (&f, audio);
}

GST_END_TEST;

/* GAP buffers are silence, whatever their memory holds. */
GST_START_TEST (test_gap_buffer_is_silence)
{
  gfloat *audio = g_new (gfloat, WINDOW);
  GstBuffer *buf;
  Fixture f;
  guint i;

  for (i = 0; i < WINDOW; i++)
    audio[i] = NAN;
  setup_constant (&f, GST_SECOND, TRUE, 1);
  buf = make_buffer (&f, audio, WINDOW, 0);
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_GAP);
  fail_unless_equals_int (gst_harness_push (f.h, buf), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (f.h));
  /* fails on a NaN warning */
  expect_constant_window (&f, 2, 0.5, "entropy");
  finish (&f, audio);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* bad input                                                                */

GST_START_TEST (test_nonfinite_input)
{
  gfloat *audio = zeros (WINDOW);
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;
  Fixture f;

  setup_constant (&f, GST_SECOND, TRUE, 1);
  audio[100] = NAN;
  push_samples (&f, audio, WINDOW, 4000, 0);    /* audio still flows */
  audio[100] = 0.0f;
  push_samples (&f, audio, WINDOW, 4000, GST_SECOND);
  audio[WINDOW - 1] = INFINITY;
  push_samples (&f, audio, WINDOW, 4000, 2 * GST_SECOND);

  m = pop_message (f.bus);
  fail_unless (m != NULL && GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING);
  gst_message_parse_warning (m, &err, &dbg);
  fail_unless (g_error_matches (err, GST_STREAM_ERROR,
          GST_STREAM_ERROR_DECODE));
  fail_unless (strstr (err->message, "NaN") != NULL, "%s", err->message);
  g_clear_error (&err);
  g_free (dbg);
  gst_message_unref (m);

  /* only the clean window at 1 s is classified; one warning per stream */
  expect_window (&f, GST_SECOND, GST_CLOCK_TIME_NONE);
  finish (&f, audio);
}

GST_END_TEST;

static void
check_refused_caps (const gchar * caps_str, const gchar * expect_text)
{
  gchar *model = fixture_constant_model ();
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  GstBus *bus = gst_bus_new ();
  GstHarness *h;
  GstMessage *m;
  GstSegment seg;
  GError *err = NULL;
  gchar *dbg = NULL;

  g_object_set (e, "model", model, NULL);
  gst_element_set_bus (e, bus);
  h = gst_harness_new_with_element (e, "sink", "src");
  /* a sticky event is "handled" once stored, so check the effects: an
   * error on the bus and a buffer that cannot be pushed */
  gst_pad_push_event (h->srcpad,
      gst_event_new_caps (gst_caps_from_string (caps_str)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_pad_push_event (h->srcpad, gst_event_new_segment (&seg));
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_allocate (NULL,
              64, NULL)), GST_FLOW_NOT_NEGOTIATED);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "no error for %s", caps_str);
  gst_message_parse_error (m, &err, &dbg);
  fail_unless (g_error_matches (err, GST_CORE_ERROR,
          GST_CORE_ERROR_NEGOTIATION));
  fail_unless (strstr (err->message, expect_text) != NULL, "%s",
      err->message);
  GST_INFO ("refused %s: %s (%s)", caps_str, err->message, dbg);
  g_clear_error (&err);
  g_free (dbg);
  gst_message_unref (m);

  gst_harness_teardown (h);
  gst_element_set_bus (e, NULL);
  gst_object_unref (e);
  gst_object_unref (bus);
  fixture_remove_model (model);
}

GST_START_TEST (test_caps_not_audio)
{
  check_refused_caps ("video/x-raw, format=I420, width=320, height=240, "
      "framerate=30/1", "video/x-raw");
  check_refused_caps ("audio/x-raw, format=U8, rate=16000, channels=1, "
      "layout=interleaved", "audioconvert");
}

GST_END_TEST;

/* Sets the element to PAUSED with `model` and returns the error posted. */
static GError *
start_with_model (const gchar * model, gchar ** dbg)
{
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *m;
  GError *err = NULL;

  g_object_set (e, "model", model, NULL);
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "no error message for %s", model);
  gst_message_parse_error (m, &err, dbg);
  gst_message_unref (m);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_element_set_bus (e, NULL);
  gst_object_unref (e);
  gst_object_unref (bus);
  return err;
}

static void
check_bad_model (const gchar * path, gint code, const gchar * reason)
{
  gchar *dbg = NULL;
  GError *err = start_with_model (path, &dbg);

  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR, code),
      "%s: %s", path, err->message);
  fail_unless (strstr (err->message, path) != NULL, "%s", err->message);
  fail_unless (strstr (err->message, reason) != NULL, "%s", err->message);
  fail_unless (dbg != NULL && dbg[0] != '\0');
  GST_INFO ("%s -> %s (%s)", path, err->message, dbg);
  g_error_free (err);
  g_free (dbg);
}

GST_START_TEST (test_bad_models)
{
  size_t size = 0;
  guint8 *bytes = test_models_constant_exits (3, 2, const_logits, &size);
  GgufWriter *w;
  gchar *path;
  static const guint8 garbage[] = "this is not a model file at all";

  check_bad_model ("/nonexistent/beenet/model.gguf",
      GST_RESOURCE_ERROR_NOT_FOUND, "does not exist");

  path = fixture_write_model_bytes (bytes, size / 2);
  check_bad_model (path, GST_RESOURCE_ERROR_READ, "truncated");
  fixture_remove_model (path);

  path = fixture_write_model_bytes (garbage, sizeof (garbage));
  check_bad_model (path, GST_RESOURCE_ERROR_READ, "not a beenet model");
  fixture_remove_model (path);

  /* structurally valid GGUF with inconsistent beenet metadata */
  w = test_models_constant_exits_writer (3, 2, const_logits);
  gguf_writer_replace_u32 (w, "beenet.exit_count", 5);
  free (bytes);
  bytes = gguf_writer_serialize (w, &size);
  gguf_writer_free (w);
  path = fixture_write_model_bytes (bytes, size);
  check_bad_model (path, GST_RESOURCE_ERROR_READ, "corrupt");
  fixture_remove_model (path);
  free (bytes);

  /* a valid model for another sample rate starts: the element resamples
   * to the model's rate (test-beenet-rates.c) */
  w = test_models_constant_exits_writer (3, 2, const_logits);
  gguf_writer_replace_u32 (w, "beenet.frontend.sample_rate", 22050);
  bytes = gguf_writer_serialize (w, &size);
  gguf_writer_free (w);
  path = fixture_write_model_bytes (bytes, size);
  {
    GstElement *e = gst_element_factory_make ("beenet", NULL);

    g_object_set (e, "model", path, NULL);
    fail_unless (gst_element_set_state (e, GST_STATE_PAUSED) !=
        GST_STATE_CHANGE_FAILURE);
    fail_unless_equals_int (gst_element_set_state (e, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    gst_object_unref (e);
  }
  fixture_remove_model (path);
  free (bytes);
}

GST_END_TEST;

GST_START_TEST (test_labels_and_num_exits)
{
  gchar *model = fixture_constant_model ();
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  gchar **labels = NULL, *task = NULL, *arch = NULL;
  guint num_exits = 0;

  /* readable in NULL state: the model is loaded on demand */
  g_object_set (e, "model", model, NULL);
  g_object_get (e, "labels", &labels, "num-exits", &num_exits, NULL);
  fail_unless (labels != NULL);
  fail_unless_equals_int (g_strv_length (labels), 2);
  fail_unless_equals_string (labels[0], "class0");
  fail_unless_equals_string (labels[1], "class1");
  fail_unless_equals_int (num_exits, 3);
  g_strfreev (labels);
  /* a file that does not say what it is for: NULL */
  g_object_get (e, "task", &task, "architecture", &arch, NULL);
  fail_unless (task == NULL && arch == NULL);

  /* unloadable model: NULL / 0, no crash, no error posted */
  g_object_set (e, "model", "/nonexistent/model.gguf", NULL);
  g_object_get (e, "labels", &labels, "num-exits", &num_exits, "task", &task,
      "architecture", &arch, NULL);
  fail_unless (labels == NULL);
  fail_unless_equals_int (num_exits, 0);
  fail_unless (task == NULL && arch == NULL);
  gst_object_unref (e);
  fixture_remove_model (model);
}

GST_END_TEST;

#if !HAVE_DEFAULT_MODEL
GST_START_TEST (test_no_model_no_default)
{
  gchar *dbg = NULL;
  GError *err = start_with_model (NULL, &dbg);
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  gchar **labels = NULL;

  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND));
  fail_unless (strstr (err->message, "no default model is built in") != NULL,
      "%s", err->message);
  g_error_free (err);
  g_free (dbg);

  g_object_get (e, "labels", &labels, NULL);
  fail_unless (labels == NULL);
  gst_object_unref (e);
}

GST_END_TEST;
#endif

static Suite *
beenet_suite (void)
{
  Suite *s = suite_create ("beenet");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_timestamps);
  tcase_add_test (tc, test_window_contents);
  tcase_add_test (tc, test_window_contents_intervals);
  tcase_add_test (tc, test_formats_identical);
  tcase_add_test (tc, test_discont_resets);
  tcase_add_test (tc, test_flush_resets);
  tcase_add_test (tc, test_eos_partial_window);
  tcase_add_test (tc, test_restart);
  tcase_add_test (tc, test_threshold_while_playing);
  tcase_add_test (tc, test_max_probability_policy);
  tcase_add_test (tc, test_patience_and_max_exit_while_playing);
  tcase_add_test (tc, test_keyword_exit_while_playing);
  tcase_add_test (tc, test_max_exit_controller);
  tcase_add_test (tc, test_policy_enum_from_engine_table);
  tcase_add_test (tc, test_policy_property);
  tcase_add_test (tc, test_controller);
  tcase_add_test (tc, test_post_messages_false);
  tcase_add_test (tc, test_interval_while_playing);
  tcase_add_test (tc, test_refine_level);
  tcase_add_test (tc, test_interval_from_model);
  tcase_add_test (tc, test_gap_buffer_is_silence);
  tcase_add_test (tc, test_nonfinite_input);
  tcase_add_test (tc, test_caps_not_audio);
  tcase_add_test (tc, test_bad_models);
  tcase_add_test (tc, test_class_exclusion_policy);
  tcase_add_test (tc, test_class_exclusion_needs_factors);
  tcase_add_test (tc, test_labels_and_num_exits);
#if !HAVE_DEFAULT_MODEL
  tcase_add_test (tc, test_no_model_no_default);
#endif
  return s;
}

GST_CHECK_MAIN (beenet);
