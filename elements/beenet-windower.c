/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#include "beenet-windower.h"

#include <stdlib.h>
#include <string.h>

int
beenet_windower_init (BeenetWindower * w, size_t window)
{
  memset (w, 0, sizeof (*w));
  if (window == 0)
    return -1;
  w->buf = calloc (window, sizeof (float));
  if (w->buf == NULL)
    return -1;
  w->window = window;
  return 0;
}

void
beenet_windower_clear (BeenetWindower * w)
{
  free (w->buf);
  memset (w, 0, sizeof (*w));
}

void
beenet_windower_reset (BeenetWindower * w)
{
  w->len = 0;
  w->next_start = 0;
  w->pos = 0;
}

/* Moves to the next window start, keeping the overlapping samples. */
static void
advance (BeenetWindower * w, uint64_t interval)
{
  if (interval == 0)
    interval = 1;
  w->next_start += interval;
  if (interval < w->len) {
    memmove (w->buf, w->buf + interval, (w->len - interval) * sizeof (float));
    w->len -= (size_t) interval;
  } else {
    w->len = 0;
  }
}

int
beenet_windower_push (BeenetWindower * w, const float *samples, size_t n,
    uint64_t interval, BeenetWindowFunc func, void *user_data)
{
  while (n > 0) {
    size_t take;

    if (w->pos < w->next_start) {
      /* gap between windows (interval > window): skip */
      uint64_t skip = w->next_start - w->pos;
      if (skip > n)
        skip = n;
      w->pos += skip;
      samples += skip;
      n -= (size_t) skip;
      continue;
    }

    take = w->window - w->len;
    if (take > n)
      take = n;
    memcpy (w->buf + w->len, samples, take * sizeof (float));
    w->len += take;
    w->pos += take;
    samples += take;
    n -= take;

    if (w->len == w->window) {
      uint64_t start = w->next_start;
      int stop = func (w->buf, w->window, start, w->window, user_data);

      advance (w, interval);
      if (stop)
        return stop;
    }
  }
  return 0;
}

int
beenet_windower_finish (BeenetWindower * w, uint64_t interval,
    BeenetWindowFunc func, void *user_data)
{
  int stop = 0;

  /* only samples at or after next_start are buffered (w->len of them).  A
   * trailing partial window is classified when it holds at least half a
   * window of audio.  A stream that never filled a single window (a short
   * utterance from a synthesiser, a clip shorter than 1 s) is classified once
   * when it holds at least BEENET_WINDOWER_MIN_STREAM_DIVISOR-th of a window,
   * so that short inputs still get an answer. */
  if (w->next_start == 0 && w->len > 0
      && BEENET_WINDOWER_MIN_STREAM_DIVISOR * w->len >= w->window
      && 2 * w->len < w->window) {
    size_t real = w->len;

    memset (w->buf + real, 0, (w->window - real) * sizeof (float));
    stop = func (w->buf, w->window, 0, real, user_data);
    beenet_windower_reset (w);
    return stop;
  }
  while (!stop && w->len > 0 && 2 * w->len >= w->window) {
    size_t real = w->len;

    memset (w->buf + real, 0, (w->window - real) * sizeof (float));
    stop = func (w->buf, w->window, w->next_start, real, user_data);
    advance (w, interval);
  }
  beenet_windower_reset (w);
  return stop;
}
