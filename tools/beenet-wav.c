/* gst-beenet: the WAV reader of beenet-classify (beenet-wav.h)
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#include <string.h>

#include "beenet.h"
#include "beenet-wav.h"

static guint16
rd16 (const guint8 * p)
{
  return (guint16) (p[0] | (p[1] << 8));
}

static guint32
rd32 (const guint8 * p)
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16) |
      ((guint32) p[3] << 24);
}

/* A data chunk that claims more bytes than the file holds (streamed WAVs)
 * is clamped to the bytes present. */
gboolean
beenet_wav_parse (const guint8 * buf, gsize len, BeenetWavInfo * info,
    gchar ** why)
{
  gsize off = 12;
  gboolean have_fmt = FALSE;

  memset (info, 0, sizeof (*info));
  if (len < 12 || memcmp (buf, "RIFF", 4) != 0 || memcmp (buf + 8, "WAVE",
          4) != 0) {
    *why = g_strdup ("not a RIFF/WAVE file");
    return FALSE;
  }

  while (off + 8 <= len) {
    const guint8 *id = buf + off;
    guint64 size = rd32 (buf + off + 4);
    gsize body = off + 8;
    gsize avail = len - body;

    if (memcmp (id, "fmt ", 4) == 0) {
      if (size < 16 || size > avail) {
        *why = g_strdup_printf ("malformed fmt chunk (%" G_GUINT64_FORMAT
            " bytes)", size);
        return FALSE;
      }
      info->format = rd16 (buf + body);
      info->channels = rd16 (buf + body + 2);
      info->rate = rd32 (buf + body + 4);
      info->block_align = rd16 (buf + body + 12);
      info->bits = rd16 (buf + body + 14);
      if (info->format == 0xFFFE) {
        /* WAVE_FORMAT_EXTENSIBLE: cbSize(2) validbits(2) mask(4) GUID(16) */
        if (size < 40) {
          *why = g_strdup ("malformed WAVE_FORMAT_EXTENSIBLE fmt chunk");
          return FALSE;
        }
        info->format = rd16 (buf + body + 24);
      }
      have_fmt = TRUE;
    } else if (memcmp (id, "data", 4) == 0) {
      if (!have_fmt) {
        *why = g_strdup ("data chunk before fmt chunk");
        return FALSE;
      }
      info->claimed_bytes = size;
      info->present_bytes = avail;
      if (size > avail) {
        info->clamped = TRUE;
        size = avail;
      }
      if (info->channels == 0) {
        *why = g_strdup ("zero channels");
        return FALSE;
      }
      if (!((info->format == 1 && info->bits == 16) ||
              (info->format == 3 && info->bits == 32))) {
        *why = g_strdup_printf ("unsupported sample format (format tag %u, "
            "%u bits): only 16-bit PCM and 32-bit float are supported; "
            "convert with e.g. `sox in.wav -r 16000 -b 16 out.wav`",
            info->format, info->bits);
        return FALSE;
      }
      if (info->block_align != info->channels * (info->bits / 8)) {
        *why = g_strdup_printf ("inconsistent block alignment %u for %u "
            "channels of %u bits", info->block_align, info->channels,
            info->bits);
        return FALSE;
      }
      if (info->rate != 16000) {
        *why = g_strdup_printf ("sample rate %u Hz is not supported: beenet "
            "needs 16000 Hz (resample with e.g. `sox in.wav -r 16000 "
            "out.wav`)", info->rate);
        return FALSE;
      }
      info->data = buf + body;
      info->frames = (gsize) size / info->block_align;
      return TRUE;
    }
    /* chunks are padded to an even size */
    if (size + (size & 1) > avail)
      break;
    off = body + (gsize) (size + (size & 1));
  }

  *why = g_strdup (have_fmt ? "no data chunk" : "no fmt chunk");
  return FALSE;
}

gfloat *
beenet_wav_to_mono (const BeenetWavInfo * info)
{
  gsize n = info->frames * info->channels;
  gfloat *inter = g_new (gfloat, MAX (n, 1));
  gfloat *mono;
  gsize i;

  if (info->format == 1) {
    gint16 *s16 = g_new (gint16, MAX (n, 1));
    for (i = 0; i < n; i++)
      s16[i] = (gint16) rd16 (info->data + 2 * i);
    beenet_convert_s16 (s16, inter, n);
    g_free (s16);
  } else {
    for (i = 0; i < n; i++) {
      guint32 bits = rd32 (info->data + 4 * i);
      memcpy (&inter[i], &bits, sizeof (gfloat));
    }
  }
  if (info->channels == 1)
    return inter;
  mono = g_new (gfloat, MAX (info->frames, 1));
  beenet_mixdown_f32 (inter, mono, info->frames, info->channels);
  g_free (inter);
  return mono;
}
