/* The soak test's reference model of the element's windowing; see
 * soak-ref.h for the rules it follows.
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#include <string.h>

#include "soak-ref.h"

/* The element converts at most this many output frames per step
 * (docs/element.md, "Conversion for the classifier"). */
#define CHUNK_FRAMES 4096

void
soak_ref_init (SoakRef * r, guint model_rate, guint64 window)
{
  memset (r, 0, sizeof (*r));
  r->model_rate = model_rate;
  r->window = window;
  r->post = TRUE;
  r->need_base = TRUE;
  r->interval = 1;
  gst_audio_info_init (&r->info);
  g_queue_init (&r->expected);
}

static void
free_piece (SoakRef * r)
{
  g_clear_pointer (&r->conv, gst_audio_converter_free);
  g_clear_pointer (&r->silence, g_free);
  g_clear_pointer (&r->out, g_free);
  r->out_frames = 0;
  g_clear_pointer (&r->planes, g_free);
  r->in_total = r->out_total = 0;
}

void
soak_ref_clear (SoakRef * r)
{
  free_piece (r);
  g_queue_clear_full (&r->expected, g_free);
}

static void
expect (SoakRef * r, SoakMsgKind kind, guint64 first, guint64 real)
{
  SoakExpected *e = g_new0 (SoakExpected, 1);
  guint64 a = r->origin + first;

  e->kind = kind;
  e->timestamp = r->base_ts + gst_util_uint64_scale_int (a, GST_SECOND,
      r->model_rate);
  e->duration = gst_util_uint64_scale_int (a + real, GST_SECOND,
      r->model_rate) - gst_util_uint64_scale_int (a, GST_SECOND,
      r->model_rate);
  g_queue_push_tail (&r->expected, e);
}

/* A window [start, start + window) of which `real` samples are audio. */
static void
window_done (SoakRef * r, guint64 start, guint64 real)
{
  if (r->announce) {
    r->announce = FALSE;
    expect (r, SOAK_MSG_MODEL, start, real);
  }
  r->windows++;
  if (r->post) {
    r->posted++;
    expect (r, SOAK_MSG_WINDOW, start, real);
  }
  r->next_start += r->interval;
  if (r->pending_model && !r->finishing) {
    /* the next window starts where this one ended */
    r->origin += start + r->window;
    r->pos = r->next_start = 0;
    r->pending_model = FALSE;
    r->announce = TRUE;
    r->swaps++;
  }
}

/* n more model-rate samples reach the windower */
static void
advance (SoakRef * r, guint64 n)
{
  while (n > 0) {
    guint64 end = r->next_start + r->window;
    guint64 take = MIN (end - r->pos, n);

    r->pos += take;
    n -= take;
    if (r->pos == end)
      window_done (r, r->next_start, r->window);
  }
}

static guint64
limit (SoakRef * r)
{
  return gst_util_uint64_scale_int_ceil (r->in_total, r->model_rate,
      GST_AUDIO_INFO_RATE (&r->info));
}

/* The samples produced for n more input frames: the same converter as the
 * element's, fed with silence, only for the count. */
static guint64
convert (SoakRef * r, guint64 n)
{
  guint64 produced = 0;

  while (n > 0) {
    gsize step = (gsize) MIN (n, (guint64) r->chunk);
    gsize out_n = gst_audio_converter_get_out_frames (r->conv, step);
    guint c;

    if (out_n > r->out_frames) {
      g_free (r->out);
      r->out = g_new (gfloat, out_n);
      r->out_frames = out_n;
    }
    for (c = 0; c < (guint) GST_AUDIO_INFO_CHANNELS (&r->info); c++)
      r->planes[c] = r->silence;
    if (!gst_audio_converter_samples (r->conv, GST_AUDIO_CONVERTER_FLAG_NONE,
            r->planes, step, (gpointer *) & r->out, out_n))
      g_error ("reference converter failed");
    produced += out_n;
    n -= step;
  }
  return produced;
}

static void
deliver (SoakRef * r, guint64 produced)
{
  guint64 lim = limit (r);
  guint64 n = produced;

  if (r->out_total + n > lim)
    n = lim > r->out_total ? lim - r->out_total : 0;
  r->out_total += n;
  advance (r, n);
}

/* New caps (or EOS): the converter's delay is flushed, the piece ends with
 * exactly ceil(in * model_rate / in_rate) samples. */
static void
drain (SoakRef * r)
{
  if (!r->need_base && r->in_total > 0)
    deliver (r, limit (r) - MIN (limit (r), r->out_total));
  if (r->conv)
    gst_audio_converter_reset (r->conv);
  r->in_total = r->out_total = 0;
}

static GstAudioConverter *
new_converter (const GstAudioInfo * in, guint out_rate)
{
  GstAudioInfo out;
  GstStructure *config;
  guint ch = GST_AUDIO_INFO_CHANNELS (in);

  gst_audio_info_set_format (&out, GST_AUDIO_FORMAT_F32, out_rate, 1, NULL);
  config = gst_structure_new ("soak-ref",
      GST_AUDIO_CONVERTER_OPT_RESAMPLER_METHOD,
      GST_TYPE_AUDIO_RESAMPLER_METHOD, GST_AUDIO_RESAMPLER_METHOD_KAISER,
      GST_AUDIO_CONVERTER_OPT_DITHER_METHOD, GST_TYPE_AUDIO_DITHER_METHOD,
      GST_AUDIO_DITHER_NONE, NULL);
  if (ch > 1) {
    GValue matrix = G_VALUE_INIT, row = G_VALUE_INIT, v = G_VALUE_INIT;

    g_value_init (&matrix, GST_TYPE_ARRAY);
    g_value_init (&row, GST_TYPE_ARRAY);
    g_value_init (&v, G_TYPE_FLOAT);
    g_value_set_float (&v, 1.0f / (gfloat) ch);
    for (guint c = 0; c < ch; c++)
      gst_value_array_append_value (&row, &v);
    gst_value_array_append_and_take_value (&matrix, &row);
    gst_structure_take_value (config, GST_AUDIO_CONVERTER_OPT_MIX_MATRIX,
        &matrix);
    g_value_unset (&v);
  }
  return gst_audio_converter_new (GST_AUDIO_CONVERTER_FLAG_NONE,
      (GstAudioInfo *) in, &out, config);
}

void
soak_ref_caps (SoakRef * r, const GstAudioInfo * info)
{
  gint rate = GST_AUDIO_INFO_RATE (info);

  if (GST_AUDIO_INFO_RATE (&r->info) > 0)
    drain (r);
  free_piece (r);
  r->info = *info;
  r->pieces++;
  r->chunk = (gsize) CLAMP (gst_util_uint64_scale_int (CHUNK_FRAMES, rate,
          r->model_rate), 1, CHUNK_FRAMES);
  if (GST_AUDIO_INFO_FORMAT (info) == GST_AUDIO_FORMAT_F32 &&
      GST_AUDIO_INFO_CHANNELS (info) == 1 && rate == (gint) r->model_rate)
    return;
  r->conv = new_converter (info, r->model_rate);
  if (r->conv == NULL)
    g_error ("reference converter: caps not convertible");
  r->silence = g_malloc0 (r->chunk * GST_AUDIO_INFO_BPF (info));
  /* never NULL: the resampler may write even when it reports 0 frames */
  r->out_frames = gst_util_uint64_scale_int_ceil (r->chunk, r->model_rate,
      rate) + 64;
  r->out = g_new (gfloat, r->out_frames);
  r->planes = g_new0 (gpointer, GST_AUDIO_INFO_CHANNELS (info));
}

void
soak_ref_reset (SoakRef * r)
{
  if (r->conv)
    gst_audio_converter_reset (r->conv);
  r->in_total = r->out_total = 0;
  r->origin = r->pos = r->next_start = 0;
  r->need_base = TRUE;
  r->announce = FALSE;
}

void
soak_ref_buffer (SoakRef * r, guint64 frames, guint64 interval_ns,
    gboolean discont, GstClockTime pts, GstClockTime seg_start)
{
  if (discont && !r->need_base)
    soak_ref_reset (r);
  if (r->need_base) {
    if (r->pending_model) {
      r->pending_model = FALSE;
      r->announce = TRUE;
      r->swaps++;
    }
    r->base_ts = GST_CLOCK_TIME_IS_VALID (pts) ? pts : seg_start;
    r->need_base = FALSE;
  }
  r->interval = MAX (gst_util_uint64_scale_int (interval_ns, r->model_rate,
          GST_SECOND), 1);
  r->in_total += frames;
  deliver (r, r->conv ? convert (r, frames) : frames);
}

void
soak_ref_eos (SoakRef * r, guint64 interval_ns)
{
  guint64 real_end;

  r->interval = MAX (gst_util_uint64_scale_int (interval_ns, r->model_rate,
          GST_SECOND), 1);
  r->finishing = TRUE;
  drain (r);
  real_end = r->pos;
  if (!r->need_base && r->next_start == 0 && real_end > 0 &&
      10 * real_end >= r->window && 2 * real_end < r->window) {
    window_done (r, 0, real_end);
  } else if (!r->need_base) {
    while (real_end > r->next_start &&
        2 * (real_end - r->next_start) >= r->window)
      window_done (r, r->next_start, real_end - r->next_start);
  }
  r->finishing = FALSE;
  soak_ref_reset (r);
}

void
soak_ref_set_post (SoakRef * r, gboolean post)
{
  r->post = post;
}

void
soak_ref_set_model (SoakRef * r)
{
  r->pending_model = TRUE;
}

gboolean
soak_ref_pop (SoakRef * r, SoakExpected * e)
{
  SoakExpected *head = g_queue_pop_head (&r->expected);

  if (head == NULL)
    return FALSE;
  *e = *head;
  g_free (head);
  return TRUE;
}
