/* Streaming front-end: every window taken from a BeenetStream must be
 * bit-identical to beenet_frontend_compute on the same samples, for many
 * chunkings and hops (on and off the 10 ms frame grid, overlapping and with
 * gaps), each grid frame must be computed exactly once, NaN/Inf and
 * overflow are reported per window like the batch front-end, reset forgets
 * everything, and pushing/taking windows allocates nothing. */
#include "beenet.h"
#include "check-main.h"
#include "test-models.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 16000u
#define T 98u
#define M 64u
#define FEAT (T * M)

/* Noise plus a sweeping tone: every Mel band and every frame differ. */
static float *
make_audio (size_t n, uint32_t seed)
{
  float *x = malloc (sizeof (float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) {
    double t = (double) i / 16000.0;
    x[i] = 0.05f * test_rand_float (&seed)
        + (float) (0.3 * sin (2.0 * M_PI * (300.0 + 400.0 * t) * t));
  }
  return x;
}

static BeenetStream *
new_stream_phases (uint32_t history, uint32_t phases)
{
  BeenetFrontendConfig c;
  BeenetStreamParams p;
  BeenetStream *st = NULL;
  BeenetError err;
  beenet_frontend_config_default (&c);
  beenet_stream_params_default (&c, &p);
  if (history)
    p.history_samples = history;
  if (phases)
    p.cache_phases = phases;
  ck_assert_msg (beenet_stream_new (&c, &p, &st, &err) == BEENET_OK, "%s",
      err.message);
  return st;
}

static BeenetStream *
new_stream (uint32_t history)
{
  return new_stream_phases (history, 0);
}

/* Batch features of audio[start, start + W). */
static void
batch (BeenetFrontend *fe, const float *audio, uint64_t start, float *out)
{
  ck_assert_int_eq (beenet_frontend_compute (fe, audio + start, W, out, NULL),
      BEENET_OK);
}

static int
cmp_u64 (const void *a, const void *b)
{
  const uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
  return x < y ? -1 : x > y;
}

/* Distinct frames (by first sample) of windows k * hop, k < n_windows:
 * what "each frame computed once" means. */
static uint64_t
distinct_frames (uint64_t hop, size_t n_windows)
{
  uint64_t *f = malloc (sizeof (uint64_t) * T * (n_windows ? n_windows : 1));
  size_t n = 0;
  for (size_t k = 0; k < n_windows; k++)
    for (unsigned t = 0; t < T; t++)
      f[n++] = k * hop + 160u * t;
  qsort (f, n, sizeof f[0], cmp_u64);
  uint64_t distinct = 0;
  for (size_t i = 0; i < n; i++)
    distinct += i == 0 || f[i] != f[i - 1];
  free (f);
  return distinct;
}

/* Pushes audio in chunks of `chunk` and, after each push, takes every
 * window (start k * hop) that has become complete; history holds the
 * largest push, so no window is lost.  Each must equal the batch; with the
 * default 4 phase rings every distinct frame is computed once (the hops
 * tested use at most 2 phases, or phases whose windows never overlap). */
static void
run_case (const float *audio, size_t n, size_t chunk, uint64_t hop,
    uint32_t phases)
{
  BeenetStream *st = new_stream_phases (W + (uint32_t) chunk, phases);
  BeenetFrontend *fe;
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  ck_assert_int_eq (beenet_frontend_new (&c, &fe, NULL), BEENET_OK);
  float *got = malloc (sizeof (float) * FEAT), *want = malloc (sizeof (float) * FEAT);
  size_t next = 0;
  for (size_t done = 0; done < n;) {
    size_t k = n - done < chunk ? n - done : chunk;
    ck_assert_int_eq (beenet_stream_push (st, audio + done, k, NULL), BEENET_OK);
    done += k;
    for (; next * hop + W <= done; next++) {
      BeenetError err;
      ck_assert_msg (beenet_stream_features (st, next * hop, got, &err)
          == BEENET_OK, "%s", err.message);
      batch (fe, audio, next * hop, want);
      ck_assert_msg (memcmp (got, want, sizeof (float) * FEAT) == 0,
          "chunk %zu hop %llu window %zu differs from the batch front-end",
          chunk, (unsigned long long) hop, next);
    }
  }
  BeenetStreamStats stats;
  beenet_stream_get_stats (st, &stats);
  ck_assert_uint_eq (stats.windows, next);
  if (!phases)
    ck_assert_uint_eq (stats.frames_computed, distinct_frames (hop, next));
  else      /* evictions: at least once, at most once per window */
    ck_assert (stats.frames_computed >= distinct_frames (hop, next));
  ck_assert_uint_eq (stats.frames_computed + stats.frames_reused,
      (uint64_t) T * next);
  beenet_frontend_free (fe);
  beenet_stream_free (st);
  free (got);
  free (want);
}

START_TEST (test_identical_to_batch)
{
  /* 160 = frame hop; 240, 2000 (125 ms) alternate between 2 grid phases,
   * 4321 uses a new phase at every window; 20000 > window (gaps); 16000 no
   * overlap. */
  static const uint64_t hops[] = { 160, 240, 2000, 4000, 4321, 8000, 16000,
    20000 };
  static const size_t chunks[] = { 1, 7, 160, 333, 4096, 16000, 50000 };
  const size_t n = 3 * W + 5555;
  float *audio = make_audio (n, 11);
  for (size_t h = 0; h < sizeof hops / sizeof hops[0]; h++)
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
      /* a one-sample chunking is slow at small hops: one hop is enough */
      if (chunks[c] == 1 && hops[h] != 4000)
        continue;
      run_case (audio, n, chunks[c], hops[h], 0);
    }
  /* one phase ring: off-grid and on-grid windows evict each other */
  run_case (audio, n, 333, 2000, 1);
  run_case (audio, n, 4096, 240, 1);
  free (audio);
}
END_TEST

START_TEST (test_frames_computed_once)
{
  /* 60 s at 250 ms and 500 ms: each 10 ms frame computed once. */
  const size_t n = 60 * 16000;
  float *audio = make_audio (n, 3);
  static const uint64_t hops[] = { 4000, 8000 };
  for (size_t h = 0; h < 2; h++) {
    BeenetStream *st = new_stream (0);
    float *out = malloc (sizeof (float) * FEAT);
    size_t windows = 0;
    /* Push up to each window end, as the element does (default history). */
    uint64_t pos = 0;
    for (uint64_t s = 0; s + W <= n; s += hops[h], windows++) {
      ck_assert_int_eq (beenet_stream_push (st, audio + pos, s + W - pos,
              NULL), BEENET_OK);
      pos = s + W;
      ck_assert_int_eq (beenet_stream_features (st, s, out, NULL), BEENET_OK);
    }
    BeenetStreamStats stats;
    beenet_stream_get_stats (st, &stats);
    /* frames 0 .. last window's last frame, each once */
    const uint64_t last = (windows - 1) * hops[h] / 160 + T;
    ck_assert_uint_eq (stats.frames_computed, last);
    ck_assert_uint_eq (stats.windows, windows);
    beenet_stream_free (st);
    free (out);
  }
  free (audio);
}
END_TEST

START_TEST (test_reset)
{
  const size_t n = 2 * W;
  float *a = make_audio (n, 5), *b = make_audio (n, 6);
  float *got = malloc (sizeof (float) * FEAT), *want = malloc (sizeof (float) * FEAT);
  BeenetFrontend *fe;
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  ck_assert_int_eq (beenet_frontend_new (&c, &fe, NULL), BEENET_OK);
  BeenetStream *st = new_stream (2 * W);
  ck_assert_int_eq (beenet_stream_push (st, a, n, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_features (st, 8000, got, NULL), BEENET_OK);
  beenet_stream_reset (st);
  ck_assert_uint_eq (beenet_stream_position (st), 0);
  /* nothing is left: the old window is not complete any more */
  ck_assert_int_eq (beenet_stream_features (st, 0, got, NULL),
      BEENET_ERROR_INVALID_ARGUMENT);
  /* same positions, other samples: no stale frame may be reused */
  ck_assert_int_eq (beenet_stream_push (st, b, n, NULL), BEENET_OK);
  for (uint64_t s = 0; s + W <= n; s += 800) {
    ck_assert_int_eq (beenet_stream_features (st, s, got, NULL), BEENET_OK);
    batch (fe, b, s, want);
    ck_assert (memcmp (got, want, sizeof (float) * FEAT) == 0);
  }
  beenet_stream_free (st);
  beenet_frontend_free (fe);
  free (a); free (b); free (got); free (want);
}
END_TEST

START_TEST (test_push_zeros)
{
  float *a = make_audio (W, 8), *padded = calloc (W, sizeof (float));
  float *got = malloc (sizeof (float) * FEAT), *want = malloc (sizeof (float) * FEAT);
  BeenetFrontend *fe;
  BeenetFrontendConfig c;
  beenet_frontend_config_default (&c);
  ck_assert_int_eq (beenet_frontend_new (&c, &fe, NULL), BEENET_OK);
  /* 10000 real samples then zeros, across the ring's wrap point */
  memcpy (padded, a, sizeof (float) * 10000);
  BeenetStream *st = new_stream (0);
  ck_assert_int_eq (beenet_stream_push (st, a + 3000, 7000, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_push (st, a, 10000, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_push_zeros (st, W - 10000, NULL), BEENET_OK);
  ck_assert_uint_eq (beenet_stream_position (st), 7000 + W);
  ck_assert_int_eq (beenet_stream_features (st, 7000, got, NULL), BEENET_OK);
  batch (fe, padded, 0, want);
  ck_assert (memcmp (got, want, sizeof (float) * FEAT) == 0);
  beenet_stream_free (st);
  beenet_frontend_free (fe);
  free (a); free (padded); free (got); free (want);
}
END_TEST

/* NaN/Inf: exactly the windows holding one fail, including the last 80
 * samples that no frame reads, and a bad sample pushed after a window
 * (but before it is taken) does not spoil it. */
START_TEST (test_nonfinite)
{
  const size_t n = 3 * W;
  float *a = make_audio (n, 9);
  float *got = malloc (sizeof (float) * FEAT), *want = malloc (sizeof (float) * FEAT);
  BeenetFrontend *fe;
  BeenetFrontendConfig c;
  BeenetError err;
  beenet_frontend_config_default (&c);
  ck_assert_int_eq (beenet_frontend_new (&c, &fe, NULL), BEENET_OK);
  a[W - 1] = INFINITY;            /* last sample of window 0 */
  a[W + 8000] = NAN;              /* inside windows at 8000 .. 24000 */
  BeenetStream *st = new_stream (n);
  ck_assert_int_eq (beenet_stream_push (st, a, n, NULL), BEENET_OK);
  for (uint64_t s = 0; s + W <= n; s += 4000) {
    BeenetStatus want_st = beenet_frontend_compute (fe, a + s, W, want, NULL);
    BeenetStatus got_st = beenet_stream_features (st, s, got, &err);
    ck_assert_int_eq (got_st, want_st);
    if (got_st == BEENET_OK)
      ck_assert (memcmp (got, want, sizeof (float) * FEAT) == 0);
    else
      ck_assert_ptr_nonnull (strstr (err.message, "NaN"));
  }
  /* window 0 holds the Inf, the window at 2 W neither bad sample */
  ck_assert_int_eq (beenet_stream_features (st, 0, got, NULL),
      BEENET_ERROR_NONFINITE);
  ck_assert_int_eq (beenet_stream_features (st, 2 * W, got, NULL), BEENET_OK);
  beenet_stream_free (st);

  /* Overflowing Mel energy: NONFINITE "too large", like the batch. */
  float *big = calloc (2 * W, sizeof (float));
  for (unsigned i = 1000; i < 1400; i++)
    big[i] = 3e37f;
  st = new_stream (0);
  ck_assert_int_eq (beenet_stream_push (st, big, W, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_features (st, 0, got, &err),
      BEENET_ERROR_NONFINITE);
  ck_assert_ptr_nonnull (strstr (err.message, "too large"));
  /* the cached overflowing frame still fails the next window holding it */
  ck_assert_int_eq (beenet_stream_push (st, big + W, 160, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_features (st, 160, got, &err),
      BEENET_ERROR_NONFINITE);
  ck_assert_ptr_nonnull (strstr (err.message, "too large"));
  beenet_stream_free (st);
  beenet_frontend_free (fe);
  free (a); free (big); free (got); free (want);
}
END_TEST

START_TEST (test_errors)
{
  BeenetFrontendConfig c;
  BeenetStreamParams p;
  BeenetStream *st = NULL;
  BeenetError err;
  float out[FEAT], x[16] = { 0 };
  beenet_frontend_config_default (&c);
  beenet_stream_params_default (NULL, &p);
  ck_assert_uint_eq (p.history_samples, W);
  ck_assert_uint_eq (p.cache_frames, T);
  ck_assert_uint_eq (p.cache_phases, 4);

  ck_assert_int_eq (beenet_stream_new (NULL, NULL, &st, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  p.history_samples = W - 1;
  ck_assert_int_eq (beenet_stream_new (&c, &p, &st, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_null (st);
  ck_assert_ptr_nonnull (strstr (err.message, "history_samples"));
  beenet_stream_params_default (&c, &p);
  p.cache_frames = 0;
  ck_assert_int_eq (beenet_stream_new (&c, &p, &st, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "cache_frames"));
  beenet_stream_params_default (&c, &p);
  p.cache_phases = 0;
  ck_assert_int_eq (beenet_stream_new (&c, &p, &st, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "cache_phases"));
  BeenetFrontendConfig bad = c;
  bad.fft_size = 500;
  ck_assert_int_eq (beenet_stream_new (&bad, NULL, &st, &err),
      BEENET_ERROR_INVALID_ARGUMENT);

  ck_assert_int_eq (beenet_stream_new (&c, NULL, &st, &err), BEENET_OK);
  ck_assert_int_eq (beenet_stream_push (NULL, x, 16, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_stream_push (st, NULL, 16, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_stream_push (st, NULL, 0, &err), BEENET_OK);
  ck_assert_int_eq (beenet_stream_push_zeros (NULL, 1, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_stream_features (st, 0, NULL, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  /* not complete yet */
  ck_assert_int_eq (beenet_stream_push_zeros (st, W - 1, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_features (st, 0, out, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "not complete"));
  ck_assert_int_eq (beenet_stream_push_zeros (st, 1, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_features (st, 0, out, &err), BEENET_OK);
  ck_assert_int_eq (beenet_stream_features (st, 1, out, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  /* no longer held: the default history is one window */
  ck_assert_int_eq (beenet_stream_push_zeros (st, 1, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_features (st, 0, out, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "no longer held"));
  ck_assert_int_eq (beenet_stream_features (st, 1, out, &err), BEENET_OK);
  /* a push larger than the history keeps its tail */
  ck_assert_int_eq (beenet_stream_push_zeros (st, 5 * W + 3, NULL), BEENET_OK);
  ck_assert_uint_eq (beenet_stream_position (st), 6 * W + 4);
  ck_assert_int_eq (beenet_stream_features (st, 5 * W + 4, out, &err),
      BEENET_OK);
  ck_assert_uint_eq (beenet_stream_position (NULL), 0);
  beenet_stream_reset (NULL);
  beenet_stream_free (st);
  beenet_stream_free (NULL);
}
END_TEST

/* The session's stream entry point gives exactly beenet_session_classify's
 * result, and refuses a stream of another configuration. */
START_TEST (test_session_classify_stream)
{
  size_t size;
  uint8_t *bytes = test_models_realistic (3, &size);
  BeenetModel *m;
  BeenetSession *s;
  BeenetError err;
  ck_assert_int_eq (beenet_model_load_memory (bytes, size, &m, NULL), BEENET_OK);
  free (bytes);
  ck_assert_int_eq (beenet_session_new (m, &s, NULL), BEENET_OK);
  const size_t n = 2 * W;
  float *a = make_audio (n, 4);
  BeenetStream *st = new_stream (n);
  ck_assert_int_eq (beenet_stream_push (st, a, n, NULL), BEENET_OK);
  for (uint64_t start = 0; start + W <= n; start += 4000) {
    BeenetResult r1, r2;
    float p1[12];
    ck_assert_int_eq (beenet_session_classify (s, a + start, W,
            BEENET_POLICY_ENTROPY, 0.5f, &r1, NULL), BEENET_OK);
    memcpy (p1, r1.probabilities, sizeof p1);
    ck_assert_int_eq (beenet_session_classify_stream (s, st, start,
            BEENET_POLICY_ENTROPY, 0.5f, &r2, &err), BEENET_OK);
    ck_assert_uint_eq (r1.class_index, r2.class_index);
    ck_assert_uint_eq (r1.exit_index, r2.exit_index);
    ck_assert (r1.entropy == r2.entropy);
    ck_assert (memcmp (p1, r2.probabilities, sizeof p1) == 0);
  }
  BeenetResult r;
  ck_assert_int_eq (beenet_session_classify_stream (s, NULL, 0,
          BEENET_POLICY_ENTROPY, 0.5f, &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  beenet_stream_free (st);
  BeenetFrontendConfig other;
  beenet_frontend_config_default (&other);
  other.fmin = 20.0f;
  ck_assert_int_eq (beenet_stream_new (&other, NULL, &st, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_stream_push_zeros (st, W, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_session_classify_stream (s, st, 0,
          BEENET_POLICY_ENTROPY, 0.5f, &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "configuration"));
  beenet_stream_free (st);
  beenet_session_free (s);
  beenet_model_unref (m);
  free (a);
}
END_TEST

/* ---- no allocation per push or window (as in test-session.c) -------- */

#if defined(BEENET_TEST_WRAP_MALLOC)
#include "alloc-count.h"

START_TEST (test_no_allocation_per_push)
{
  size_t size;
  uint8_t *bytes = test_models_realistic (5, &size);
  BeenetModel *m;
  BeenetSession *s;
  BeenetStream *st;
  BeenetFrontendConfig c;
  counting = 1;
  n_allocs = 0;
  ck_assert_int_eq (beenet_model_load_memory (bytes, size, &m, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_session_new (m, &s, NULL), BEENET_OK);
  beenet_model_frontend_config (m, &c);
  ck_assert_int_eq (beenet_stream_new (&c, NULL, &st, NULL), BEENET_OK);
  counting = 0;
  ck_assert_int_gt (n_allocs, 3);      /* the counter works */
  free (bytes);
  const size_t n = 4 * W;
  float *a = make_audio (n, 2), *feat = malloc (sizeof (float) * FEAT);
  a[W + 5] = NAN;                      /* the NaN path too */
  BeenetResult r;
  /* Warm-up (ORC compiles its programs on first use, inside liborc). */
  ck_assert_int_eq (beenet_stream_push (st, a, W, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_session_classify_stream (s, st, 0,
          BEENET_POLICY_ENTROPY, 0.0f, &r, NULL), BEENET_OK);
  /* No ck_assert inside the counted region (Check allocates). */
  int bad = 0, nonfinite = 0;
  counting = 1;
  n_allocs = 0;
  uint64_t pos = W;
  for (uint64_t start = 2000; start + W <= n; start += 2000) {
    /* uneven pushes up to the window end; 2000 is off the grid every
     * other window */
    while (pos < start + W) {
      size_t k = start + W - pos < 777 ? start + W - pos : 777;
      bad |= beenet_stream_push (st, a + pos, k, NULL);
      pos += k;
    }
    BeenetStatus rs = beenet_session_classify_stream (s, st, start,
        BEENET_POLICY_ENTROPY, 0.5f, &r, NULL);
    nonfinite += rs == BEENET_ERROR_NONFINITE;
    bad |= rs != BEENET_OK && rs != BEENET_ERROR_NONFINITE;
    bad |= beenet_stream_features (st, start, feat, NULL)
        && rs == BEENET_OK;
  }
  bad |= beenet_stream_push_zeros (st, 1234, NULL);
  beenet_stream_reset (st);
  counting = 0;
  ck_assert_int_eq (bad, 0);
  ck_assert_int_gt (nonfinite, 0);
  ck_assert_int_eq (n_allocs, 0);
  beenet_stream_free (st);
  beenet_session_free (s);
  beenet_model_unref (m);
  free (a);
  free (feat);
}
END_TEST
#endif

static Suite *
stream_suite (void)
{
  Suite *s = suite_create ("stream");
  TCase *tc = tcase_create ("core");
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_identical_to_batch);
  tcase_add_test (tc, test_frames_computed_once);
  tcase_add_test (tc, test_reset);
  tcase_add_test (tc, test_push_zeros);
  tcase_add_test (tc, test_nonfinite);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_session_classify_stream);
#if defined(BEENET_TEST_WRAP_MALLOC)
  tcase_add_test (tc, test_no_allocation_per_push);
#endif
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return check_run_suite (stream_suite ());
}
