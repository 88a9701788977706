/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
/* GstBeenetInput: turns the element's input buffers (any rate, S16/S32/
 * F32/F64, interleaved or not, any channel count) into the mono F32 samples
 * at the model's rate that the windower takes, with GStreamer's own
 * GstAudioConverter (channel mix, format conversion and Kaiser resampling
 * in one object).  The input buffers are only read.
 *
 * Timing: the converter's resampler starts with half its filter of zero
 * history, so mono output sample j is centred on input time j / model_rate
 * (counted from the first input frame since the last reset): the samples
 * keep the input's timeline exactly, they merely come out max-latency input
 * frames late.  gst_beenet_input_drain() pushes that many frames of silence
 * at the end of the stream so the last input frames reach the windower too,
 * and hands over no more than ceil(input frames * model_rate / input rate)
 * samples in total (those lying within the input).
 *
 * Set up at set_caps (set_format) and whenever the model's rate changes
 * (set_out_rate); the converter itself is built lazily by the next
 * process() call.  Scratch buffers are sized at set_format and only grow. */
#ifndef __GST_BEENET_INPUT_H__
#define __GST_BEENET_INPUT_H__

#include <gst/gst.h>
#include <gst/audio/audio.h>

G_BEGIN_DECLS

/* Called with consecutive mono samples at the model's rate; return TRUE to
 * stop processing the current buffer. */
typedef gboolean (*GstBeenetInputFunc) (const gfloat * mono, gsize n,
    gpointer user_data);

typedef struct
{
  GstAudioInfo info;            /* input format; rate 0 = not negotiated */
  gint out_rate;                /* the model's rate; 0 = unknown */
  GstAudioConverter *conv;      /* NULL = build at the next process() */
  gboolean passthrough;         /* F32 mono at out_rate: no conversion */
  gsize chunk;                  /* input frames converted per step */
  gfloat *out;                  /* converted samples of one chunk */
  gsize out_frames;             /* capacity of out */
  gpointer *planes;             /* per-chunk input plane pointers */
  guint8 *silence;              /* CHUNK frames of zeros (gaps, drain) */
  guint64 in_total;             /* input frames since the last reset */
  guint64 out_total;            /* samples handed over since the reset */
} GstBeenetInput;

void gst_beenet_input_init (GstBeenetInput * in);
void gst_beenet_input_clear (GstBeenetInput * in);
/* Returns FALSE for a format the converter cannot take. */
gboolean gst_beenet_input_set_format (GstBeenetInput * in,
    const GstAudioInfo * info);
void gst_beenet_input_set_out_rate (GstBeenetInput * in, gint out_rate);
gboolean gst_beenet_input_is_ready (const GstBeenetInput * in);
/* Forget the converter's history (discontinuity, flush, new stream). */
void gst_beenet_input_reset (GstBeenetInput * in);
/* Converts buf (its samples read as silence when gap is TRUE).  FALSE on
 * error (mapping, frame size, converter), with *msg set to a static
 * description. */
gboolean gst_beenet_input_process (GstBeenetInput * in, GstBuffer * buf,
    gboolean gap, GstBeenetInputFunc func, gpointer user_data,
    const gchar ** msg);
/* End of stream: flushes the resampler's delay, then resets. */
void gst_beenet_input_drain (GstBeenetInput * in, GstBeenetInputFunc func,
    gpointer user_data);

G_END_DECLS

#endif /* __GST_BEENET_INPUT_H__ */
