/* Real speech for the element tests (speech.h).
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/check/gstcheck.h>

#include "speech.h"

gfloat *
speech_read_wav (const gchar * path, gint * rate, gsize * n)
{
  gchar *data = NULL;
  gsize size = 0, off = 12;
  gfloat *out = NULL;
  guint channels = 0, bits = 0;

  if (!g_file_get_contents (path, &data, &size, NULL) || size < 12 ||
      memcmp (data, "RIFF", 4) != 0) {
    g_free (data);
    return NULL;
  }
  while (off + 8 <= size && out == NULL) {
    guint32 len = GST_READ_UINT32_LE (data + off + 4);
    const guint8 *body = (const guint8 *) data + off + 8;

    if (memcmp (data + off, "fmt ", 4) == 0 && len >= 16) {
      channels = GST_READ_UINT16_LE (body + 2);
      *rate = (gint) GST_READ_UINT32_LE (body + 4);
      bits = GST_READ_UINT16_LE (body + 14);
    } else if (memcmp (data + off, "data", 4) == 0 && channels == 1 &&
        bits == 16) {
      gsize i;

      /* espeak-ng streams to a pipe-friendly header: trust the file size */
      len = (guint32) MIN ((gsize) len, size - off - 8);
      *n = len / 2;
      out = g_new (gfloat, *n);
      for (i = 0; i < *n; i++)
        out[i] = (gint16) GST_READ_UINT16_LE (body + 2 * i) / 32768.0f;
    }
    off += 8 + len + (len & 1);
  }
  g_free (data);
  return out;
}

gfloat *
speech_resample (const gfloat * in, gsize n, gint in_rate, gint out_rate,
    gsize * out_n)
{
  GstAudioInfo ii, oi;
  GstAudioConverter *conv;
  gsize lat, want, got = 0, cap;
  gfloat *padded, *out;
  gpointer ip, op;

  gst_audio_info_set_format (&ii, GST_AUDIO_FORMAT_F32, in_rate, 1, NULL);
  gst_audio_info_set_format (&oi, GST_AUDIO_FORMAT_F32, out_rate, 1, NULL);
  conv = gst_audio_converter_new (GST_AUDIO_CONVERTER_FLAG_NONE, &ii, &oi,
      gst_structure_new ("c", GST_AUDIO_CONVERTER_OPT_RESAMPLER_METHOD,
          GST_TYPE_AUDIO_RESAMPLER_METHOD, GST_AUDIO_RESAMPLER_METHOD_KAISER,
          NULL));
  fail_unless (conv != NULL);
  lat = gst_audio_converter_get_max_latency (conv) + 8;
  padded = g_new0 (gfloat, n + lat);
  memcpy (padded, in, n * sizeof (gfloat));
  cap = gst_audio_converter_get_out_frames (conv, n + lat);
  out = g_new0 (gfloat, cap);
  ip = padded;
  op = out;
  got = gst_audio_converter_get_out_frames (conv, n + lat);
  fail_unless (gst_audio_converter_samples (conv, 0, &ip, n + lat, &op, got));
  want = gst_util_uint64_scale_int_ceil (n, out_rate, in_rate);
  *out_n = MIN (want, got);
  gst_audio_converter_free (conv);
  g_free (padded);
  return out;
}

gfloat *
speech_espeak_16k (const gchar * voice, const gchar * text, gsize * n, ...)
{
  gchar *espeak = g_find_program_in_path ("espeak-ng");
  GPtrArray *argv;
  gchar *wav;
  gfloat *speech, *out;
  gsize n_speech = 0;
  gint rate = 0, status = 0;
  GError *err = NULL;
  const gchar *arg;
  va_list ap;

  if (espeak == NULL)
    return NULL;
  wav = g_build_filename (g_get_tmp_dir (), "beenet-speech-XXXXXX.wav", NULL);
  close (g_mkstemp (wav));
  argv = g_ptr_array_new ();
  g_ptr_array_add (argv, espeak);
  g_ptr_array_add (argv, (gpointer) "-w");
  g_ptr_array_add (argv, wav);
  if (voice) {
    g_ptr_array_add (argv, (gpointer) "-v");
    g_ptr_array_add (argv, (gpointer) voice);
  }
  va_start (ap, n);
  while ((arg = va_arg (ap, const gchar *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (argv, (gpointer) text);
  g_ptr_array_add (argv, NULL);
  fail_unless (g_spawn_sync (NULL, (gchar **) argv->pdata, NULL,
          G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
          NULL, NULL, &status, &err), "espeak-ng: %s",
      err ? err->message : "?");
  fail_unless (g_spawn_check_wait_status (status, NULL),
      "espeak-ng -v %s failed", voice ? voice : "(default)");
  speech = speech_read_wav (wav, &rate, &n_speech);
  fail_unless (speech != NULL && n_speech > 0, "espeak-ng wrote no usable "
      "WAV for \"%s\"", text);
  out = speech_resample (speech, n_speech, rate, 16000, n);
  g_free (speech);
  g_unlink (wav);
  g_free (wav);
  g_ptr_array_free (argv, TRUE);
  g_free (espeak);
  return out;
}
