/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#include "beenet-windower.h"

#include <string.h>

int
beenet_windower_init (BeenetWindower * w, BeenetStream * stream,
    size_t window)
{
  memset (w, 0, sizeof (*w));
  if (stream == NULL || window == 0)
    return -1;
  w->stream = stream;
  w->window = window;
  beenet_windower_reset (w);
  return 0;
}

void
beenet_windower_clear (BeenetWindower * w)
{
  memset (w, 0, sizeof (*w));
}

void
beenet_windower_reset (BeenetWindower * w)
{
  w->next_start = 0;
  w->pos = 0;
  beenet_stream_reset (w->stream);
}

int
beenet_windower_push (BeenetWindower * w, const float *samples, size_t n,
    uint64_t interval, BeenetWindowFunc func, void *user_data)
{
  while (n > 0) {
    /* invariant: pos < next_start + window (samples of a gap between
     * windows are pushed too: the stream only stores them) */
    uint64_t end = w->next_start + w->window;
    size_t take = end - w->pos < n ? (size_t) (end - w->pos) : n;

    beenet_stream_push (w->stream, samples, take, NULL);
    w->pos += take;
    samples += take;
    n -= take;

    if (w->pos == end) {
      int stop = func (w->stream, w->next_start, w->window, user_data);

      w->next_start += interval ? interval : 1;
      if (stop)
        return stop;
    }
  }
  return 0;
}

/* Pads the stream with zeros up to the end of the window at start, whose
 * first `real` samples are real, and hands it over. */
static int
deliver_padded (BeenetWindower * w, uint64_t start, size_t real,
    BeenetWindowFunc func, void *user_data)
{
  uint64_t end = start + w->window;

  if (end > w->pos) {
    beenet_stream_push_zeros (w->stream, (size_t) (end - w->pos), NULL);
    w->pos = end;
  }
  return func (w->stream, start, real, user_data);
}

int
beenet_windower_finish (BeenetWindower * w, uint64_t interval,
    BeenetWindowFunc func, void *user_data)
{
  const uint64_t real_end = w->pos;
  int stop = 0;

  /* A trailing partial window is classified when it holds at least half a
   * window of audio.  A stream that never filled a single window (a short
   * utterance from a synthesiser, a clip shorter than 1 s) is classified once
   * when it holds at least BEENET_WINDOWER_MIN_STREAM_DIVISOR-th of a window,
   * so that short inputs still get an answer. */
  if (w->next_start == 0 && real_end > 0
      && BEENET_WINDOWER_MIN_STREAM_DIVISOR * real_end >= w->window
      && 2 * real_end < w->window) {
    stop = deliver_padded (w, 0, (size_t) real_end, func, user_data);
    beenet_windower_reset (w);
    return stop;
  }
  while (!stop && real_end > w->next_start
      && 2 * (real_end - w->next_start) >= w->window) {
    stop = deliver_padded (w, w->next_start,
        (size_t) (real_end - w->next_start), func, user_data);
    w->next_start += interval ? interval : 1;
  }
  beenet_windower_reset (w);
  return stop;
}
