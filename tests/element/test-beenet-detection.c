/* Keyword detections of the beenet element ("beenet-detection" messages),
 * with GstHarness.
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Model: test_models_level_writer() (tests/common) with the labels
 * _silence_, _unknown_, yes, no: the class follows the input level,
 *
 *   'S' silence          -> _silence_
 *   'Q' quiet noise 0.01 -> no
 *   'L' loud noise 0.5   -> yes
 *
 * The softmax saturates, so a window made of one segment has probability
 * 1.0 for its class (to float precision).  Most tests use 1 s segments and
 * an interval of 1 s, so every window is exactly one segment and the
 * smoothed scores are exact (1, 1/2, ...).
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <gst/gst.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "beenet.h"
#include "gstbeenet.h"
#include "harness.h"
#include "test-models.h"

#define RATE 16000
#define WINDOW 16000
#define NS_PER_SAMPLE (GST_SECOND / RATE)

enum { SIL = 0, UNK = 1, YES = 2, NO = 3 };

static const char *const kws_labels[4] = { "_silence_", "_unknown_", "yes",
  "no"
};

/* loud -> "_unknown_" (class 2), quiet -> "yes" (class 3) */
static const char *const unknown_labels[4] = { "_silence_", "never",
  "_unknown_", "yes"
};

/* ------------------------------------------------------------------------ */
/* model and audio                                                          */

/* test_models_level_writer (tests/common) plus optional extra keys. */
static guint8 *
level_model (const char *const *labels, void (*extra) (GgufWriter *),
    size_t *size)
{
  GgufWriter *w = test_models_level_writer (labels);
  guint8 *bytes;

  fail_unless (w != NULL);
  if (extra)
    extra (w);
  bytes = gguf_writer_serialize (w, size);
  gguf_writer_free (w);
  return bytes;
}

static gchar *
level_model_path (const char *const *labels, void (*extra) (GgufWriter *))
{
  size_t size = 0;
  guint8 *bytes = level_model (labels, extra, &size);
  gchar *path = fixture_write_model_bytes (bytes, size);

  free (bytes);
  return path;
}

/* Audio for a pattern: one segment of `seg` samples per character. */
static gfloat *
pattern_audio (const gchar * pattern, gsize seg, gsize * n_out)
{
  gsize n = strlen (pattern) * seg, i;
  gfloat *s = g_new (gfloat, n);
  guint32 state = 99;

  for (i = 0; i < n; i++) {
    gchar c = pattern[i / seg];
    gfloat amp = c == 'L' ? 0.5f : c == 'Q' ? 0.01f : 0.0f;
    s[i] = amp * test_rand_float (&state);
  }
  *n_out = n;
  return s;
}

/* ------------------------------------------------------------------------ */
/* harness (the shared part is in harness.c)                                */

static void
setup (Fixture * f, const gchar * model, guint64 interval)
{
  fixture_setup (f, model, interval, NULL);
  fixture_set_format (f, GST_AUDIO_FORMAT_F32, RATE, 1, FALSE);
}

/* setup() with a new level_model_path() (fixture_teardown() removes it). */
static void
setup_level (Fixture * f, const char *const *labels,
    void (*extra) (GgufWriter *), guint64 interval)
{
  gchar *model = level_model_path (labels, extra);

  setup (f, model, interval);
  f->model = model;
}

/* Pushes n samples from pts in buffers of 4000 frames; the first buffer
 * is flagged DISCONT when asked. */
static void
push_samples (Fixture * f, const gfloat * mono, gsize n, GstClockTime pts,
    gboolean discont)
{
  gsize done;

  for (done = 0; done < n; done += 4000) {
    gsize len = MIN (4000, n - done);
    GstBuffer *buf = gst_buffer_new_allocate (NULL, len * 4, NULL);

    gst_buffer_fill (buf, 0, mono + done, len * 4);
    GST_BUFFER_PTS (buf) = pts + done * NS_PER_SAMPLE;
    GST_BUFFER_DURATION (buf) = len * NS_PER_SAMPLE;
    if (discont && done == 0)
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    fixture_push (f, buf);
  }
}

/* Pushes a pattern of 1 s segments starting `first` seconds after
 * `base_pts`. */
static void
push_pattern (Fixture * f, const gchar * pattern, GstClockTime base_pts,
    guint first, gboolean discont)
{
  gsize n;
  gfloat *audio = pattern_audio (pattern, WINDOW, &n);

  push_samples (f, audio, n, base_pts + first * GST_SECOND, discont);
  g_free (audio);
}

typedef struct
{
  GstClockTime timestamp, stream_time, running_time, duration;
  gchar keyword[32];
  guint cls, exit_no, num_windows;
  gdouble score, confidence, threshold;
} Detection;

typedef struct
{
  Detection det[64];
  guint n_det;
  guint n_windows;
  gchar window_labels[64][32];
} Collected;

/* Pops every pending message: windows are counted, detections recorded;
 * a detection must follow the "beenet" message of its own window. */
static void
collect (Fixture * f, Collected * c)
{
  GstMessage *m;
  GstClockTime last_window_ts = GST_CLOCK_TIME_NONE;

  memset (c, 0, sizeof (*c));
  while ((m = fixture_pop (f->bus, 0)) != NULL) {
    const GstStructure *s = gst_message_get_structure (m);

    fail_unless (GST_MESSAGE_SRC (m) == GST_OBJECT (f->element));
    if (gst_structure_has_name (s, "beenet")) {
      last_window_ts = get_u64 (s, "timestamp");
      fail_unless (c->n_windows < G_N_ELEMENTS (c->window_labels));
      g_strlcpy (c->window_labels[c->n_windows++],
          gst_structure_get_string (s, "label"), 32);
    } else {
      Detection *d = &c->det[c->n_det];

      fail_unless (gst_structure_has_name (s, "beenet-detection"));
      fail_unless (c->n_det < G_N_ELEMENTS (c->det));
      d->timestamp = get_u64 (s, "timestamp");
      d->stream_time = get_u64 (s, "stream-time");
      d->running_time = get_u64 (s, "running-time");
      d->duration = get_u64 (s, "duration");
      fail_unless (gst_structure_get_string (s, "keyword") != NULL);
      g_strlcpy (d->keyword, gst_structure_get_string (s, "keyword"), 32);
      d->cls = get_uint (s, "class");
      d->exit_no = get_uint (s, "exit");
      d->num_windows = get_uint (s, "num-windows");
      d->score = get_double (s, "score");
      d->confidence = get_double (s, "confidence");
      d->threshold = get_double (s, "threshold");
      fail_unless_equals_uint64 (d->timestamp, last_window_ts);
      c->n_det++;
    }
    gst_message_unref (m);
  }
}

#define assert_close(a, b, tol) \
  fail_unless (fabs ((gdouble) (a) - (gdouble) (b)) <= (tol), \
      "%s = %.9g, expected %.9g", #a, (gdouble) (a), (gdouble) (b))

/* Checks detection i: keyword, window start (seconds after pts0), score. */
static void
check_det (const Collected * c, guint i, const gchar * keyword,
    GstClockTime pts0, guint sec, gdouble score, guint num_windows)
{
  const Detection *d;

  fail_unless (i < c->n_det, "only %u detections", c->n_det);
  d = &c->det[i];
  fail_unless_equals_string (d->keyword, keyword);
  fail_unless_equals_int (d->cls, strcmp (keyword, "yes") == 0 ? YES : NO);
  fail_unless_equals_uint64 (d->timestamp, pts0 + sec * GST_SECOND);
  assert_close (d->score, score, 1e-6);
  fail_unless_equals_int (d->num_windows, num_windows);
  fail_unless_equals_int (d->exit_no, 1);
  assert_close (d->confidence, 1.0, 1e-6);
}

/* ------------------------------------------------------------------------ */
/* tests                                                                    */

/* Built-in parameters (the model has no beenet.detection.* keys:
 * threshold 0.7, smoothing 500 ms = the latest window at 1 s, refractory
 * 1 s): one detection per burst, none for _silence_, exact times. */
GST_START_TEST (test_bursts)
{
  const GstClockTime seg_start = 5 * GST_SECOND, seg_time = 100 * GST_SECOND,
      seg_base = 2 * GST_SECOND;
  Collected c;
  Fixture f;
  guint i;

  setup_level (&f, kws_labels, NULL, GST_SECOND);
  fixture_segment (&f, seg_start, seg_time, seg_base);
  /*                          0123456789abcd */
  push_pattern (&f, "SSLLSSLSQSSQQS", seg_start, 0, FALSE);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  collect (&f, &c);

  fail_unless_equals_int (c.n_windows, 14);
  fail_unless_equals_string (c.window_labels[2], "yes");
  fail_unless_equals_string (c.window_labels[8], "no");
  fail_unless_equals_string (c.window_labels[0], "_silence_");
  fail_unless_equals_int (c.n_det, 4);
  check_det (&c, 0, "yes", seg_start, 2, 1.0, 1);
  check_det (&c, 1, "yes", seg_start, 6, 1.0, 1);
  check_det (&c, 2, "no", seg_start, 8, 1.0, 1);
  check_det (&c, 3, "no", seg_start, 11, 1.0, 1);
  for (i = 0; i < c.n_det; i++) {
    const Detection *d = &c.det[i];
    fail_unless_equals_uint64 (d->duration, GST_SECOND);
    fail_unless_equals_uint64 (d->stream_time,
        d->timestamp - seg_start + seg_time);
    fail_unless_equals_uint64 (d->running_time,
        d->timestamp - seg_start + seg_base);
    assert_close (d->threshold, 0.7, 1e-12);
  }
  fixture_teardown (&f);
}

GST_END_TEST;

/* The refractory period, post-detections, detection-threshold and
 * smoothing changed while PLAYING take effect at the next window. */
GST_START_TEST (test_properties_while_playing)
{
  gchar *model = level_model_path (kws_labels, NULL);
  Collected c;
  Fixture f;

  setup (&f, model, GST_SECOND);
  fail_unless_equals_int (GST_STATE (f.element), GST_STATE_PLAYING);

  /* refractory 1.5 s: "no" one second after "yes" is suppressed (and is
   * back under the threshold before the period ends) */
  g_object_set (f.element, "refractory", 1500 * GST_MSECOND, NULL);
  push_pattern (&f, "LQSS", 0, 0, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_windows, 4);
  fail_unless_equals_int (c.n_det, 1);
  check_det (&c, 0, "yes", 0, 0, 1.0, 1);

  /* 0.5 s: it is not */
  g_object_set (f.element, "refractory", 500 * GST_MSECOND, NULL);
  push_pattern (&f, "LQSS", 0, 4, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 2);
  check_det (&c, 0, "yes", 0, 4, 1.0, 1);
  check_det (&c, 1, "no", 0, 5, 1.0, 1);

  /* post-detections FALSE: nothing posted (the windows still are) */
  g_object_set (f.element, "post-detections", FALSE, NULL);
  push_pattern (&f, "LS", 0, 8, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_windows, 2);
  fail_unless_equals_int (c.n_det, 0);
  g_object_set (f.element, "post-detections", TRUE, NULL);
  push_pattern (&f, "LS", 0, 10, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 1);
  check_det (&c, 0, "yes", 0, 10, 1.0, 1);

  /* smoothing 1 s = 2 windows: a lone loud window scores 1/2, below 0.75 */
  g_object_set (f.element, "smoothing", GST_SECOND, "detection-threshold",
      0.75, NULL);
  push_pattern (&f, "SLS", 0, 12, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 0);
  g_object_set (f.element, "detection-threshold", 0.5, NULL);
  push_pattern (&f, "SLS", 0, 15, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 1);
  check_det (&c, 0, "yes", 0, 16, 0.5, 2);
  assert_close (c.det[0].threshold, 0.5, 1e-12);

  /* back to the model's value (sentinels) */
  g_object_set (f.element, "smoothing", GST_CLOCK_TIME_NONE,
      "detection-threshold", -1.0, NULL);
  push_pattern (&f, "SLS", 0, 18, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 1);
  check_det (&c, 0, "yes", 0, 19, 1.0, 1);
  assert_close (c.det[0].threshold, 0.7, 1e-12);

  /* post-messages FALSE skips inference: no detection either */
  g_object_set (f.element, "post-messages", FALSE, NULL);
  push_pattern (&f, "SL", 0, 21, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_windows, 0);
  fail_unless_equals_int (c.n_det, 0);

  fixture_teardown (&f);
  fixture_remove_model (model);
}

GST_END_TEST;

static void
detection_keys (GgufWriter * w)
{
  gguf_writer_add_f32 (w, "beenet.detection.threshold", 0.9f);
  gguf_writer_add_f32 (w, "beenet.detection.smoothing_ms", 0.0f);
  gguf_writer_add_f32 (w, "beenet.detection.refractory_ms", 2500.0f);
}

/* The model's beenet.detection.* keys are the defaults; a property
 * overrides one of them. */
GST_START_TEST (test_model_defaults)
{
  gchar *model = level_model_path (kws_labels, detection_keys);
  gdouble th;
  guint64 smoothing, refractory;
  Collected c;
  Fixture f;

  setup (&f, model, GST_SECOND);
  g_object_get (f.element, "detection-threshold", &th, "smoothing",
      &smoothing, "refractory", &refractory, NULL);
  fail_unless (th == -1.0);
  fail_unless_equals_uint64 (smoothing, GST_CLOCK_TIME_NONE);
  fail_unless_equals_uint64 (refractory, GST_CLOCK_TIME_NONE);
  /* refractory 2.5 s: the burst at 2 s is suppressed */
  push_pattern (&f, "LSLSL", 0, 0, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 2);
  check_det (&c, 0, "yes", 0, 0, 1.0, 1);
  check_det (&c, 1, "yes", 0, 4, 1.0, 1);
  assert_close (c.det[0].threshold, 0.9f, 1e-12);
  fixture_teardown (&f);

  setup (&f, model, GST_SECOND);
  g_object_set (f.element, "refractory", GST_SECOND, NULL);
  push_pattern (&f, "LSLSL", 0, 0, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 3);
  check_det (&c, 1, "yes", 0, 2, 1.0, 1);
  assert_close (c.det[1].threshold, 0.9f, 1e-12);
  fixture_teardown (&f);
  fixture_remove_model (model);
}

GST_END_TEST;

static void
class_offset_keys (GgufWriter * w)
{
  /* "yes" one logit unit stricter than the threshold, "no" as it is */
  const float off[4] = { 0.0f, 0.0f, 1.0f, 0.0f };
  gguf_writer_add_array_f32 (w, "beenet.detection.class_offsets", off, 4);
}

/* Per-keyword thresholds: at detection-threshold 0.4 "yes" needs
 * sigmoid(logit(0.4) + 1) = 0.6444, so a lone loud window smoothed over
 * 2 windows (score 1/2) fires "no" but not "yes"; the message carries each
 * keyword's own threshold. */
GST_START_TEST (test_class_offsets)
{
  Collected c;
  Fixture f;

  setup_level (&f, kws_labels, class_offset_keys, GST_SECOND);
  g_object_set (f.element, "smoothing", GST_SECOND, "detection-threshold",
      0.4, NULL);
  push_pattern (&f, "SLSS", 0, 0, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 0);
  push_pattern (&f, "QSS", 0, 4, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 1);
  check_det (&c, 0, "no", 0, 4, 0.5, 2);
  assert_close (c.det[0].threshold, 0.4, 1e-12);
  push_pattern (&f, "LLSS", 0, 7, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 1);
  check_det (&c, 0, "yes", 0, 8, 1.0, 2);
  assert_close (c.det[0].threshold, 1.0 / (1.0 + exp (-(log (0.4 / 0.6)
                  + 1.0))), 1e-6);
  fixture_teardown (&f);
}

GST_END_TEST;

static void
keyword_no_only (GgufWriter * w)
{
  const uint32_t k[1] = { NO };
  gguf_writer_add_array_u32 (w, "beenet.keywords", k, 1);
}

/* beenet.keywords decides which classes are keywords. */
GST_START_TEST (test_model_keyword_list)
{
  Collected c;
  Fixture f;

  setup_level (&f, kws_labels, keyword_no_only, GST_SECOND);
  push_pattern (&f, "LSQS", 0, 0, FALSE);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  collect (&f, &c);
  fail_unless_equals_int (c.n_windows, 4);
  fail_unless_equals_int (c.n_det, 1);
  check_det (&c, 0, "no", 0, 2, 1.0, 1);
  fixture_teardown (&f);
}

GST_END_TEST;

/* _unknown_ (and _silence_) never fire, however confident. */
GST_START_TEST (test_unknown_never_detected)
{
  Collected c;
  Fixture f;

  setup_level (&f, unknown_labels, NULL, GST_SECOND);
  push_pattern (&f, "LLSLQS", 0, 0, FALSE);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  collect (&f, &c);
  fail_unless_equals_int (c.n_windows, 6);
  fail_unless_equals_string (c.window_labels[0], "_unknown_");
  fail_unless_equals_string (c.window_labels[3], "_unknown_");
  fail_unless_equals_int (c.n_det, 1);
  fail_unless_equals_string (c.det[0].keyword, "yes");
  fail_unless_equals_int (c.det[0].cls, 3);
  fail_unless_equals_uint64 (c.det[0].timestamp, 4 * GST_SECOND);
  fixture_teardown (&f);
}

GST_END_TEST;

/* DISCONT and FLUSH reset the detector like the windowing: a keyword that
 * is still above the threshold fires again in the new stream. */
GST_START_TEST (test_reset_on_discont_and_flush)
{
  GstSegment seg;
  Collected c;
  Fixture f;

  setup_level (&f, kws_labels, NULL, GST_SECOND);
  push_pattern (&f, "LL", 0, 0, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 1);
  check_det (&c, 0, "yes", 0, 0, 1.0, 1);
  /* continuous: still disarmed */
  push_pattern (&f, "L", 0, 2, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_windows, 1);
  fail_unless_equals_int (c.n_det, 0);

  push_pattern (&f, "LL", 0, 10, TRUE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 1);
  check_det (&c, 0, "yes", 0, 10, 1.0, 1);

  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_segment (&seg)));
  push_pattern (&f, "L", 0, 0, FALSE);
  collect (&f, &c);
  fail_unless_equals_int (c.n_det, 1);
  check_det (&c, 0, "yes", 0, 0, 1.0, 1);
  fixture_teardown (&f);
}

GST_END_TEST;

/* A stream shorter than one window, classified at EOS, can fire; its
 * duration is the real audio. */
GST_START_TEST (test_short_stream_at_eos)
{
  Collected c;
  gfloat *audio;
  gsize n;
  Fixture f;

  setup_level (&f, kws_labels, NULL, 500 * GST_MSECOND);
  fixture_segment (&f, 0, 0, 3 * GST_SECOND);
  /* 0.5 s of loud noise, zero-padded: half the frames at +3.4, half at
   * -13.8, so the window's mean level is in the "no" band (m about -5) */
  audio = pattern_audio ("L", 8000, &n);
  push_samples (&f, audio, n, 7 * GST_SECOND, FALSE);
  g_free (audio);
  collect (&f, &c);
  fail_unless_equals_int (c.n_windows, 0);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  collect (&f, &c);
  fail_unless_equals_int (c.n_windows, 1);
  fail_unless_equals_int (c.n_det, 1);
  fail_unless_equals_string (c.det[0].keyword, "no");
  fail_unless_equals_uint64 (c.det[0].timestamp, 7 * GST_SECOND);
  fail_unless_equals_uint64 (c.det[0].running_time, 10 * GST_SECOND);
  fail_unless_equals_uint64 (c.det[0].duration, GST_SECOND / 2);
  fixture_teardown (&f);
}

GST_END_TEST;

/* With overlapping windows (default interval 500 ms) and segments of 250 ms
 * that do not line up with the windows, the element's detections are
 * exactly what the engine's detector gives on the engine's results for the
 * same windows at their start times. */
GST_START_TEST (test_matches_engine)
{
  static const gchar pattern[] =
      "SSSLLLLSSSSSQQQQQQQQQQSSSLLSSSSQQQQQQSSLLLLLLLLLLSSSSSSQQQSSLLLL";
  const gsize seg = 4000;       /* 250 ms */
  size_t size = 0;
  guint8 *bytes = level_model (kws_labels, NULL, &size);
  gchar *model = fixture_write_model_bytes (bytes, size);
  BeenetModel *bm = NULL;
  BeenetSession *session = NULL;
  BeenetDetector *det = NULL;
  BeenetError err;
  Collected c;
  gfloat *audio;
  gsize n, k, n_ref = 0;
  guint seen[4] = { 0, 0, 0, 0 };
  Fixture f;

  fail_unless_equals_int (beenet_model_load_memory (bytes, size, &bm, &err),
      BEENET_OK);
  fail_unless_equals_int (beenet_session_new (bm, &session, &err), BEENET_OK);
  fail_unless_equals_int (beenet_detector_new (bm, NULL, &det, &err),
      BEENET_OK);
  audio = pattern_audio (pattern, seg, &n);

  setup (&f, model, 500 * GST_MSECOND);
  push_samples (&f, audio, n, 0, FALSE);
  collect (&f, &c);

  for (k = 0; k * 8000 + WINDOW <= n; k++) {
    BeenetResult res;
    BeenetDetection d;
    int fired = 0;

    fail_unless_equals_int (beenet_session_classify (session,
            audio + k * 8000, WINDOW, BEENET_POLICY_ENTROPY, 0.5f, &res,
            &err), BEENET_OK);
    fail_unless_equals_int (beenet_detector_push (det,
            (gint64) (k * 500 * GST_MSECOND), res.probabilities,
            res.num_classes, &d, &fired, &err), BEENET_OK);
    if (!fired)
      continue;
    fail_unless (n_ref < c.n_det, "the element missed a detection at %"
        GST_TIME_FORMAT, GST_TIME_ARGS (d.time_ns));
    fail_unless_equals_uint64 (c.det[n_ref].timestamp, (guint64) d.time_ns);
    fail_unless_equals_int (c.det[n_ref].cls, d.class_index);
    fail_unless (c.det[n_ref].score == (gdouble) d.score);
    fail_unless_equals_int (c.det[n_ref].num_windows, d.num_windows);
    fail_unless (c.det[n_ref].confidence ==
        (gdouble) res.probabilities[d.class_index]);
    seen[d.class_index]++;
    n_ref++;
  }
  fail_unless_equals_int (c.n_windows, k);
  fail_unless_equals_int (c.n_det, n_ref);
  /* the sequence is not trivial: several detections of both keywords */
  fail_unless (n_ref >= 4, "only %" G_GSIZE_FORMAT " detections", n_ref);
  fail_unless (seen[YES] >= 1 && seen[NO] >= 1, "yes %u, no %u", seen[YES],
      seen[NO]);

  fixture_teardown (&f);
  g_free (audio);
  beenet_detector_free (det);
  beenet_session_free (session);
  beenet_model_unref (bm);
  free (bytes);
  fixture_remove_model (model);
}

GST_END_TEST;

/* gst-inspect-1.0 shows the sentinels, ranges and flags. */
GST_START_TEST (test_property_specs)
{
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  GObjectClass *klass = G_OBJECT_GET_CLASS (e);
  static const gchar *const names[] = { "detection-threshold", "smoothing",
    "refractory", "post-detections"
  };
  GParamSpec *p;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (names); i++) {
    p = g_object_class_find_property (klass, names[i]);
    fail_unless (p != NULL, "no property %s", names[i]);
    fail_unless (p->flags & GST_PARAM_MUTABLE_PLAYING);
    fail_unless (p->flags & GST_PARAM_CONTROLLABLE);
    fail_unless (p->flags & G_PARAM_READWRITE);
    fail_unless (strlen (g_param_spec_get_blurb (p)) > 40);
  }
  p = g_object_class_find_property (klass, "detection-threshold");
  fail_unless (G_PARAM_SPEC_DOUBLE (p)->default_value == -1.0);
  fail_unless (G_PARAM_SPEC_DOUBLE (p)->maximum == 1.0);
  fail_unless (strstr (g_param_spec_get_blurb (p), "model's value") != NULL);
  p = g_object_class_find_property (klass, "smoothing");
  fail_unless_equals_uint64 (G_PARAM_SPEC_UINT64 (p)->default_value,
      GST_CLOCK_TIME_NONE);
  fail_unless (strstr (g_param_spec_get_blurb (p), "model's value") != NULL);
  p = g_object_class_find_property (klass, "refractory");
  fail_unless_equals_uint64 (G_PARAM_SPEC_UINT64 (p)->default_value,
      GST_CLOCK_TIME_NONE);
  p = g_object_class_find_property (klass, "post-detections");
  fail_unless (G_PARAM_SPEC_BOOLEAN (p)->default_value == TRUE);
  fail_unless (strstr (g_param_spec_get_blurb (p), "beenet-detection"));
  gst_object_unref (e);
}

GST_END_TEST;

static Suite *
beenet_detection_suite (void)
{
  Suite *s = suite_create ("beenet-detection");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_bursts);
  tcase_add_test (tc, test_properties_while_playing);
  tcase_add_test (tc, test_model_defaults);
  tcase_add_test (tc, test_model_keyword_list);
  tcase_add_test (tc, test_class_offsets);
  tcase_add_test (tc, test_unknown_never_detected);
  tcase_add_test (tc, test_reset_on_discont_and_flush);
  tcase_add_test (tc, test_short_stream_at_eos);
  tcase_add_test (tc, test_matches_engine);
  tcase_add_test (tc, test_property_specs);
  return s;
}

GST_CHECK_MAIN (beenet_detection);
