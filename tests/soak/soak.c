/* Soak test of the beenet element (issue 12, docs/reliability.md, "Soak").
 *
 * Pushes hours of audio, as fast as the CPU allows, through a beenet
 * element in a GstHarness, with seeded random property changes (every
 * writable property but `model` now and then, `model` too: live swaps
 * between three models), caps renegotiations in mid-stream (rate, channels,
 * format, layout) and new streams (EOS, flush, DISCONT), and checks:
 *
 *  - every window is accounted for: the "beenet" and "beenet-model"
 *    messages posted while a buffer or event is pushed are exactly those
 *    the reference model (soak-ref.h) expects, in order, with exact
 *    timestamps, durations, stream and running times;
 *  - every buffer comes out unchanged (same bytes as a pristine copy);
 *  - no error or warning is posted, no GLib critical or warning is logged;
 *  - the resident set size (/proc/self/statm) after the warm-up grows by
 *    less than --max-growth-kib (1 MiB); with --trim, RSS is sampled
 *    after malloc_trim (0), so it counts what the program holds, not the
 *    free pages glibc keeps.
 *
 *   soak [--seconds 86400] [--seed 1] [--model models/kws12.gguf] [--trim]
 *
 * Leaks are checked by running it under valgrind (docs/reliability.md).
 * The element is compiled in and registered statically.
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <malloc.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/check/gstharness.h>

#include "gstbeenet.h"
#include "test-models.h"
#include "soak-ref.h"

#define MODEL_RATE 16000
#define WINDOW 16000
#define POOL_SECONDS 4
#define MAX_RATE 48000
#define MAX_CHANNELS 3
#define N_MODELS 3
#define POOL_BYTES ((gsize) MAX_RATE * POOL_SECONDS * MAX_CHANNELS * 8)

typedef struct
{
  /* options */
  gdouble seconds, warmup;
  guint32 seed;
  gchar *model;
  guint64 max_growth_kib;
  gboolean trim;                /* malloc_trim (0) before each RSS sample */

  guint32 rng;
  GstHarness *h;
  GstElement *e;
  GstBus *bus;
  SoakRef ref;
  gchar *models[N_MODELS];
  guint model_index;

  /* the current caps piece and its audio */
  GstAudioInfo info;
  guint8 *pool, *pristine;      /* POOL_SECONDS of audio, and a copy */
  gsize pool_frames;

  /* the timeline */
  GstClockTime seg_start;       /* of the current segment */
  GstClockTime piece_ts;        /* input time of the piece's first frame */
  guint64 piece_frames;
  guint64 interval;             /* the property, ns */
  gboolean post;
  gboolean discont_next;
  gdouble audio_s;              /* pushed so far */
  gdouble next_prop, next_caps, next_swap, next_episode;
  gdouble mean_prop, mean_caps, mean_swap, mean_episode;

  /* counts */
  guint64 buffers, windows_seen, models_seen, detections, prop_changes,
      caps_changes, episodes;
  guint64 rss_warm, rss_max, rss_first, heap_warm, heap_max;
  gboolean warm;
  gint64 t_start;
} Soak;

/* ------------------------------------------------------------------------ */
/* random numbers (xorshift32, seeded)                                      */

static guint32
rnd (Soak * s)
{
  s->rng ^= s->rng << 13;
  s->rng ^= s->rng >> 17;
  s->rng ^= s->rng << 5;
  return s->rng;
}

static gdouble
rnd_unit (Soak * s)
{
  return (rnd (s) >> 8) / 16777216.0;
}

static gdouble
rnd_exp (Soak * s, gdouble mean)
{
  return -mean * log (1.0 - rnd_unit (s));
}

/* ------------------------------------------------------------------------ */
/* memory                                                                   */

static guint64
rss_kib (void)
{
  unsigned long size = 0, resident = 0;
  FILE *f = fopen ("/proc/self/statm", "r");

  if (f == NULL)
    return 0;
  if (fscanf (f, "%lu %lu", &size, &resident) != 2)
    resident = 0;
  fclose (f);
  return (guint64) resident * (guint64) sysconf (_SC_PAGESIZE) / 1024;
}

/* Bytes the program holds from malloc (glibc): live allocations, not the
 * pages the allocator keeps; tells a leak from allocator retention. */
static guint64
heap_kib (void)
{
  struct mallinfo2 mi = mallinfo2 ();

  return (guint64) (mi.uordblks + mi.hblkhd) / 1024;
}

/* ------------------------------------------------------------------------ */
/* audio                                                                    */

static const GstAudioFormat formats[] = { GST_AUDIO_FORMAT_S16,
  GST_AUDIO_FORMAT_S32, GST_AUDIO_FORMAT_F32, GST_AUDIO_FORMAT_F64
};
static const gint rates[] = { 8000, 16000, 22050, 44100, 48000 };

/* One sample of the test signal: half-second blocks of silence, tones,
 * noise, chirps, quiet noise and full-scale square waves (clipping). */
static gdouble
signal_at (guint32 seed, gsize i, gint rate, guint c, guint32 * noise)
{
  guint32 block = (guint32) (i / (gsize) (rate / 2)) * 2654435761u ^ seed;
  gdouble t = (gdouble) i / rate, f = 200 + block % 2800;
  gdouble n = (gdouble) ((*noise = *noise * 1664525u + 1013904223u) >> 8)
      / 8388608.0 - 1.0;
  gdouble gain = 1.0 - 0.2 * c;

  switch (block >> 29) {
    case 0:
      return 0.0;
    case 1:
    case 2:
      return gain * 0.5 * sin (2 * G_PI * f * t);
    case 3:
      return gain * 0.3 * n;
    case 4:
      return gain * 0.4 * sin (2 * G_PI * f * t * (1 + t));
    case 5:
      return 0.01 * n;
    default:
      return sin (2 * G_PI * f * t) >= 0 ? 1.0 : -1.0;
  }
}

static void
store_sample (guint8 * p, GstAudioFormat fmt, gdouble v)
{
  switch (fmt) {
    case GST_AUDIO_FORMAT_S16:{
      gint16 x = (gint16) CLAMP (lrint (v * 32768.0), -32768, 32767);
      memcpy (p, &x, 2);
      break;
    }
    case GST_AUDIO_FORMAT_S32:{
      gint32 x = (gint32) CLAMP (llrint (v * 2147483648.0), G_MININT32,
          G_MAXINT32);
      memcpy (p, &x, 4);
      break;
    }
    case GST_AUDIO_FORMAT_F32:{
      gfloat x = (gfloat) v;
      memcpy (p, &x, 4);
      break;
    }
    default:
      memcpy (p, &v, 8);
      break;
  }
}

/* Fills the pool with POOL_SECONDS of the current caps' audio. */
static void
fill_pool (Soak * s)
{
  GstAudioInfo *info = &s->info;
  gint rate = GST_AUDIO_INFO_RATE (info);
  guint ch = GST_AUDIO_INFO_CHANNELS (info);
  gsize bps = GST_AUDIO_INFO_BPS (info), i;
  gboolean planar = GST_AUDIO_INFO_LAYOUT (info) ==
      GST_AUDIO_LAYOUT_NON_INTERLEAVED;
  guint32 seed = rnd (s), noise = seed;

  s->pool_frames = (gsize) rate * POOL_SECONDS;
  for (i = 0; i < s->pool_frames; i++) {
    for (guint c = 0; c < ch; c++) {
      gsize at = planar ? (c * s->pool_frames + i) * bps : (i * ch + c) * bps;
      store_sample (s->pool + at, GST_AUDIO_INFO_FORMAT (info),
          signal_at (seed, i, rate, c, &noise));
    }
  }
  memcpy (s->pristine, s->pool, s->pool_frames * ch * bps);
}

static GstCaps *
random_caps (Soak * s, GstAudioInfo * info)
{
  GstAudioFormat fmt = formats[rnd (s) % G_N_ELEMENTS (formats)];
  gint rate = rates[rnd (s) % G_N_ELEMENTS (rates)];
  guint ch = 1 + rnd (s) % MAX_CHANNELS;
  GstCaps *caps;

  gst_audio_info_set_format (info, fmt, rate, ch, NULL);
  if (rnd (s) % 4 == 0)
    info->layout = GST_AUDIO_LAYOUT_NON_INTERLEAVED;
  caps = gst_audio_info_to_caps (info);
  return caps;
}

/* ------------------------------------------------------------------------ */
/* messages                                                                 */

static guint64
field_u64 (const GstStructure * st, const gchar * name)
{
  guint64 v;

  if (!gst_structure_get_uint64 (st, name, &v))
    g_error ("message without %s: %" GST_PTR_FORMAT, name, st);
  return v;
}

static void
check_times (Soak * s, const GstStructure * st, const SoakExpected * x,
    gboolean with_duration)
{
  GstClockTime ts = field_u64 (st, "timestamp");

  if (ts != x->timestamp)
    g_error ("window at %" GST_TIME_FORMAT ", expected %" GST_TIME_FORMAT
        " (audio %.3f s)", GST_TIME_ARGS (ts), GST_TIME_ARGS (x->timestamp),
        s->audio_s);
  if (with_duration && field_u64 (st, "duration") != x->duration)
    g_error ("window at %" GST_TIME_FORMAT ": duration %" G_GUINT64_FORMAT
        ", expected %" G_GUINT64_FORMAT, GST_TIME_ARGS (ts),
        field_u64 (st, "duration"), x->duration);
  if (field_u64 (st, "stream-time") != ts ||
      field_u64 (st, "running-time") != ts - s->seg_start)
    g_error ("window at %" GST_TIME_FORMAT ": wrong stream/running time %"
        GST_PTR_FORMAT, GST_TIME_ARGS (ts), st);
}

static void
check_element_message (Soak * s, GstMessage * m)
{
  const GstStructure *st = gst_message_get_structure (m);
  SoakExpected x;

  if (gst_structure_has_name (st, "beenet-detection")) {
    s->detections++;
    return;
  }
  if (!soak_ref_pop (&s->ref, &x))
    g_error ("unexpected message at audio %.3f s: %" GST_PTR_FORMAT,
        s->audio_s, st);
  if (gst_structure_has_name (st, "beenet") && x.kind == SOAK_MSG_WINDOW) {
    s->windows_seen++;
    check_times (s, st, &x, TRUE);
  } else if (gst_structure_has_name (st, "beenet-model") &&
      x.kind == SOAK_MSG_MODEL) {
    s->models_seen++;
    check_times (s, st, &x, FALSE);
  } else {
    g_error ("expected a %s message at %" GST_TIME_FORMAT ", got %"
        GST_PTR_FORMAT, x.kind == SOAK_MSG_MODEL ? "beenet-model" : "beenet",
        GST_TIME_ARGS (x.timestamp), st);
  }
}

/* Everything posted while pushing must be what the reference expects. */
static void
check_messages (Soak * s)
{
  GstMessage *m;
  GstEvent *ev;
  SoakExpected x;

  while ((m = gst_bus_pop (s->bus)) != NULL) {
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR ||
        GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING) {
      GError *err = NULL;
      gchar *dbg = NULL;

      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
        gst_message_parse_error (m, &err, &dbg);
      else
        gst_message_parse_warning (m, &err, &dbg);
      g_error ("%s at audio %.3f s: %s (%s)", GST_MESSAGE_TYPE_NAME (m),
          s->audio_s, err->message, dbg);
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT)
      check_element_message (s, m);
    gst_message_unref (m);
  }
  if (soak_ref_pop (&s->ref, &x))
    g_error ("missing %s message at %" GST_TIME_FORMAT " (audio %.3f s)",
        x.kind == SOAK_MSG_MODEL ? "beenet-model" : "beenet",
        GST_TIME_ARGS (x.timestamp), s->audio_s);
  while ((ev = gst_harness_try_pull_event (s->h)) != NULL)
    gst_event_unref (ev);
  while ((ev = gst_harness_try_pull_upstream_event (s->h)) != NULL)
    gst_event_unref (ev);
}

/* ------------------------------------------------------------------------ */
/* events                                                                   */

static void
push_event (Soak * s, GstEvent * ev)
{
  if (!gst_harness_push_event (s->h, ev))
    g_error ("event refused at audio %.3f s", s->audio_s);
}

static void
push_segment (Soak * s)
{
  GstSegment seg;

  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = seg.time = seg.position = s->seg_start;
  push_event (s, gst_event_new_segment (&seg));
}

static GstClockTime
now_ts (Soak * s)
{
  return s->piece_ts + gst_util_uint64_scale_int (s->piece_frames,
      GST_SECOND, GST_AUDIO_INFO_RATE (&s->info));
}

/* New caps, different from the current ones; in mid-stream or not. */
static void
change_caps (Soak * s)
{
  GstAudioInfo info;
  GstCaps *caps;

  do {
    caps = random_caps (s, &info);
    if (gst_audio_info_is_equal (&info, &s->info))
      gst_clear_caps (&caps);
  } while (caps == NULL);
  if (GST_AUDIO_INFO_RATE (&s->info) > 0)
    s->piece_ts = now_ts (s);
  s->piece_frames = 0;
  s->info = info;
  fill_pool (s);
  soak_ref_caps (&s->ref, &info);
  push_event (s, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  s->caps_changes++;
  check_messages (s);
}

/* Ends the episode (EOS, flush or a DISCONT) and starts the next. */
static void
new_episode (Soak * s)
{
  guint how = rnd (s) % 10;

  s->episodes++;
  if (how < 6) {
    push_event (s, gst_event_new_eos ());
    soak_ref_eos (&s->ref, s->interval);
    check_messages (s);
    push_event (s, gst_event_new_stream_start ("soak"));
    soak_ref_reset (&s->ref);
    change_caps (s);
    s->seg_start = s->piece_ts;
    push_segment (s);
  } else if (how < 8) {
    push_event (s, gst_event_new_flush_start ());
    push_event (s, gst_event_new_flush_stop (TRUE));
    soak_ref_reset (&s->ref);
    s->piece_ts = now_ts (s);
    s->piece_frames = 0;
    s->seg_start = s->piece_ts;
    push_segment (s);
  } else {
    s->discont_next = TRUE;
  }
  check_messages (s);
}

/* ------------------------------------------------------------------------ */
/* properties                                                               */

static const guint interval_ms[] = { 10, 50, 50, 100, 100, 100, 250, 250,
  250, 250, 333, 333, 500, 500, 500, 500, 500, 500, 500, 500, 1000, 1000,
  1000, 1000, 2000, 2000, 5000, 10000
};

static void
swap_model (Soak * s)
{
  s->model_index = (s->model_index + 1 + rnd (s) % (N_MODELS - 1)) %
      N_MODELS;
  g_object_set (s->e, "model", s->models[s->model_index], NULL);
  soak_ref_set_model (&s->ref);
  check_messages (s);
}

static void
change_property (Soak * s)
{
  GObject *o = G_OBJECT (s->e);

  s->prop_changes++;
  switch (rnd (s) % 13) {
    case 0:
      g_object_set (o, "threshold", rnd_unit (s) * 3.0, NULL);
      break;
    case 1:
      g_object_set (o, "policy", (gint) (rnd (s) % 3), NULL);
      break;
    case 2:
      g_object_set (o, "patience", 1 + rnd (s) % 5, NULL);
      break;
    case 3:
      g_object_set (o, "max-exit", rnd (s) % 7, NULL);
      break;
    case 4:
    case 5:
      s->interval = interval_ms[rnd (s) % G_N_ELEMENTS (interval_ms)] *
          GST_MSECOND;
      g_object_set (o, "interval", s->interval, NULL);
      break;
    case 6:
      s->post = rnd (s) % 6 != 0;
      g_object_set (o, "post-messages", s->post, NULL);
      soak_ref_set_post (&s->ref, s->post);
      break;
    case 7:
      g_object_set (o, "detection-threshold", rnd_unit (s) * 2 - 1, NULL);
      break;
    case 8:
      g_object_set (o, "smoothing", rnd (s) % 4 ? (guint64) (rnd (s) % 3000)
          * GST_MSECOND : GST_CLOCK_TIME_NONE, NULL);
      break;
    case 9:
      g_object_set (o, "refractory", rnd (s) % 4 ? (guint64) (rnd (s) % 5000)
          * GST_MSECOND : GST_CLOCK_TIME_NONE, NULL);
      break;
    case 10:
      g_object_set (o, "post-detections", (gboolean) (rnd (s) % 2), NULL);
      break;
    case 11:
      g_object_set (o, "budget", rnd (s) % 2 ? 1.0 : 0.05 + 0.95 *
          rnd_unit (s), NULL);
      break;
    default:
      g_object_set (o, "energy-gate", rnd (s) % 2 ? -200.0 : -80.0 + 70.0 *
          rnd_unit (s), NULL);
      break;
  }
}

/* ------------------------------------------------------------------------ */
/* buffers                                                                  */

static gsize
random_frames (Soak * s)
{
  gint rate = GST_AUDIO_INFO_RATE (&s->info);
  guint r = rnd (s) % 100;
  gsize n;

  if (r == 0)
    n = 1 + rnd (s) % 16;
  else if (r < 60)
    n = (gsize) (rate * (0.01 + 0.09 * rnd_unit (s)));
  else if (r < 90)
    n = (gsize) (rate * (0.1 + 0.9 * rnd_unit (s)));
  else
    n = (gsize) (rate * (1.0 + 3.0 * rnd_unit (s)));
  return CLAMP (n, 1, s->pool_frames);
}

static GstBuffer *
make_buffer (Soak * s, gsize first, gsize n)
{
  GstAudioInfo *info = &s->info;
  gsize bpf = GST_AUDIO_INFO_BPF (info), bps = GST_AUDIO_INFO_BPS (info);
  guint ch = GST_AUDIO_INFO_CHANNELS (info);
  GstBuffer *buf;

  if (GST_AUDIO_INFO_LAYOUT (info) == GST_AUDIO_LAYOUT_INTERLEAVED)
    return gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY, s->pool,
        s->pool_frames * bpf, first * bpf, n * bpf, NULL, NULL);
  buf = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY, s->pool,
      s->pool_frames * bpf, 0, s->pool_frames * bpf, NULL, NULL);
  {
    gsize offsets[MAX_CHANNELS];

    for (guint c = 0; c < ch; c++)
      offsets[c] = (c * s->pool_frames + first) * bps;
    gst_buffer_add_audio_meta (buf, info, n, offsets);
  }
  return buf;
}

/* The buffer that comes out must hold exactly the pristine samples. */
static void
check_output (Soak * s, gsize first, gsize n)
{
  GstBuffer *out = gst_harness_try_pull (s->h);
  GstAudioBuffer ab;
  GstAudioInfo *info = &s->info;
  gsize bps = GST_AUDIO_INFO_BPS (info);
  guint ch = GST_AUDIO_INFO_CHANNELS (info);
  gboolean planar = GST_AUDIO_INFO_LAYOUT (info) ==
      GST_AUDIO_LAYOUT_NON_INTERLEAVED;

  if (out == NULL)
    g_error ("no output buffer at audio %.3f s", s->audio_s);
  if (!gst_audio_buffer_map (&ab, info, out, GST_MAP_READ))
    g_error ("cannot map the output buffer");
  if (ab.n_samples != n)
    g_error ("output buffer of %" G_GSIZE_FORMAT " frames, pushed %"
        G_GSIZE_FORMAT, ab.n_samples, n);
  for (guint p = 0; p < (planar ? ch : 1); p++) {
    const guint8 *want = s->pristine + (planar ? (p * s->pool_frames + first)
        * bps : first * bps * ch);

    if (memcmp (ab.planes[p], want, planar ? n * bps : n * bps * ch) != 0)
      g_error ("output buffer changed at audio %.3f s", s->audio_s);
  }
  gst_audio_buffer_unmap (&ab);
  gst_buffer_unref (out);
  if ((out = gst_harness_try_pull (s->h)) != NULL)
    g_error ("more than one output buffer");
}

static void
push_buffer (Soak * s)
{
  gsize n = random_frames (s);
  gsize first = rnd (s) % (s->pool_frames - n + 1);
  GstBuffer *buf = make_buffer (s, first, n);
  gint rate = GST_AUDIO_INFO_RATE (&s->info);
  GstClockTime pts = now_ts (s);
  GstFlowReturn ret;

  /* a few buffers without timestamps: only the first one's counts */
  if (rnd (s) % 20 == 0)
    pts = GST_CLOCK_TIME_NONE;
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = gst_util_uint64_scale_int (n, GST_SECOND, rate);
  if (s->discont_next) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    /* sample 0 of the new stream must have a time: the last segment's
     * start is long past */
    GST_BUFFER_PTS (buf) = pts = now_ts (s);
  }
  soak_ref_buffer (&s->ref, n, s->interval, s->discont_next, pts,
      s->seg_start);
  s->discont_next = FALSE;
  ret = gst_harness_push (s->h, buf);
  if (ret != GST_FLOW_OK)
    g_error ("push returned %s at audio %.3f s", gst_flow_get_name (ret),
        s->audio_s);
  s->piece_frames += n;
  s->audio_s += (gdouble) n / rate;
  s->buffers++;
  check_output (s, first, n);
  check_messages (s);
}

/* ------------------------------------------------------------------------ */
/* setup                                                                    */

static gchar *
write_model (const guint8 * bytes, gsize size)
{
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("beenet-soak-XXXXXX.gguf", &path, NULL);

  if (fd < 0 || bytes == NULL ||
      write (fd, bytes, size) != (gssize) size)
    g_error ("cannot write a test model");
  close (fd);
  return path;
}

static void
setup_models (Soak * s)
{
  static const float logits[] = { 0.f, 1.f, 10.f, 0.f, 0.f, 3.f };
  size_t size = 0;
  guint8 *bytes;

  /* without --model: a realistic random network in its place */
  if (s->model != NULL) {
    s->models[0] = g_strdup (s->model);
  } else {
    bytes = test_models_realistic (11, &size);
    s->models[0] = write_model (bytes, size);
    free (bytes);
  }
  bytes = test_models_constant_exits (3, 2, logits, &size);
  s->models[1] = write_model (bytes, size);
  free (bytes);
  bytes = test_models_realistic (7, &size);
  s->models[2] = write_model (bytes, size);
  free (bytes);
}

static void
setup (Soak * s)
{
  GstCaps *caps;
  GstAudioInfo info;

  s->rng = s->seed ? s->seed : 1;
  /* written once: every page resident from the start, whatever the caps
   * (calloc would leave fresh mmap pages untouched) */
  s->pool = g_malloc (POOL_BYTES);
  s->pristine = g_malloc (POOL_BYTES);
  memset (s->pool, 0x55, POOL_BYTES);
  memset (s->pristine, 0x55, POOL_BYTES);
  setup_models (s);
  soak_ref_init (&s->ref, MODEL_RATE, WINDOW);
  s->interval = GST_SECOND / 2;  /* set below: not the model's own */
  s->post = TRUE;
  s->e = gst_element_factory_make ("beenet", NULL);
  if (s->e == NULL)
    g_error ("no beenet element");
  /* no refined windows: which windows they add depends on what the network
   * hears, which the reference (soak-ref.h) does not model; the windower's
   * refining is tested on its own (tests/element/test-windower.c) */
  g_object_set (s->e, "model", s->models[0], "interval", s->interval,
      "refine-level", BEENET_REFINE_OFF, NULL);
  s->bus = gst_bus_new ();
  gst_element_set_bus (s->e, s->bus);
  s->h = gst_harness_new_with_element (s->e, "sink", "src");
  gst_audio_info_init (&s->info);
  caps = random_caps (s, &info);
  s->info = info;
  fill_pool (s);
  soak_ref_caps (&s->ref, &info);
  gst_harness_set_src_caps (s->h, caps);   /* stream-start, caps, segment */
  s->seg_start = 0;
  check_messages (s);

  s->mean_prop = MIN (20.0, s->seconds / 100);
  s->mean_caps = MIN (600.0, s->seconds / 20);
  s->mean_swap = MIN (1800.0, s->seconds / 10);
  s->mean_episode = MIN (3600.0, s->seconds / 5);
  s->next_prop = rnd_exp (s, s->mean_prop);
  s->next_caps = rnd_exp (s, s->mean_caps);
  s->next_swap = rnd_exp (s, s->mean_swap);
  s->next_episode = rnd_exp (s, s->mean_episode);
}

static void
teardown (Soak * s)
{
  gst_harness_teardown (s->h);
  gst_element_set_bus (s->e, NULL);
  gst_bus_set_flushing (s->bus, TRUE);
  gst_object_unref (s->bus);
  gst_object_unref (s->e);
  soak_ref_clear (&s->ref);
  for (guint i = 0; i < N_MODELS; i++) {
    if (i > 0 || s->model == NULL)
      g_unlink (s->models[i]);
    g_free (s->models[i]);
  }
  g_free (s->pool);
  g_free (s->pristine);
}

/* ------------------------------------------------------------------------ */
/* main loop                                                                */

static void
report (Soak * s, const gchar * what)
{
  guint64 rss = rss_kib ();

  g_print ("soak %s: audio %.0f s, wall %.1f s, buffers %" G_GUINT64_FORMAT
      ", windows %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " posted, all "
      "checked), model swaps %" G_GUINT64_FORMAT ", detections %"
      G_GUINT64_FORMAT ", caps pieces %" G_GUINT64_FORMAT ", episodes %"
      G_GUINT64_FORMAT ", property changes %" G_GUINT64_FORMAT
      ", RSS %" G_GUINT64_FORMAT " KiB, heap in use %" G_GUINT64_FORMAT
      " KiB\n", what, s->audio_s,
      (g_get_monotonic_time () - s->t_start) / 1e6, s->buffers,
      s->ref.windows, s->windows_seen, s->models_seen, s->detections,
      s->ref.pieces, s->episodes, s->prop_changes, rss, heap_kib ());
}

/* The baseline is the high-water mark of the warm-up: the states it went
 * through (largest caps, largest model, a model pending beside the running
 * one) are the ones that come back later. */
static void
sample_rss (Soak * s)
{
  guint64 rss, heap;

  if (s->trim)
    malloc_trim (0);
  rss = rss_kib ();
  heap = heap_kib ();

  if (!s->warm) {
    s->rss_warm = MAX (s->rss_warm, rss);
    s->heap_warm = MAX (s->heap_warm, heap);
    s->warm = s->audio_s >= s->warmup;
    s->rss_max = s->rss_warm;
    s->heap_max = s->heap_warm;
  } else {
    s->rss_max = MAX (s->rss_max, rss);
    s->heap_max = MAX (s->heap_max, heap);
  }
}

static void
run (Soak * s)
{
  gdouble next_rss = 0, next_report = s->seconds / 24;

  s->rss_first = rss_kib ();
  while (s->audio_s < s->seconds) {
    if (s->audio_s >= s->next_episode) {
      new_episode (s);
      s->next_episode = s->audio_s + rnd_exp (s, s->mean_episode);
    }
    if (s->audio_s >= s->next_caps) {
      change_caps (s);
      s->next_caps = s->audio_s + rnd_exp (s, s->mean_caps);
    }
    if (s->audio_s >= s->next_swap) {
      swap_model (s);
      s->next_swap = s->audio_s + rnd_exp (s, s->mean_swap);
    }
    while (s->audio_s >= s->next_prop) {
      change_property (s);
      s->next_prop = s->audio_s + rnd_exp (s, s->mean_prop);
    }
    push_buffer (s);
    if (s->audio_s >= next_rss) {
      sample_rss (s);
      next_rss = s->audio_s + 10.0;
    }
    if (s->audio_s >= next_report) {
      report (s, "progress");
      next_report += s->seconds / 24;
    }
  }
  push_event (s, gst_event_new_eos ());
  soak_ref_eos (&s->ref, s->interval);
  check_messages (s);
  sample_rss (s);
}

int
main (int argc, char **argv)
{
  Soak s = { 0 };
  gchar *model = NULL;
  gdouble warmup = -1;
  gint64 max_growth = 1024, seed = 1;
  gboolean trim = FALSE;
  GOptionEntry entries[] = {
    {"seconds", 0, 0, G_OPTION_ARG_DOUBLE, &s.seconds,
        "Seconds of audio to push (default 86400)", "S"},
    {"seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 1)", "N"},
    {"model", 0, 0, G_OPTION_ARG_FILENAME, &model,
        "The main model (e.g. models/kws12.gguf; default: a random "
          "network of the same size)", "PATH"},
    {"warmup", 0, 0, G_OPTION_ARG_DOUBLE, &warmup,
        "Seconds of audio before the RSS baseline (default min(3600, "
          "seconds/5))", "S"},
    {"trim", 0, 0, G_OPTION_ARG_NONE, &trim,
        "Return the allocator's free pages to the system (malloc_trim) "
          "before each RSS sample, so RSS counts what the program holds",
        NULL},
    {"max-growth-kib", 0, 0, G_OPTION_ARG_INT64, &max_growth,
        "Allowed RSS growth after the warm-up (default 1024; 0: not "
          "checked, e.g. under ASan or valgrind, whose own memory counts)",
        "KIB"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- soak test of beenet");
  GError *err = NULL;
  gint ret = 0;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  s.seconds = s.seconds > 0 ? s.seconds : 86400;
  s.warmup = warmup >= 0 ? warmup : MIN (3600, s.seconds / 5);
  s.seed = (guint32) seed;
  s.model = model;
  s.max_growth_kib = (guint64) max_growth;
  s.trim = trim;

  /* no system plugins: only the statically registered element is used */
  g_setenv ("GST_PLUGIN_SYSTEM_PATH_1_0", "", TRUE);
  g_setenv ("GST_PLUGIN_PATH_1_0", "", TRUE);
  g_setenv ("GST_REGISTRY_DISABLE", "yes", TRUE);
  gst_init (NULL, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  if (!GST_ELEMENT_REGISTER (beenet, NULL))
    g_error ("cannot register beenet");

  s.t_start = g_get_monotonic_time ();
  setup (&s);
  run (&s);
  report (&s, "done");
  g_print ("soak RSS: %" G_GUINT64_FORMAT " KiB at start, %" G_GUINT64_FORMAT
      " KiB at most during the warm-up (%.0f s of audio), max %" G_GUINT64_FORMAT
      " KiB after it: growth %" G_GINT64_FORMAT " KiB (limit %"
      G_GUINT64_FORMAT ")\n", s.rss_first, s.rss_warm, s.warmup, s.rss_max,
      (gint64) s.rss_max - (gint64) s.rss_warm, s.max_growth_kib);
  g_print ("soak heap in use: %" G_GUINT64_FORMAT " KiB at most during the "
      "warm-up, "
      "max %" G_GUINT64_FORMAT " KiB after it: growth %" G_GINT64_FORMAT
      " KiB\n", s.heap_warm, s.heap_max,
      (gint64) s.heap_max - (gint64) s.heap_warm);
  if (s.max_growth_kib > 0 && s.rss_max > s.rss_warm + s.max_growth_kib) {
    g_printerr ("soak: RSS grew by more than %" G_GUINT64_FORMAT " KiB\n",
        s.max_growth_kib);
    ret = 1;
  }
  if (s.windows_seen != s.ref.posted)
    g_error ("counts differ: %" G_GUINT64_FORMAT " windows posted, %"
        G_GUINT64_FORMAT " expected", s.windows_seen, s.ref.posted);
  teardown (&s);
  g_free (model);
  gst_deinit ();
  return ret;
}
