/* The beenet element under bad input (issue 12, the bad-input table of
 * docs/reliability.md): denormals, full-scale and out-of-range samples,
 * empty buffers, one 10-minute buffer, GAP events of zero and huge
 * duration, timestamps going backwards, missing timestamps, EOS without
 * data, and a model file rewritten while the element loads it.  Every
 * test checks that the audio comes out bit-exact and what is posted.
 *
 * Set-up and pushing through the shared tests/element/harness.c.
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "harness.h"
#include "test-models.h"

#define RATE 16000
#define WINDOW 16000
#define HALF (GST_SECOND / 2)

/* The QuickNet-sized random network: its output depends on the input */
static gchar *
realistic_model (void)
{
  size_t size = 0;
  guint8 *b = test_models_realistic (3, &size);
  gchar *p = fixture_write_model_bytes (b, size);

  free (b);
  return p;
}

/* A harness with caps of `fmt` mono at RATE and a TIME segment at 0. */
static void
setup (Fixture * f, const gchar * model, GstAudioFormat fmt)
{
  fixture_setup (f, model, HALF, "post-detections", FALSE, NULL);
  fixture_set_format (f, fmt, RATE, 1, FALSE);
}

/* Pushes `size` bytes as one buffer, checks it comes out bit-exact. */
static void
push_bytes (Fixture * f, const void *data, gsize size, GstClockTime pts,
    guint flags)
{
  GstBuffer *in = size ? gst_buffer_new_memdup (data, size) :
      gst_buffer_new ();

  GST_BUFFER_PTS (in) = pts;
  GST_BUFFER_FLAG_SET (in, flags);
  fixture_push_exact (f, in);
}

/* n F32 frames in buffers of `chunk` frames from pts on. */
static void
push_f32 (Fixture * f, const gfloat * s, gsize n, gsize chunk,
    GstClockTime pts)
{
  for (gsize done = 0; done < n; done += chunk) {
    gsize len = MIN (chunk, n - done);

    push_bytes (f, s + done, len * sizeof (gfloat), GST_CLOCK_TIME_IS_VALID
        (pts) ? pts + gst_util_uint64_scale_int (done, GST_SECOND, RATE) :
        GST_CLOCK_TIME_NONE, 0);
  }
}

static GstMessage *
pop_any (Fixture * f)
{
  return fixture_pop (f->bus, GST_MESSAGE_ERROR | GST_MESSAGE_WARNING);
}

/* The next message must be a "beenet" window at ts; checks its numbers
 * are finite probabilities.  Returns the exit. */
static guint
expect_window (Fixture * f, GstClockTime ts)
{
  GstMessage *m = fixture_pop (f->bus, 0);      /* errors fail */
  const GstStructure *s;
  const GValue *probs;
  GstClockTime got = 0;
  gdouble conf = -1, entropy = -1, sum = 0;
  guint ex = 0;

  fail_unless (m != NULL, "no message, expected a window at %"
      GST_TIME_FORMAT, GST_TIME_ARGS (ts));
  s = gst_message_get_structure (m);
  fail_unless (s != NULL && gst_structure_has_name (s, "beenet"),
      "expected a window at %" GST_TIME_FORMAT ", got %" GST_PTR_FORMAT,
      GST_TIME_ARGS (ts), s);
  fail_unless (gst_structure_get_uint64 (s, "timestamp", &got));
  fail_unless_equals_uint64 (got, ts);
  fail_unless (gst_structure_get_double (s, "confidence", &conf));
  fail_unless (gst_structure_get_double (s, "entropy", &entropy));
  fail_unless (gst_structure_get_uint (s, "exit", &ex));
  fail_unless (isfinite (conf) && conf >= 0 && conf <= 1, "%g", conf);
  fail_unless (isfinite (entropy) && entropy >= 0, "%g", entropy);
  probs = gst_structure_get_value (s, "probabilities");
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  {
    GValueArray *a = g_value_get_boxed (probs);

    for (guint i = 0; i < a->n_values; i++) {
      gdouble p = g_value_get_double (g_value_array_get_nth (a, i));
      fail_unless (isfinite (p) && p >= 0 && p <= 1, "p%u = %g", i, p);
      sum += p;
    }
  }
  G_GNUC_END_IGNORE_DEPRECATIONS;
  fail_unless (fabs (sum - 1.0) < 1e-3, "probabilities sum to %g", sum);
  gst_message_unref (m);
  return ex;
}

static void
expect_nothing (Fixture * f)
{
  GstMessage *m = pop_any (f);

  fail_unless (m == NULL, "unexpected %" GST_PTR_FORMAT, m);
}

static void
push_eos (Fixture * f)
{
  GstEvent *e;

  fail_unless (gst_harness_push_event (f->h, gst_event_new_eos ()));
  while ((e = gst_harness_try_pull_event (f->h)) != NULL) {
    gboolean eos = GST_EVENT_TYPE (e) == GST_EVENT_EOS;

    gst_event_unref (e);
    if (eos)
      return;
  }
  fail ("EOS did not come out");
}

/* ------------------------------------------------------------------------ */

/* Denormal (subnormal) samples: classified like any audio, no warning. */
GST_START_TEST (test_denormals)
{
  gchar *model = realistic_model ();
  gfloat *s = g_new (gfloat, 2 * WINDOW);
  Fixture f;

  for (gsize i = 0; i < 2 * WINDOW; i++)
    s[i] = (i % 3 == 0 ? FLT_TRUE_MIN : 1e-40f) * (i % 2 ? -1.f : 1.f) *
        (gfloat) (1 + i % 7);
  setup (&f, model, GST_AUDIO_FORMAT_F32);
  push_f32 (&f, s, 2 * WINDOW, 1600, 0);
  expect_window (&f, 0);
  expect_window (&f, HALF);
  expect_window (&f, GST_SECOND);
  expect_nothing (&f);
  fixture_teardown (&f);
  g_free (s);
  fixture_remove_model (model);
}

GST_END_TEST;

/* Full-scale square waves (the clipping limits of S16 and F32) and F32
 * samples well beyond full scale are classified.  Samples so large that a
 * frame's Mel energy overflows float (FLT_MAX) are refused by the engine
 * like NaN/Inf: the window is skipped, one warning per stream (its debug
 * text says "too large"); the audio still flows bit-exact. */
static void
check_full_scale (GstAudioFormat fmt, gdouble amplitude, gboolean overflow)
{
  gchar *model = realistic_model ();
  gsize n = 2 * WINDOW, bps = fmt == GST_AUDIO_FORMAT_S16 ? 2 : 4;
  guint8 *data = g_malloc (n * bps);
  Fixture f;

  for (gsize i = 0; i < n; i++) {
    gboolean up = (i / 20) % 2 == 0;   /* 400 Hz square */

    if (fmt == GST_AUDIO_FORMAT_S16) {
      gint16 v = up ? G_MAXINT16 : G_MININT16;
      memcpy (data + 2 * i, &v, 2);
    } else {
      gfloat v = (gfloat) (up ? amplitude : -amplitude);
      memcpy (data + 4 * i, &v, 4);
    }
  }
  setup (&f, model, fmt);
  for (gsize done = 0; done < n; done += 4000)
    push_bytes (&f, data + done * bps, 4000 * bps,
        gst_util_uint64_scale_int (done, GST_SECOND, RATE), 0);
  if (overflow) {
    GstMessage *m = pop_any (&f);
    GError *err = NULL;
    gchar *dbg = NULL;

    fail_unless (m != NULL && GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING);
    gst_message_parse_warning (m, &err, &dbg);
    fail_unless (g_error_matches (err, GST_STREAM_ERROR,
            GST_STREAM_ERROR_DECODE));
    fail_unless (strstr (dbg, "too large") != NULL, "%s", dbg);
    g_clear_error (&err);
    g_free (dbg);
    gst_message_unref (m);
  } else {
    expect_window (&f, 0);
    expect_window (&f, HALF);
    expect_window (&f, GST_SECOND);
  }
  expect_nothing (&f);
  fixture_teardown (&f);
  g_free (data);
  fixture_remove_model (model);
}

GST_START_TEST (test_full_scale)
{
  check_full_scale (GST_AUDIO_FORMAT_S16, 1.0, FALSE);
  check_full_scale (GST_AUDIO_FORMAT_F32, 1.0, FALSE);
  check_full_scale (GST_AUDIO_FORMAT_F32, 1e6, FALSE);
  check_full_scale (GST_AUDIO_FORMAT_F32, FLT_MAX, TRUE);
}

GST_END_TEST;

/* Empty buffers (0 bytes) anywhere, with or without timestamps, change
 * nothing; the first one's PTS is sample 0. */
GST_START_TEST (test_empty_buffers)
{
  gchar *model = fixture_constant_model ();
  gfloat *s = g_new0 (gfloat, WINDOW);
  Fixture f;

  setup (&f, model, GST_AUDIO_FORMAT_F32);
  push_bytes (&f, s, 0, 3 * GST_SECOND, 0);
  push_bytes (&f, s, 0, GST_CLOCK_TIME_NONE, 0);
  for (gsize done = 0; done < WINDOW; done += 4000) {
    push_bytes (&f, s, 4000 * sizeof (gfloat), GST_CLOCK_TIME_NONE, 0);
    push_bytes (&f, s, 0, 7 * GST_SECOND, 0);
  }
  expect_window (&f, 3 * GST_SECOND);
  expect_nothing (&f);
  /* an empty DISCONT buffer restarts the stream at its PTS */
  push_bytes (&f, s, 0, 10 * GST_SECOND, GST_BUFFER_FLAG_DISCONT);
  push_f32 (&f, s, WINDOW, 8000, GST_CLOCK_TIME_NONE);
  expect_window (&f, 10 * GST_SECOND);
  push_eos (&f);
  expect_window (&f, 10 * GST_SECOND + HALF);   /* half a window, padded */
  expect_nothing (&f);
  fixture_teardown (&f);
  g_free (s);
  fixture_remove_model (model);
}

GST_END_TEST;

/* One buffer of 10 minutes: every window of it, timestamps exact. */
GST_START_TEST (test_ten_minute_buffer)
{
  gchar *model = fixture_constant_model ();
  gsize n = (gsize) RATE * 600;
  gfloat *s = g_new (gfloat, n);
  Fixture f;
  guint k;

  for (gsize i = 0; i < n; i++)
    s[i] = 0.25f * sinf ((gfloat) i * 0.07f);
  setup (&f, model, GST_AUDIO_FORMAT_F32);
  push_bytes (&f, s, n * sizeof (gfloat), 0, 0);
  /* windows at 0, 0.5, ..., 599 s: 1199 of them */
  for (k = 0; k < 1199; k++)
    expect_window (&f, k * HALF);
  expect_nothing (&f);
  push_eos (&f);
  expect_window (&f, 1199 * HALF);      /* 599.5 s: half a window, padded */
  expect_nothing (&f);
  fixture_teardown (&f);
  g_free (s);
  fixture_remove_model (model);
}

GST_END_TEST;

/* GAP events of zero, huge and unknown duration restart the windowing:
 * the next buffer is sample 0 at its own PTS. */
GST_START_TEST (test_gap_events)
{
  static const GstClockTime durations[] = { 0, 10 * 3600 * GST_SECOND,
    GST_CLOCK_TIME_NONE
  };
  gchar *model = fixture_constant_model ();
  gfloat *s = g_new0 (gfloat, 2 * WINDOW);
  GstClockTime t = 0;
  Fixture f;

  setup (&f, model, GST_AUDIO_FORMAT_F32);
  for (guint i = 0; i < G_N_ELEMENTS (durations); i++) {
    /* 1.2 s, then a gap in the middle of the second window */
    push_f32 (&f, s, WINDOW * 12 / 10, 1600, t);
    expect_window (&f, t);
    expect_nothing (&f);
    fail_unless (gst_harness_push_event (f.h, gst_event_new_gap (t + 1200 *
                GST_MSECOND, durations[i])));
    expect_nothing (&f);
    t += 1200 * GST_MSECOND + (GST_CLOCK_TIME_IS_VALID (durations[i]) ?
        durations[i] : 3 * GST_SECOND);
  }
  push_f32 (&f, s, WINDOW, 1600, t);
  expect_window (&f, t);
  expect_nothing (&f);
  fixture_teardown (&f);
  g_free (s);
  fixture_remove_model (model);
}

GST_END_TEST;

/* Timestamps going backwards (or jumping) without DISCONT are ignored:
 * the element counts samples from the first buffer's PTS. */
GST_START_TEST (test_backwards_timestamps)
{
  gchar *model = fixture_constant_model ();
  gfloat *s = g_new0 (gfloat, WINDOW / 4);
  static const GstClockTime pts[] = { 5 * GST_SECOND, 2 * GST_SECOND, 0,
    4 * GST_SECOND, 4 * GST_SECOND, 1 * GST_SECOND, 0, 0
  };
  Fixture f;

  setup (&f, model, GST_AUDIO_FORMAT_F32);
  for (guint i = 0; i < G_N_ELEMENTS (pts); i++)
    push_bytes (&f, s, WINDOW / 4 * sizeof (gfloat), pts[i], 0);
  /* 2 s of audio from 5 s on */
  expect_window (&f, 5 * GST_SECOND);
  expect_window (&f, 5 * GST_SECOND + HALF);
  expect_window (&f, 6 * GST_SECOND);
  expect_nothing (&f);
  fixture_teardown (&f);
  g_free (s);
  fixture_remove_model (model);
}

GST_END_TEST;

/* No timestamps at all: sample 0 is the segment's start. */
GST_START_TEST (test_missing_timestamps)
{
  gchar *model = fixture_constant_model ();
  gfloat *s = g_new0 (gfloat, 2 * WINDOW);
  GstSegment seg;
  Fixture f;

  setup (&f, model, GST_AUDIO_FORMAT_F32);
  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = seg.time = 42 * GST_SECOND;
  fail_unless (gst_harness_push_event (f.h, gst_event_new_segment (&seg)));
  push_f32 (&f, s, 2 * WINDOW, 1000, GST_CLOCK_TIME_NONE);
  expect_window (&f, 42 * GST_SECOND);
  expect_window (&f, 42 * GST_SECOND + HALF);
  expect_window (&f, 43 * GST_SECOND);
  expect_nothing (&f);
  fixture_teardown (&f);
  g_free (s);
  fixture_remove_model (model);
}

GST_END_TEST;

/* EOS with no data (after caps, or before any caps) posts nothing and
 * goes downstream; the next stream is classified as usual. */
GST_START_TEST (test_eos_without_data)
{
  gchar *model = fixture_constant_model ();
  gfloat *s = g_new0 (gfloat, WINDOW);
  Fixture f;

  setup (&f, model, GST_AUDIO_FORMAT_F32);
  push_eos (&f);
  expect_nothing (&f);
  fail_unless (gst_harness_push_event (f.h,
          gst_event_new_stream_start ("again")));
  {
    GstSegment seg;

    gst_segment_init (&seg, GST_FORMAT_TIME);
    fail_unless (gst_harness_push_event (f.h, gst_event_new_segment (&seg)));
  }
  push_f32 (&f, s, WINDOW, 4000, 0);
  expect_window (&f, 0);
  expect_nothing (&f);
  fixture_teardown (&f);

  /* no caps at all */
  fixture_setup (&f, model, HALF, NULL);
  gst_harness_play (f.h);
  fail_unless (gst_pad_push_event (f.h->srcpad,
          gst_event_new_stream_start ("x")));
  fail_unless (gst_pad_push_event (f.h->srcpad, gst_event_new_eos ()));
  expect_nothing (&f);
  fixture_teardown (&f);
  g_free (s);
  fixture_remove_model (model);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* A model file rewritten while the element loads it                        */

typedef struct
{
  const gchar *path;
  const guint8 *good;
  gsize size;
  volatile gint stop;
  guint rewrites;
} Rewriter;

/* Rewrites the file in place, again and again: the valid model, a cut
 * copy, the valid model with garbage in its middle; the writes are not
 * atomic, so a reader sees any mix of old and new bytes. */
static gpointer
rewrite_thread (gpointer data)
{
  Rewriter *r = data;
  guint8 *buf = g_malloc (r->size);

  while (!g_atomic_int_get (&r->stop)) {
    guint what = r->rewrites % 3;
    gsize len = what == 1 ? r->size / 3 : r->size;
    FILE *fp;

    memcpy (buf, r->good, r->size);
    if (what == 2)
      memset (buf + r->size / 2, 0xff, 256);
    fp = fopen (r->path, "r+b");
    if (fp == NULL)
      fp = fopen (r->path, "wb");
    if (fp == NULL)
      continue;
    if (ftruncate (fileno (fp), 0) != 0)
      g_error ("ftruncate");
    for (gsize at = 0; at < len; at += 4096)
      fwrite (buf + at, 1, MIN (4096, len - at), fp);
    fclose (fp);
    r->rewrites++;
  }
  g_free (buf);
  return NULL;
}

/* Every set of `model` while the file changes under it either swaps in a
 * valid model or posts a warning and keeps the previous one; the audio
 * flows, windows go on. */
GST_START_TEST (test_model_rewritten_while_loading)
{
  gchar *first = fixture_constant_model ();
  size_t size = 0;
  guint8 *good = test_models_realistic (5, &size);
  gchar *path = fixture_write_model_bytes (good, size);
  Rewriter r = { path, good, size, 0, 0 };
  GThread *t;
  gfloat *s = g_new0 (gfloat, WINDOW / 2);
  guint warnings = 0, windows = 0, models = 0, i;
  GstMessage *m;
  Fixture f;

  setup (&f, first, GST_AUDIO_FORMAT_F32);
  t = g_thread_new ("rewrite", rewrite_thread, &r);
  for (i = 0; i < 200 || r.rewrites < 20; i++) {
    g_object_set (f.element, "model", path, NULL);
    push_f32 (&f, s, WINDOW / 2, WINDOW / 2, gst_util_uint64_scale_int (i,
            HALF, 1));
    if (i > 2000)
      break;
  }
  g_atomic_int_set (&r.stop, 1);
  g_thread_join (t);
  while ((m = pop_any (&f)) != NULL) {
    const GstStructure *st = gst_message_get_structure (m);

    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING) {
      GError *err = NULL;

      gst_message_parse_warning (m, &err, NULL);
      fail_unless (strstr (err->message, "previous model keeps running"),
          "%s", err->message);
      g_clear_error (&err);
      warnings++;
    } else {
      fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT,
          "%" GST_PTR_FORMAT, m);
      if (gst_structure_has_name (st, "beenet-model"))
        models++;
      else if (gst_structure_has_name (st, "beenet"))
        windows++;
    }
    gst_message_unref (m);
  }
  GST_INFO ("%u sets, %u rewrites: %u models swapped in, %u warnings, "
      "%u windows", i, r.rewrites, models, warnings, windows);
  fail_unless (r.rewrites >= 20);
  fail_unless (windows > 0);
  fail_unless (models + warnings > 0);
  fixture_teardown (&f);
  g_free (s);
  free (good);
  fixture_remove_model (path);
  fixture_remove_model (first);
}

GST_END_TEST;

static Suite *
badinput_suite (void)
{
  Suite *s = suite_create ("beenet-badinput");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_denormals);
  tcase_add_test (tc, test_full_scale);
  tcase_add_test (tc, test_empty_buffers);
  tcase_add_test (tc, test_ten_minute_buffer);
  tcase_add_test (tc, test_gap_events);
  tcase_add_test (tc, test_backwards_timestamps);
  tcase_add_test (tc, test_missing_timestamps);
  tcase_add_test (tc, test_eos_without_data);
  tcase_add_test (tc, test_model_rewritten_while_loading);
  return s;
}

GST_CHECK_MAIN (badinput);
