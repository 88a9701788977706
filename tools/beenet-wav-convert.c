/* gst-beenet: beenet-classify's sample conversion (beenet-wav.h): any
 * rate, sample format and channel count to mono float at the model's rate,
 * through the element's own input path (elements/beenet-input.c, i.e.
 * GStreamer's GstAudioConverter with its Kaiser GstAudioResampler), so the
 * tool and the element see the same samples.
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#include <gst/gst.h>
#include <gst/audio/audio.h>

#include "beenet-input.h"
#include "beenet-wav.h"

/* beenet-input.c logs to the element's category; here it is the tool's. */
GST_DEBUG_CATEGORY (beenet_debug);

static gpointer
init_gstreamer (gpointer unused)
{
  (void) unused;
  /* the conversion needs no plugin: do not load or scan the registry */
  g_setenv ("GST_REGISTRY_DISABLE", "yes", TRUE);
  gst_init (NULL, NULL);
  GST_DEBUG_CATEGORY_INIT (beenet_debug, "beenet-classify", 0,
      "beenet-classify sample conversion");
  return NULL;
}

/* GstBeenetInputFunc: collects the converted samples. */
static gboolean
append_samples (const gfloat * mono, gsize n, gpointer user_data)
{
  g_array_append_vals ((GArray *) user_data, mono, (guint) n);
  return FALSE;
}

gfloat *
beenet_wav_read_mono (const BeenetWavInfo * info, guint out_rate, gsize * n,
    gchar ** why)
{
  static GOnce once = G_ONCE_INIT;
  GstBeenetInput in;
  GstAudioInfo ainfo;
  GstBuffer *buf;
  GArray *out;
  const gchar *msg = NULL;
  gsize bytes = info->frames * info->block_align;
  gboolean ok;

  g_once (&once, init_gstreamer, NULL);
  gst_audio_info_set_format (&ainfo,
      gst_audio_format_from_string (info->sample_format), (gint) info->rate,
      info->channels, NULL);
  gst_beenet_input_init (&in);
  if (!gst_beenet_input_set_format (&in, &ainfo)) {
    *why = g_strdup_printf ("cannot convert %s, %u Hz, %u channels",
        info->sample_format, info->rate, info->channels);
    return NULL;
  }
  gst_beenet_input_set_out_rate (&in, (gint) out_rate);
  out = g_array_sized_new (FALSE, FALSE, sizeof (gfloat),
      (guint) MIN (gst_util_uint64_scale_int_ceil (info->frames, out_rate,
              info->rate) + 1, G_MAXUINT));
  /* a copy: the data chunk may be misaligned for its sample size; no
   * byte is read for an empty chunk (info->data may be the end of the
   * file: fuzz-wav found the 1-byte over-read this used to do) */
  buf = bytes ? gst_buffer_new_memdup (info->data, bytes) : gst_buffer_new ();
  ok = bytes == 0 || gst_beenet_input_process (&in, buf, FALSE,
      append_samples, out, &msg);
  if (ok)
    gst_beenet_input_drain (&in, append_samples, out);
  gst_buffer_unref (buf);
  gst_beenet_input_clear (&in);
  if (!ok) {
    *why = g_strdup_printf ("cannot convert the samples: %s", msg);
    g_array_free (out, TRUE);
    return NULL;
  }
  *n = out->len;
  return (gfloat *) g_array_free (out, FALSE);
}
