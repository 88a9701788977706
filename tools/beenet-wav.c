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

/* The sample formats read, as GStreamer names them. */
static const struct
{
  guint16 tag;                  /* 1 = PCM, 3 = IEEE float */
  guint16 bits;
  const gchar *gst_name;
} wav_formats[] = {
  {1, 8, "U8"}, {1, 16, "S16LE"}, {1, 24, "S24LE"}, {1, 32, "S32LE"},
  {3, 32, "F32LE"}, {3, 64, "F64LE"},
};

/* Sample format, channels, alignment and rate of a fmt chunk; FALSE with
 * *why set when they cannot be read. */
static gboolean
check_format (BeenetWavInfo * info, gchar ** why)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (wav_formats); i++)
    if (wav_formats[i].tag == info->format && wav_formats[i].bits == info->bits)
      info->sample_format = wav_formats[i].gst_name;
  if (info->sample_format == NULL) {
    *why = g_strdup_printf ("unsupported sample format (format tag %u, "
        "%u bits): 8/16/24/32-bit PCM and 32/64-bit float are supported; "
        "convert with e.g. `sox in.wav -b 16 out.wav`", info->format,
        info->bits);
    return FALSE;
  }
  if (info->channels == 0 || info->channels > BEENET_WAV_MAX_CHANNELS) {
    *why = g_strdup_printf ("%u channels: 1 to %u are supported",
        info->channels, BEENET_WAV_MAX_CHANNELS);
    return FALSE;
  }
  if (info->block_align != info->channels * (info->bits / 8)) {
    *why = g_strdup_printf ("inconsistent block alignment %u for %u "
        "channels of %u bits", info->block_align, info->channels, info->bits);
    return FALSE;
  }
  if (info->rate < BEENET_WAV_MIN_RATE || info->rate > BEENET_WAV_MAX_RATE) {
    *why = g_strdup_printf ("sample rate %u Hz is out of range (%u to %u Hz)",
        info->rate, BEENET_WAV_MIN_RATE, BEENET_WAV_MAX_RATE);
    return FALSE;
  }
  return TRUE;
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
      if (!check_format (info, why))
        return FALSE;
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
