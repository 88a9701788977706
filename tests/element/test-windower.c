/* BeenetWindower (elements/beenet-windower.c), the windowing the element
 * and beenet-classify share, on its own: the grid of window starts, refined
 * windows half an interval after the windows whose callback asks for one
 * (beenet.h, beenet_model_refine_level), in start order whatever the push
 * sizes, and the padded windows of the end of a stream.
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gst/check/gstcheck.h>

#include "beenet-windower.h"

#define WINDOW 16000
#define HOP 160                 /* the default front-end's frame hop */
#define INTERVAL 4000           /* 250 ms at 16 kHz */
#define OFFSET 2000             /* INTERVAL / 2 */

typedef struct
{
  GArray *starts;               /* guint64 */
  GArray *reals;                /* gsize */
  guint64 refine_mask;          /* grid window k asks for refining: bit k */
  guint64 stop_at;              /* return STOP at this start (or never) */
  guint64 interval;
} Log;

static int
log_window (BeenetStream * stream, uint64_t start, size_t real, void *data)
{
  Log *log = data;
  guint64 k = start / log->interval;
  int ret = 0;

  (void) stream;
  g_array_append_val (log->starts, start);
  g_array_append_val (log->reals, real);
  /* refined windows are off the grid; asking for more there is ignored */
  if (k < 64 && (log->refine_mask >> k & 1))
    ret |= BEENET_WINDOW_REFINE;
  if (start == log->stop_at)
    ret |= BEENET_WINDOW_STOP;
  return ret;
}

static BeenetStream *
new_stream (void)
{
  BeenetStream *stream = NULL;
  BeenetFrontendConfig config;
  BeenetError err;

  beenet_frontend_config_default (&config);
  fail_unless_equals_int (config.hop_length, HOP);
  fail_unless_equals_int (config.window_samples, WINDOW);
  fail_unless (beenet_stream_new (&config, NULL, &stream, &err) == BEENET_OK,
      "%s", err.message);
  return stream;
}

/* n samples of silence pushed in chunks of `chunk`, then the end of the
 * stream; the starts of every window handed over. */
static GArray *
run (gsize n, gsize chunk, guint64 interval, guint64 refine_mask,
    gboolean finish, GArray ** reals)
{
  BeenetStream *stream = new_stream ();
  BeenetWindower w;
  Log log = { g_array_new (FALSE, FALSE, sizeof (guint64)),
    g_array_new (FALSE, FALSE, sizeof (gsize)), refine_mask, G_MAXUINT64,
    interval
  };
  float *zeros = g_new0 (float, chunk);
  gsize done = 0;

  fail_unless (beenet_windower_init (&w, stream, WINDOW) == 0);
  while (done < n) {
    gsize k = MIN (chunk, n - done);

    fail_unless (beenet_windower_push (&w, zeros, k, interval, log_window,
            &log) == 0);
    done += k;
  }
  if (finish)
    beenet_windower_finish (&w, interval, log_window, &log);
  beenet_stream_free (stream);
  g_free (zeros);
  if (reals)
    *reals = log.reals;
  else
    g_array_free (log.reals, TRUE);
  return log.starts;
}

static void
assert_starts (GArray * got, const guint64 * want, guint n)
{
  guint i;

  fail_unless_equals_int (got->len, n);
  for (i = 0; i < n; i++)
    fail_unless (g_array_index (got, guint64, i) == want[i],
        "window %u starts at %" G_GUINT64_FORMAT ", expected %"
        G_GUINT64_FORMAT, i, g_array_index (got, guint64, i), want[i]);
}

GST_START_TEST (test_refine_offset)
{
  fail_unless_equals_uint64 (beenet_windower_refine_offset (INTERVAL),
      OFFSET);
  fail_unless_equals_uint64 (beenet_windower_refine_offset (333), 166);
  /* an interval of one sample has no refined windows */
  fail_unless_equals_uint64 (beenet_windower_refine_offset (1), 0);
}

GST_END_TEST;

/* Windows 1 and 3 of the grid ask for refining: a window OFFSET after
 * each, before the next one of the grid, which does not move. */
GST_START_TEST (test_refined_windows)
{
  const guint64 want[] = { 0, 4000, 4000 + OFFSET, 8000, 12000,
    12000 + OFFSET, 16000, 20000
  };
  const gsize chunks[] = { 20000 + WINDOW, 1, 777, 1920, 4000, 16001 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (chunks); i++) {
    GArray *got = run (20000 + WINDOW, chunks[i], INTERVAL, 0xA, FALSE,
        NULL);

    assert_starts (got, want, G_N_ELEMENTS (want));
    g_array_free (got, TRUE);
  }
}

GST_END_TEST;

/* Every grid window asks: the windows come every OFFSET / INTERVAL - OFFSET
 * samples; the refined windows' own requests change nothing. */
GST_START_TEST (test_refine_every_window)
{
  const guint64 want[] = { 0, OFFSET, 4000, 4000 + OFFSET, 8000 };
  GArray *got = run (8000 + WINDOW, 1000, INTERVAL, G_MAXUINT64, FALSE,
      NULL);

  assert_starts (got, want, G_N_ELEMENTS (want));
  g_array_free (got, TRUE);
}

GST_END_TEST;

/* An odd interval: the refined window half of it (rounded down) later;
 * an interval of one sample has none. */
GST_START_TEST (test_odd_intervals)
{
  const guint64 want[] = { 0, 166, 333, 499, 666 };
  const guint64 want_one[] = { 0, 1, 2 };
  GArray *got = run (666 + WINDOW, 512, 333, G_MAXUINT64, FALSE, NULL);

  assert_starts (got, want, G_N_ELEMENTS (want));
  g_array_free (got, TRUE);
  got = run (2 + WINDOW, 7, 1, G_MAXUINT64, FALSE, NULL);
  assert_starts (got, want_one, G_N_ELEMENTS (want_one));
  g_array_free (got, TRUE);
}

GST_END_TEST;

/* At the end of the stream a pending refined window holding at least half
 * a window of audio is padded and handed over, in start order. */
GST_START_TEST (test_finish_refined)
{
  GArray *reals;
  /* 25000 samples: grid windows 0, 4000 and 8000 are complete; window 2
   * (8000) asks for 10000, which ends after the stream and is padded (15000
   * real samples), then 12000 and 16000 (13000 and 9000 real samples);
   * 20000 holds less than half a window */
  const guint64 want[] = { 0, 4000, 8000, 8000 + OFFSET, 12000, 16000 };
  const gsize want_real[] = { WINDOW, WINDOW, WINDOW, 15000, 13000, 9000 };
  GArray *got = run (25000, 3000, INTERVAL, 0x4, TRUE, &reals);
  guint i;

  assert_starts (got, want, G_N_ELEMENTS (want));
  for (i = 0; i < G_N_ELEMENTS (want_real); i++)
    fail_unless_equals_uint64 (g_array_index (reals, gsize, i), want_real[i]);
  g_array_free (got, TRUE);
  g_array_free (reals, TRUE);
}

GST_END_TEST;

/* A callback that stops and asks for refining: the push returns at once,
 * and the next push starts with the refined window. */
GST_START_TEST (test_stop_keeps_refined)
{
  BeenetStream *stream = new_stream ();
  BeenetWindower w;
  Log log = { g_array_new (FALSE, FALSE, sizeof (guint64)),
    g_array_new (FALSE, FALSE, sizeof (gsize)), 0x1, 0, INTERVAL
  };
  float *zeros = g_new0 (float, 2 * WINDOW);
  const guint64 want[] = { 0, OFFSET, 4000 };

  fail_unless (beenet_windower_init (&w, stream, WINDOW) == 0);
  fail_unless (beenet_windower_push (&w, zeros, 2 * WINDOW, INTERVAL,
          log_window, &log) != 0);
  fail_unless_equals_int (log.starts->len, 1);
  fail_unless_equals_uint64 (w.pos, WINDOW);
  fail_unless (beenet_windower_push (&w, zeros, 4000, INTERVAL, log_window,
          &log) == 0);
  assert_starts (log.starts, want, G_N_ELEMENTS (want));
  /* a reset forgets the pending refined window */
  log.refine_mask = 0x1;
  beenet_windower_reset (&w);
  fail_unless (w.extra_start == BEENET_WINDOWER_NONE);
  beenet_stream_free (stream);
  g_free (zeros);
  g_array_free (log.starts, TRUE);
  g_array_free (log.reals, TRUE);
}

GST_END_TEST;

static Suite *
windower_suite (void)
{
  Suite *s = suite_create ("beenet-windower");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_refine_offset);
  tcase_add_test (tc, test_refined_windows);
  tcase_add_test (tc, test_refine_every_window);
  tcase_add_test (tc, test_odd_intervals);
  tcase_add_test (tc, test_finish_refined);
  tcase_add_test (tc, test_stop_keeps_refined);
  return s;
}

GST_CHECK_MAIN (windower);
