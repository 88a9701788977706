/* The beenet element at any rate, format, layout and channel count
 * (issue 11): audio passes through bit for bit, windows keep the input's
 * timeline exactly, and classifying 44.1 / 48 kHz audio gives the same
 * answers as the same audio at the model's 16 kHz.
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "harness.h"
#include "speech.h"
#include "test-models.h"

#ifndef HAVE_DEFAULT_MODEL
#define HAVE_DEFAULT_MODEL 0
#endif

/* The agreement measure of test_rates_match_16k (docs/element.md), speech
 * from espeak-ng classified at 44.1 / 48 kHz against the same speech at
 * 16 kHz, windows every 250 ms, every exit run (threshold 0):
 *  - every window whose 16 kHz top probability is >= CONFIDENT has the same
 *    top class, and at least 90 % of all windows do;
 *  - no class probability of any window differs by more than MAX_PROB_DIFF,
 *    and the per-window largest difference averages <= MEAN_PROB_DIFF.
 * The two signals are not identical (the 44.1 / 48 kHz copies went through
 * one more band-limiting resampler) and the binarised network turns small
 * input changes into sign flips, so ambiguous windows move most. */
#define CONFIDENT 0.6
#define MAX_PROB_DIFF 0.25
#define MEAN_PROB_DIFF 0.05

static void
setup (Fixture * f, const gchar * model, guint64 interval,
    GstAudioFormat format, gint rate, guint channels, gboolean planar)
{
  fixture_setup (f, model, interval, "post-detections", FALSE, NULL);
  fixture_set_format (f, format, rate, channels, planar);
}

/* Sample i of channel c: a tone per channel, in [-0.5, 0.5]. */
static gdouble
sample_value (guint64 i, guint c, gint rate)
{
  return 0.5 * sin (2 * G_PI * (300.0 + 110.0 * c) * (gdouble) i / rate);
}

/* A buffer of n frames starting at frame pos, values from mono (if not
 * NULL) or sample_value(), in the fixture's format and layout. */
static GstBuffer *
make_buffer (Fixture * f, const gfloat * mono, guint64 pos, gsize n)
{
  const GstAudioInfo *info = &f->info;
  guint ch = GST_AUDIO_INFO_CHANNELS (info);
  gboolean planar = info->layout == GST_AUDIO_LAYOUT_NON_INTERLEAVED;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, n * GST_AUDIO_INFO_BPF
      (info), NULL);
  GstMapInfo map;
  gsize i;
  guint c;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (i = 0; i < n; i++) {
    for (c = 0; c < ch; c++) {
      gdouble v = mono ? mono[i] : sample_value (pos + i, c, info->rate);
      gsize k = planar ? c * n + i : i * ch + c;

      switch (GST_AUDIO_INFO_FORMAT (info)) {
        case GST_AUDIO_FORMAT_S16:
          ((gint16 *) map.data)[k] = (gint16) lrint (v * 32767.0);
          break;
        case GST_AUDIO_FORMAT_S32:
          ((gint32 *) map.data)[k] = (gint32) lrint (v * 2147483647.0);
          break;
        case GST_AUDIO_FORMAT_F32:
          ((gfloat *) map.data)[k] = (gfloat) v;
          break;
        default:
          ((gdouble *) map.data)[k] = v;
          break;
      }
    }
  }
  gst_buffer_unmap (buf, &map);
  if (planar)
    gst_buffer_add_audio_meta (buf, info, n, NULL);
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale_int (pos, GST_SECOND,
      info->rate);
  GST_BUFFER_DURATION (buf) = gst_util_uint64_scale_int (pos + n, GST_SECOND,
      info->rate) - GST_BUFFER_PTS (buf);
  return buf;
}

/* Pushes `total` frames in buffers of `chunk` frames starting at pts0 and
 * checks every buffer comes out bit-identical. */
static void
push_frames (Fixture * f, const gfloat * mono, guint64 total, gsize chunk,
    GstClockTime pts0)
{
  guint64 pos;

  for (pos = 0; pos < total; pos += chunk) {
    gsize n = (gsize) MIN (chunk, total - pos);
    GstBuffer *in = make_buffer (f, mono ? mono + pos : NULL, pos, n);

    GST_BUFFER_PTS (in) += pts0;
    fixture_push_exact (f, in);
  }
}

/* ------------------------------------------------------------------------ */

typedef struct
{
  GstAudioFormat format;
  gint rate;
  guint channels;
  gboolean planar;
} Config;

/* (a) Output buffers are the input buffers, bit for bit, for formats,
 * rates, layouts and channel counts the converter has to handle
 * differently; each stream gives the same 5 windows (2.5 s at a 500 ms
 * interval, the last one padded) at the same times. */
GST_START_TEST (test_passthrough_any_format)
{
  static const Config configs[] = {
    {GST_AUDIO_FORMAT_S16, 48000, 2, FALSE},
    {GST_AUDIO_FORMAT_F32, 44100, 2, TRUE},
    {GST_AUDIO_FORMAT_F64, 8000, 1, FALSE},
    {GST_AUDIO_FORMAT_S32, 22050, 6, FALSE},
    {GST_AUDIO_FORMAT_S16, 16000, 3, TRUE},
    {GST_AUDIO_FORMAT_F32, 16000, 1, FALSE},
  };
  gchar *model = fixture_constant_model ();
  guint i;

  for (i = 0; i < G_N_ELEMENTS (configs); i++) {
    const Config *c = &configs[i];
    guint64 total = (guint64) c->rate * 5 / 2;
    GstMessage *m;
    Fixture f;
    guint k;

    setup (&f, model, 500 * GST_MSECOND, c->format, c->rate,
        c->channels, c->planar);
    push_frames (&f, NULL, total, 1000 + 37 * i, 0);
    fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
    for (k = 0; k < 5; k++) {
      const GstStructure *s;

      m = fixture_pop_named (f.bus, "beenet");
      fail_unless (m != NULL, "config %u: window %u missing", i, k);
      s = gst_message_get_structure (m);
      fail_unless_equals_uint64 (get_u64 (s, "timestamp"),
          k * 500 * GST_MSECOND);
      fail_unless_equals_uint64 (get_u64 (s, "duration"),
          k < 4 ? GST_SECOND : GST_SECOND / 2);
      gst_message_unref (m);
    }
    fail_unless (fixture_pop_named (f.bus, "beenet") == NULL,
        "config %u: extra window", i);
    fixture_teardown (&f);
  }
  fixture_remove_model (model);
}

GST_END_TEST;

/* (c) At 44.1 kHz (a non-integer ratio to 16 kHz, 441/160) window k of a
 * 250 ms interval starts exactly k * 250 ms after the first sample, in
 * buffer time, stream time and running time, whatever the buffer size; the
 * 3.3 s stream gives 10 full windows and 2 padded ones, as at 16 kHz. */
GST_START_TEST (test_timestamps_44100)
{
  static const gsize chunks[] = { 100, 1024, 44100 };
  const GstClockTime seg_start = 5 * GST_SECOND, seg_time = 100 * GST_SECOND,
      seg_base = 2 * GST_SECOND;
  const guint64 total = 44100 * 3 + 13230;      /* 3.3 s = 52800 samples at 16k */
  gchar *model = fixture_constant_model ();
  guint ci;

  for (ci = 0; ci < G_N_ELEMENTS (chunks); ci++) {
    Fixture f;
    guint k;

    setup (&f, model, 250 * GST_MSECOND, GST_AUDIO_FORMAT_F32, 44100,
        1, FALSE);
    fixture_segment (&f, seg_start, seg_time, seg_base);
    push_frames (&f, NULL, total, chunks[ci], seg_start);
    fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
    for (k = 0; k < 12; k++) {
      const guint64 start = k * 4000, real = MIN (16000, 52800 - start);
      const GstClockTime ts = seg_start + k * 250 * GST_MSECOND;
      GstMessage *m = fixture_pop_named (f.bus, "beenet");
      const GstStructure *s;

      fail_unless (m != NULL, "chunk %" G_GSIZE_FORMAT ": window %u missing",
          chunks[ci], k);
      s = gst_message_get_structure (m);
      fail_unless_equals_uint64 (get_u64 (s, "timestamp"), ts);
      fail_unless_equals_uint64 (get_u64 (s, "duration"), real * 62500);
      fail_unless_equals_uint64 (get_u64 (s, "stream-time"),
          ts - seg_start + seg_time);
      fail_unless_equals_uint64 (get_u64 (s, "running-time"),
          ts - seg_start + seg_base);
      gst_message_unref (m);
    }
    fail_unless (fixture_pop_named (f.bus, "beenet") == NULL,
        "chunk %" G_GSIZE_FORMAT ": extra window", chunks[ci]);
    fixture_teardown (&f);
  }
  fixture_remove_model (model);
}

GST_END_TEST;

/* A DISCONT at 44.1 kHz resets the resampler with the windowing: the
 * partial window is dropped and the next window starts exactly at the
 * DISCONT buffer's time. */
GST_START_TEST (test_discont_44100)
{
  gchar *model = fixture_constant_model ();
  GstBuffer *buf;
  GstMessage *m;
  Fixture f;

  setup (&f, model, 500 * GST_MSECOND, GST_AUDIO_FORMAT_S16, 44100,
      2, FALSE);
  push_frames (&f, NULL, 26460, 4410, 0);       /* 0.6 s: no window */
  fail_unless (fixture_pop_named (f.bus, "beenet") == NULL);
  buf = make_buffer (&f, NULL, 0, 44100 + 22050);       /* 1.5 s */
  GST_BUFFER_PTS (buf) = 10 * GST_SECOND;
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  fail_unless_equals_int (gst_harness_push (f.h, buf), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (f.h));
  m = fixture_pop_named (f.bus, "beenet");
  fail_unless (m != NULL);
  fail_unless_equals_uint64 (get_u64 (gst_message_get_structure (m),
          "timestamp"), 10 * GST_SECOND);
  gst_message_unref (m);
  /* the window at 10.5 s needs the resampler's delay beyond 11.5 s */
  fail_unless (fixture_pop_named (f.bus, "beenet") == NULL);
  fixture_teardown (&f);
  fixture_remove_model (model);
}

GST_END_TEST;

/* New caps mid-stream (44.1 kHz -> 48 kHz, no DISCONT): the old
 * converter is drained, so the windows go on in the same timeline and the
 * last padded window still holds exactly 0.5 s of real audio. */
GST_START_TEST (test_caps_change_midstream)
{
  gchar *model = fixture_constant_model ();
  GstCaps *caps;
  Fixture f;
  guint k;

  setup (&f, model, 500 * GST_MSECOND, GST_AUDIO_FORMAT_F32, 44100,
      1, FALSE);
  push_frames (&f, NULL, 30870, 4410, 0);       /* 0.7 s */
  gst_audio_info_set_format (&f.info, GST_AUDIO_FORMAT_S16, 48000, 2, NULL);
  caps = gst_audio_info_to_caps (&f.info);
  gst_harness_set_src_caps (f.h, caps);
  push_frames (&f, NULL, 62400, 4800, 700 * GST_MSECOND);       /* 1.3 s */
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  for (k = 0; k < 4; k++) {
    GstMessage *m = fixture_pop_named (f.bus, "beenet");
    const GstStructure *s;

    fail_unless (m != NULL, "window %u missing", k);
    s = gst_message_get_structure (m);
    fail_unless_equals_uint64 (get_u64 (s, "timestamp"),
        k * 500 * GST_MSECOND);
    fail_unless_equals_uint64 (get_u64 (s, "duration"),
        k < 3 ? GST_SECOND : GST_SECOND / 2);
    gst_message_unref (m);
  }
  fail_unless (fixture_pop_named (f.bus, "beenet") == NULL);
  fixture_teardown (&f);
  fixture_remove_model (model);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* (b) 44.1 / 48 kHz against 16 kHz with the shipped model and real speech */

typedef struct
{
  GstClockTime ts;
  guint cls;
  gdouble probs[32];
  guint n;
} Window;

/* Classifies mono audio at `rate` with the built-in model, every exit
 * (threshold 0), 10 ms buffers; returns the windows. */
static GArray *
classify_at (const gfloat * mono, gsize n, gint rate)
{
  GArray *windows = g_array_new (FALSE, TRUE, sizeof (Window));
  GstMessage *m;
  Fixture f;

  setup (&f, NULL, 250 * GST_MSECOND, GST_AUDIO_FORMAT_F32, rate, 1,
      FALSE);
  g_object_set (f.element, "threshold", 0.0, NULL);
  push_frames (&f, mono, n, rate / 100, 0);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  while ((m = fixture_pop_named (f.bus, "beenet")) != NULL) {
    const GstStructure *s = gst_message_get_structure (m);
    const GValue *arr = gst_structure_get_value (s, "probabilities");
    GValueArray *probs;
    Window w = { 0, };
    guint i;

    G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
    probs = g_value_get_boxed (arr);
    w.n = MIN (probs->n_values, G_N_ELEMENTS (w.probs));
    for (i = 0; i < w.n; i++)
      w.probs[i] = g_value_get_double (&probs->values[i]);
    G_GNUC_END_IGNORE_DEPRECATIONS;
    w.ts = get_u64 (s, "timestamp");
    fail_unless (gst_structure_get_uint (s, "class", &w.cls));
    g_array_append_val (windows, w);
    gst_message_unref (m);
  }
  fixture_teardown (&f);
  return windows;
}

GST_START_TEST (test_rates_match_16k)
{
  static const gint rates[] = { 44100, 48000 };
  gchar *espeak = g_find_program_in_path ("espeak-ng");
  gchar *wav, *argv[8];
  gfloat *speech, *ref_audio;
  gsize n_speech = 0, n_ref = 0;
  gint speech_rate = 0, status = 0;
  GArray *ref;
  GError *err = NULL;
  guint ri;

  if (!HAVE_DEFAULT_MODEL || espeak == NULL) {
    g_print ("test_rates_match_16k: SKIPPED (%s)\n", espeak == NULL ?
        "espeak-ng not found" : "no built-in model");
    g_free (espeak);
    return;
  }
  wav = g_build_filename (g_get_tmp_dir (), "beenet-rates-XXXXXX.wav", NULL);
  close (g_mkstemp (wav));
  argv[0] = espeak;
  argv[1] = (gchar *) "-w";
  argv[2] = wav;
  argv[3] = (gchar *) "-g";
  argv[4] = (gchar *) "30";
  argv[5] = (gchar *) "yes. no. up. down. left. right. on. off. stop. go.";
  argv[6] = NULL;
  fail_unless (g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL |
          G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status,
          &err), "espeak-ng: %s", err ? err->message : "?");
  speech = speech_read_wav (wav, &speech_rate, &n_speech);
  fail_unless (speech != NULL && n_speech > (gsize) speech_rate,
      "espeak-ng wrote no usable WAV");

  /* the reference: the same speech at the model's rate (element
   * passthrough, no conversion inside) */
  ref_audio = speech_resample (speech, n_speech, speech_rate, 16000, &n_ref);
  ref = classify_at (ref_audio, n_ref, 16000);
  fail_unless (ref->len >= 10);

  for (ri = 0; ri < G_N_ELEMENTS (rates); ri++) {
    gsize n_hi = 0;
    gfloat *hi = speech_resample (speech, n_speech, speech_rate, rates[ri],
        &n_hi);
    GArray *got = classify_at (hi, n_hi, rates[ri]);
    gdouble max_diff = 0.0, sum_diff = 0.0;
    guint k, c, same = 0, confident = 0;

    fail_unless_equals_int (got->len, ref->len);
    for (k = 0; k < ref->len; k++) {
      const Window *a = &g_array_index (ref, Window, k);
      const Window *b = &g_array_index (got, Window, k);
      gdouble diff = 0.0;

      fail_unless_equals_uint64 (b->ts, a->ts);
      for (c = 0; c < a->n; c++)
        diff = MAX (diff, fabs (a->probs[c] - b->probs[c]));
      max_diff = MAX (max_diff, diff);
      sum_diff += diff;
      same += a->cls == b->cls;
      if (a->probs[a->cls] >= CONFIDENT) {
        confident++;
        fail_unless_equals_int (b->cls, a->cls);
      }
    }
    g_print ("test_rates_match_16k: %d Hz vs 16000 Hz: %u windows, same "
        "class on %u (on all %u with p >= %.2f at 16 kHz), max |p diff| "
        "%.4f, mean per-window max |p diff| %.4f\n", rates[ri], ref->len,
        same, confident, CONFIDENT, max_diff, sum_diff / ref->len);
    fail_unless (confident >= ref->len / 2);
    fail_unless (same * 10 >= ref->len * 9, "%d Hz: same class on %u/%u",
        rates[ri], same, ref->len);
    fail_unless (max_diff <= MAX_PROB_DIFF, "%d Hz: max diff %f", rates[ri],
        max_diff);
    fail_unless (sum_diff / ref->len <= MEAN_PROB_DIFF, "%d Hz: mean diff "
        "%f", rates[ri], sum_diff / ref->len);
    g_array_unref (got);
    g_free (hi);
  }

  g_array_unref (ref);
  g_free (ref_audio);
  g_free (speech);
  g_unlink (wav);
  g_free (wav);
  g_free (espeak);
}

GST_END_TEST;

static Suite *
beenet_rates_suite (void)
{
  Suite *s = suite_create ("beenet-rates");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_passthrough_any_format);
  tcase_add_test (tc, test_timestamps_44100);
  tcase_add_test (tc, test_discont_44100);
  tcase_add_test (tc, test_caps_change_midstream);
  tcase_add_test (tc, test_rates_match_16k);
  return s;
}

GST_CHECK_MAIN (beenet_rates);
