/* The WAV reader of beenet-classify, on a memory buffer (so
 * tests/fuzz/fuzz-wav.c can call it on fuzzer input).
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#ifndef BEENET_WAV_H
#define BEENET_WAV_H

#include <glib.h>

typedef struct {
  guint16 format;               /* 1 = PCM, 3 = IEEE float */
  guint16 channels;
  guint32 rate;
  guint16 block_align;
  guint16 bits;
  const guint8 *data;           /* points into the parsed buffer */
  gsize frames;
  gboolean clamped;             /* the data chunk claimed more bytes than
                                   the buffer holds: frames counts those
                                   present */
  guint64 claimed_bytes;        /* size field of the data chunk */
  gsize present_bytes;          /* bytes after the data chunk header */
} BeenetWavInfo;

/* Parses a RIFF/WAVE file held in memory.  Every read is bounds-checked.
 * Accepts 16-bit PCM and 32-bit IEEE float (also as WAVE_FORMAT_EXTENSIBLE)
 * at 16000 Hz, any channel count.  On failure returns FALSE and sets *why
 * to a g_malloc'd reason. */
gboolean beenet_wav_parse (const guint8 * buf, gsize len, BeenetWavInfo * info,
    gchar ** why);

/* The samples of a parsed file as mono float (channels averaged); g_free()
 * the result (never NULL, at least one element allocated). */
gfloat *beenet_wav_to_mono (const BeenetWavInfo * info);

#endif /* BEENET_WAV_H */
