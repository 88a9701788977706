/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#ifdef HAVE_CONFIG_H
#include "gst-beenet-config.h"
#endif

#include <string.h>

#include "beenet-input.h"

GST_DEBUG_CATEGORY_EXTERN (beenet_debug);
#define GST_CAT_DEFAULT beenet_debug

/* Input frames converted per step; bounds the scratch buffers. */
#define CHUNK_FRAMES 4096

void
gst_beenet_input_init (GstBeenetInput * in)
{
  memset (in, 0, sizeof (*in));
  gst_audio_info_init (&in->info);
}

static void
free_converter (GstBeenetInput * in)
{
  g_clear_pointer (&in->conv, gst_audio_converter_free);
  in->passthrough = FALSE;
}

void
gst_beenet_input_clear (GstBeenetInput * in)
{
  free_converter (in);
  g_free (in->out);
  g_free (in->planes);
  g_free (in->silence);
  gst_beenet_input_init (in);
}

/* Sizes the input chunk so that its output holds at most about
 * CHUNK_FRAMES samples (upsampling from a low rate), and the output scratch
 * for one chunk (grown later if ever needed). */
static void
size_out (GstBeenetInput * in)
{
  gsize need;

  if (in->info.rate <= 0 || in->out_rate <= 0)
    return;
  in->chunk = (gsize) CLAMP (gst_util_uint64_scale_int (CHUNK_FRAMES,
          in->info.rate, in->out_rate), 1, CHUNK_FRAMES);
  need = gst_util_uint64_scale_int_ceil (in->chunk, in->out_rate,
      in->info.rate) + 64;
  if (need > in->out_frames) {
    g_free (in->out);
    in->out = g_new (gfloat, need);
    in->out_frames = need;
  }
}

gboolean
gst_beenet_input_set_format (GstBeenetInput * in, const GstAudioInfo * info)
{
  guint channels = GST_AUDIO_INFO_CHANNELS (info);

  if (channels < 1 || GST_AUDIO_INFO_RATE (info) < 1 ||
      GST_AUDIO_INFO_BPF (info) < 1)
    return FALSE;
  free_converter (in);
  in->info = *info;
  g_free (in->planes);
  in->planes = g_new0 (gpointer, channels);
  g_free (in->silence);
  in->silence = g_malloc0 ((gsize) CHUNK_FRAMES * GST_AUDIO_INFO_BPF (info));
  size_out (in);
  in->in_total = in->out_total = 0;
  return TRUE;
}

void
gst_beenet_input_set_out_rate (GstBeenetInput * in, gint out_rate)
{
  if (out_rate == in->out_rate)
    return;
  free_converter (in);
  in->out_rate = out_rate;
  size_out (in);
  in->in_total = in->out_total = 0;
}

gboolean
gst_beenet_input_is_ready (const GstBeenetInput * in)
{
  return in->info.rate > 0 && in->out_rate > 0;
}

/* The element averages every channel (as it did before resampling was
 * added), whatever their positions: a 1 x channels matrix of 1/channels. */
static void
set_mix_matrix (GstStructure * config, guint channels)
{
  GValue matrix = G_VALUE_INIT, row = G_VALUE_INIT, v = G_VALUE_INIT;
  guint c;

  g_value_init (&matrix, GST_TYPE_ARRAY);
  g_value_init (&row, GST_TYPE_ARRAY);
  g_value_init (&v, G_TYPE_FLOAT);
  g_value_set_float (&v, 1.0f / (gfloat) channels);
  for (c = 0; c < channels; c++)
    gst_value_array_append_value (&row, &v);
  gst_value_array_append_and_take_value (&matrix, &row);
  gst_structure_take_value (config, GST_AUDIO_CONVERTER_OPT_MIX_MATRIX,
      &matrix);
  g_value_unset (&v);
}

static gboolean
ensure_converter (GstBeenetInput * in)
{
  GstAudioInfo out_info;
  GstStructure *config;
  guint channels = GST_AUDIO_INFO_CHANNELS (&in->info);

  if (in->conv != NULL || in->passthrough)
    return TRUE;
  if (!gst_beenet_input_is_ready (in))
    return FALSE;
  if (in->chunk == 0)
    size_out (in);

  if (GST_AUDIO_INFO_FORMAT (&in->info) == GST_AUDIO_FORMAT_F32 &&
      channels == 1 && GST_AUDIO_INFO_RATE (&in->info) == in->out_rate) {
    GST_DEBUG ("mono F32 at %d Hz: no conversion", in->out_rate);
    in->passthrough = TRUE;
    return TRUE;
  }

  gst_audio_info_set_format (&out_info, GST_AUDIO_FORMAT_F32, in->out_rate,
      1, NULL);
  /* Kaiser, default quality (4): audioresample's defaults */
  config = gst_structure_new ("beenet-input",
      GST_AUDIO_CONVERTER_OPT_RESAMPLER_METHOD,
      GST_TYPE_AUDIO_RESAMPLER_METHOD, GST_AUDIO_RESAMPLER_METHOD_KAISER,
      GST_AUDIO_CONVERTER_OPT_DITHER_METHOD, GST_TYPE_AUDIO_DITHER_METHOD,
      GST_AUDIO_DITHER_NONE, NULL);
  if (channels > 1)
    set_mix_matrix (config, channels);
  in->conv = gst_audio_converter_new (GST_AUDIO_CONVERTER_FLAG_NONE,
      &in->info, &out_info, config);
  if (in->conv == NULL)
    return FALSE;
  GST_DEBUG ("converter %s %d Hz %u ch -> F32 mono %d Hz, latency %"
      G_GSIZE_FORMAT " frames", GST_AUDIO_INFO_NAME (&in->info),
      GST_AUDIO_INFO_RATE (&in->info), channels, in->out_rate,
      gst_audio_converter_get_max_latency (in->conv));
  return TRUE;
}

void
gst_beenet_input_reset (GstBeenetInput * in)
{
  if (in->conv)
    gst_audio_converter_reset (in->conv);
  in->in_total = in->out_total = 0;
}

/* Hands over at most the samples that lie within the input received so far
 * (only the drain can produce more). */
static gboolean
deliver (GstBeenetInput * in, const gfloat * mono, gsize n,
    GstBeenetInputFunc func, gpointer user_data)
{
  guint64 limit = gst_util_uint64_scale_int_ceil (in->in_total, in->out_rate,
      GST_AUDIO_INFO_RATE (&in->info));

  if (in->out_total + n > limit)
    n = limit > in->out_total ? (gsize) (limit - in->out_total) : 0;
  in->out_total += n;
  return n > 0 ? func (mono, n, user_data) : FALSE;
}

/* Converts n frames at in->planes; counted as input unless draining.
 * Returns FALSE on a converter error, *stop = the callback's answer. */
static gboolean
convert_chunk (GstBeenetInput * in, gsize n, gboolean count,
    GstBeenetInputFunc func, gpointer user_data, gboolean * stop)
{
  gsize out_n;

  if (count)
    in->in_total += n;
  if (in->passthrough) {
    *stop = deliver (in, in->planes[0], n, func, user_data);
    return TRUE;
  }
  out_n = gst_audio_converter_get_out_frames (in->conv, n);
  if (out_n > in->out_frames) {
    GST_DEBUG ("growing the output scratch to %" G_GSIZE_FORMAT, out_n);
    g_free (in->out);
    in->out = g_new (gfloat, out_n);
    in->out_frames = out_n;
  }
  if (!gst_audio_converter_samples (in->conv, GST_AUDIO_CONVERTER_FLAG_NONE,
          in->planes, n, (gpointer *) & in->out, out_n))
    return FALSE;
  *stop = deliver (in, in->out, out_n, func, user_data);
  return TRUE;
}

static void
set_planes (GstBeenetInput * in, const GstAudioBuffer * abuf, gsize done)
{
  guint c, n_planes = GST_AUDIO_INFO_LAYOUT (&in->info) ==
      GST_AUDIO_LAYOUT_INTERLEAVED ? 1 : GST_AUDIO_INFO_CHANNELS (&in->info);
  gsize stride = n_planes == 1 ? (gsize) GST_AUDIO_INFO_BPF (&in->info) :
      (gsize) GST_AUDIO_INFO_BPS (&in->info);

  for (c = 0; c < n_planes; c++)
    in->planes[c] = abuf ? (guint8 *) abuf->planes[c] + done * stride :
        (gpointer) in->silence;
}

gboolean
gst_beenet_input_process (GstBeenetInput * in, GstBuffer * buf,
    gboolean gap, GstBeenetInputFunc func, gpointer user_data,
    const gchar ** msg)
{
  GstAudioBuffer abuf;
  gsize done, frames;
  gboolean stop = FALSE, ok = TRUE;

  if (!ensure_converter (in)) {
    *msg = "could not create the audio converter";
    return FALSE;
  }
  if (GST_AUDIO_INFO_LAYOUT (&in->info) == GST_AUDIO_LAYOUT_INTERLEAVED &&
      gst_buffer_get_size (buf) % GST_AUDIO_INFO_BPF (&in->info) != 0) {
    *msg = "the buffer size is not a multiple of the frame size";
    return FALSE;
  }
  if (!gst_audio_buffer_map (&abuf, &in->info, buf, GST_MAP_READ)) {
    *msg = "could not map the input buffer";
    return FALSE;
  }

  frames = abuf.n_samples;
  for (done = 0; ok && !stop && done < frames;) {
    gsize n = MIN (frames - done, in->chunk);

    set_planes (in, gap ? NULL : &abuf, done);
    ok = convert_chunk (in, n, TRUE, func, user_data, &stop);
    done += n;
  }
  gst_audio_buffer_unmap (&abuf);
  if (!ok)
    *msg = "the audio converter failed";
  return ok;
}

void
gst_beenet_input_drain (GstBeenetInput * in, GstBeenetInputFunc func,
    gpointer user_data)
{
  gsize left;
  gboolean stop = FALSE;

  if (in->conv == NULL || in->in_total == 0) {
    gst_beenet_input_reset (in);
    return;
  }
  /* the delay, plus one output period for the rounding of the last
   * output's position (deliver() drops what lies past the input) */
  left = gst_audio_converter_get_max_latency (in->conv) +
      gst_util_uint64_scale_int_ceil (1, GST_AUDIO_INFO_RATE (&in->info),
      in->out_rate) + 1;
  GST_DEBUG ("draining %" G_GSIZE_FORMAT " frames of resampler delay", left);
  while (left > 0 && !stop) {
    gsize n = MIN (left, in->chunk);

    set_planes (in, NULL, 0);
    if (!convert_chunk (in, n, FALSE, func, user_data, &stop))
      break;
    left -= n;
  }
  gst_beenet_input_reset (in);
}
