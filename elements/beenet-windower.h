/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
/* BeenetWindower: schedules overlapping windows over a mono float stream.
 *
 * Plain C (no GLib), shared by the `beenet` element and `beenet-classify` so
 * both apply exactly the same windowing rules (docs/element.md):
 *
 *  - window k starts at sample k * interval (counted from the last reset) and
 *    holds `window` samples;
 *  - a window is handed to the callback as soon as its last sample arrived;
 *  - at the end of the stream (beenet_windower_finish) every remaining window
 *    that holds at least half a window of real samples is zero-padded and
 *    handed over; shorter tails are dropped;
 *  - interval > window is allowed: the samples between windows are skipped;
 *  - refined windows (beenet.h, beenet_model_refine_level): when the
 *    callback returns BEENET_WINDOW_REFINE for a window of the grid, the
 *    window starting half an interval later (rounded down to a sample;
 *    none for an interval of 1) is handed over too, before the next window
 *    of the grid.  Off the grid's 10-ms frames when interval / 2 is not a
 *    multiple of the hop: the stream then keeps a second frame grid
 *    (beenet.h, BeenetStream), so refined windows in a row still share
 *    their frames.  The grid itself does
 *    not move.
 *
 * The samples themselves go to the engine's BeenetStream (beenet.h), which
 * keeps them and computes each log-Mel frame once for all the windows that
 * share it: the windower feeds the stream up to each window's last sample,
 * then calls back with the window's start, so the callback takes the
 * window from the stream (beenet_stream_features or
 * beenet_session_classify_stream).  A stream with the default history (one
 * window) is enough.  Pushing never allocates. */
#ifndef BEENET_WINDOWER_H
#define BEENET_WINDOWER_H

#include <stddef.h>
#include <stdint.h>

#include "beenet.h"

typedef struct {
  BeenetStream *stream;  /* borrowed: receives every sample */
  size_t window;         /* samples per window */
  uint64_t next_start;   /* absolute index of the next window's first sample */
  uint64_t pos;          /* absolute index of the next incoming sample */
  uint64_t extra_start;  /* start of the pending refined window, or
                            BEENET_WINDOWER_NONE */
} BeenetWindower;

#define BEENET_WINDOWER_NONE UINT64_MAX

/* What a BeenetWindowFunc returns: 0, or these bits. */
#define BEENET_WINDOW_STOP 1    /* stop the current push/finish call */
#define BEENET_WINDOW_REFINE 2  /* also hand over the window half an
                                   interval later (windows of the grid only;
                                   ignored for refined ones) */

/* Called for each complete (or zero-padded final) window.  Its `window`
 * samples are the stream's samples [start, start + window); `real` is the
 * number of samples that came from the stream (== window except for the
 * padded windows of beenet_windower_finish, whose tail the windower pushed
 * as zeros).  Return BEENET_WINDOW_STOP (or any negative value) to stop the
 * current push/finish call early (the window is consumed either way),
 * BEENET_WINDOW_REFINE to ask for the refined window after it. */
typedef int (*BeenetWindowFunc) (BeenetStream *stream, uint64_t start,
    size_t real, void *user_data);

/* Returns 0 on success, -1 if stream is NULL or window == 0.  Resets the
 * stream. */
int beenet_windower_init (BeenetWindower *w, BeenetStream *stream,
    size_t window);
void beenet_windower_clear (BeenetWindower *w);
/* Drops the pending window, resets the stream and restarts the sample
 * counter at 0. */
void beenet_windower_reset (BeenetWindower *w);
/* Feeds n samples.  `interval` (>= 1) is the distance between window starts
 * that applies after each window delivered by this call.  Returns non-zero
 * if a callback asked to stop. */
/* The start of the refined window after a grid window, as an offset:
 * interval / 2 (0: none). */
uint64_t beenet_windower_refine_offset (uint64_t interval);
int beenet_windower_push (BeenetWindower *w, const float *samples, size_t n,
    uint64_t interval, BeenetWindowFunc func, void *user_data);
/* A stream that never filled one window is still classified at its end
 * when it holds at least window / BEENET_WINDOWER_MIN_STREAM_DIVISOR samples
 * (100 ms of a 1 s window). */
#define BEENET_WINDOWER_MIN_STREAM_DIVISOR 10

/* End of stream: delivers the trailing zero-padded windows holding >= half a
 * window of real samples (or, when no window was delivered since the last
 * reset, one window holding >= 1/10 of a window), then resets. */
int beenet_windower_finish (BeenetWindower *w, uint64_t interval,
    BeenetWindowFunc func, void *user_data);

#endif /* BEENET_WINDOWER_H */
