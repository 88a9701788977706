/* The WAV reader of beenet-classify, on a memory buffer (so
 * tests/fuzz/fuzz-wav.c can call it on fuzzer input).
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#ifndef BEENET_WAV_H
#define BEENET_WAV_H

#include <glib.h>

/* Sample rates and channel counts beenet_wav_parse accepts. */
#define BEENET_WAV_MIN_RATE 1000
#define BEENET_WAV_MAX_RATE 768000
#define BEENET_WAV_MAX_CHANNELS 64

typedef struct {
  guint16 format;               /* 1 = PCM, 3 = IEEE float */
  guint16 channels;
  guint32 rate;
  guint16 block_align;
  guint16 bits;
  const gchar *sample_format;   /* GStreamer's name of the sample format
                                   ("S16LE", "F32LE", ...) */
  const guint8 *data;           /* points into the parsed buffer */
  gsize frames;
  gboolean clamped;             /* the data chunk claimed more bytes than
                                   the buffer holds: frames counts those
                                   present */
  guint64 claimed_bytes;        /* size field of the data chunk */
  gsize present_bytes;          /* bytes after the data chunk header */
} BeenetWavInfo;

/* Parses a RIFF/WAVE file held in memory.  Every read is bounds-checked.
 * Accepts 8-bit unsigned, 16-, 24- and 32-bit PCM and 32- and 64-bit IEEE
 * float (also as WAVE_FORMAT_EXTENSIBLE) at any rate from
 * BEENET_WAV_MIN_RATE to BEENET_WAV_MAX_RATE with 1 to
 * BEENET_WAV_MAX_CHANNELS channels.  On failure returns FALSE and sets
 * *why to a g_malloc'd reason. */
gboolean beenet_wav_parse (const guint8 * buf, gsize len, BeenetWavInfo * info,
    gchar ** why);

/* The samples of a parsed file as mono float at out_rate (channels
 * averaged), converted by GStreamer's GstAudioConverter/GstAudioResampler
 * exactly as the beenet element converts its input (elements/beenet-input.c,
 * Kaiser resampler at audioresample's default quality; no conversion at
 * all for mono 32-bit float at out_rate).  Sets *n to the number of
 * samples (ceil (frames * out_rate / rate)); g_free() the result (never
 * NULL on success).  Returns NULL and sets *why (g_malloc'd) when the
 * converter cannot be set up.  Initialises GStreamer (without its plugin
 * registry) on the first call.  In beenet-wav-convert.c. */
gfloat *beenet_wav_read_mono (const BeenetWavInfo * info, guint out_rate,
    gsize * n, gchar ** why);

#endif /* BEENET_WAV_H */
