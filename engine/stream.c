/* Streaming front-end: samples pushed in any chunks, log-Mel frames
 * computed once and kept in rings (beenet.h, "Streaming front-end";
 * docs/engine.md).
 *
 * Samples live in a mirrored ring: sample i is stored at ring[i % cap] and
 * ring[i % cap + cap], so any cap consecutive samples are contiguous and a
 * window or frame is read in place.  A window starting at sample s reads the
 * frames of grid phase p = s % hop: frame j of that grid covers samples
 * [j * hop + p, j * hop + p + frame_length).  Each of the cache_phases frame
 * rings holds one phase (the least recently used ring is retagged when a
 * new phase comes); frame j of a ring lives in its slot j % cache_frames and
 * keys[slot] = j + 1 says which frame a slot holds (0 = none).  Frames are
 * computed lazily, when a window needs them, by the batch front-end's
 * per-frame code, so a window's features are bit-identical to
 * beenet_frontend_compute on its samples. */
#include "beenet-private.h"
#include "beenet-orc.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HISTORY_SAMPLES (1u << 26)
#define MAX_CACHE_FLOATS (1u << 26)
#define MAX_CACHE_PHASES 1024u

struct BeenetStream {
  BeenetFrontend *fe;
  BeenetFrontendConfig cfg;
  BeenetStreamParams params;
  float *ring;           /* 2 * history_samples, mirrored */
  uint64_t pos;          /* samples pushed since the last reset */
  uint64_t bad_end;      /* 1 + index of the last NaN/Inf pushed, 0 = none */
  float *frames;         /* cache_phases * cache_frames * n_mels */
  uint64_t *keys;        /* frame index + 1 held by each slot, 0 = empty */
  uint8_t *overflow;     /* the slot's frame overflowed (Mel energy) */
  uint64_t *phase;       /* grid phase + 1 held by each ring, 0 = none */
  uint64_t *last_use;    /* when each ring was last used (LRU) */
  uint64_t clock;
  BeenetStreamStats stats;
};

void
beenet_stream_params_default (const BeenetFrontendConfig *config,
    BeenetStreamParams *params)
{
  BeenetFrontendConfig def;
  if (!params)
    return;
  if (!config) {
    beenet_frontend_config_default (&def);
    config = &def;
  }
  params->history_samples = config->window_samples;
  params->cache_frames = config->n_frames;
  params->cache_phases = 4;
}

static BeenetStatus
check_params (const BeenetFrontendConfig *c, const BeenetStreamParams *p,
    BeenetError *err)
{
  if (p->history_samples < c->window_samples
      || p->history_samples > MAX_HISTORY_SAMPLES)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "stream params: history_samples %u out of range [window_samples=%u, "
        "%u]", p->history_samples, c->window_samples, MAX_HISTORY_SAMPLES);
  if (p->cache_phases < 1 || p->cache_phases > MAX_CACHE_PHASES)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "stream params: cache_phases %u out of range [1, %u]",
        p->cache_phases, MAX_CACHE_PHASES);
  if (p->cache_frames < 1 || (uint64_t) p->cache_phases * p->cache_frames
      * c->n_mels > MAX_CACHE_FLOATS)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "stream params: cache_frames %u out of range (need 1 <= "
        "cache_phases * cache_frames * n_mels <= %u)", p->cache_frames,
        MAX_CACHE_FLOATS);
  return BEENET_OK;
}

void
beenet_stream_free (BeenetStream *st)
{
  if (!st)
    return;
  beenet_frontend_free (st->fe);
  free (st->ring);
  free (st->frames);
  free (st->keys);
  free (st->overflow);
  free (st->phase);
  free (st->last_use);
  free (st);
}

static BeenetStatus
alloc_buffers (BeenetStream *st, BeenetError *err)
{
  const BeenetStreamParams *p = &st->params;
  const size_t slots = (size_t) p->cache_phases * p->cache_frames;
  st->ring = calloc (2 * (size_t) p->history_samples, sizeof (float));
  st->frames = calloc (slots * st->cfg.n_mels, sizeof (float));
  st->keys = calloc (slots, sizeof (uint64_t));
  st->overflow = calloc (slots, 1);
  st->phase = calloc (p->cache_phases, sizeof (uint64_t));
  st->last_use = calloc (p->cache_phases, sizeof (uint64_t));
  if (!st->ring || !st->frames || !st->keys || !st->overflow || !st->phase
      || !st->last_use)
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory allocating the stream (%u samples, %u frames)",
        p->history_samples, p->cache_frames);
  return BEENET_OK;
}

BeenetStatus
beenet_stream_new (const BeenetFrontendConfig *config,
    const BeenetStreamParams *params, BeenetStream **out, BeenetError *err)
{
  beenet_clear_error (err);
  if (!config || !out)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_stream_new: config and out must not be NULL");
  *out = NULL;
  BeenetStream *st = calloc (1, sizeof *st);
  if (!st)
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory allocating the stream");
  BeenetStatus s = beenet_frontend_new (config, &st->fe, err);
  if (s == BEENET_OK) {
    st->cfg = *config;
    if (params)
      st->params = *params;
    else
      beenet_stream_params_default (config, &st->params);
    s = check_params (config, &st->params, err);
  }
  if (s == BEENET_OK)
    s = alloc_buffers (st, err);
  if (s != BEENET_OK) {
    beenet_stream_free (st);
    return s;
  }
  *out = st;
  return BEENET_OK;
}

void
beenet_stream_get_config (const BeenetStream *st, BeenetFrontendConfig *config)
{
  if (st && config)
    *config = st->cfg;
}

void
beenet_stream_reset (BeenetStream *st)
{
  if (!st)
    return;
  st->pos = 0;
  st->bad_end = 0;
  memset (st->keys, 0, sizeof (uint64_t) * st->params.cache_phases
      * st->params.cache_frames);
  memset (st->phase, 0, sizeof (uint64_t) * st->params.cache_phases);
}

uint64_t
beenet_stream_position (const BeenetStream *st)
{
  return st ? st->pos : 0;
}

void
beenet_stream_get_stats (const BeenetStream *st, BeenetStreamStats *stats)
{
  if (st && stats)
    *stats = st->stats;
}

/* Index (within x) + 1 of the last NaN/Inf of x[0..n), 0 if none. */
static size_t
last_nonfinite (const float *x, size_t n)
{
  int acc = 0;
  const BeenetFpState fp = beenet_fp_save ();
  for (size_t done = 0; done < n;) {
    int chunk = n - done > (size_t) INT_MAX ? INT_MAX : (int) (n - done);
    int a = 0;
    beenet_orc_count_nonfinite_f32 (&a, x + done, chunk);
    acc |= a;
    done += (size_t) chunk;
  }
  beenet_fp_restore (fp);
  if (!acc)
    return 0;
  for (size_t i = n; i > 0; i--)
    if (!beenet_all_finite (x + i - 1, 1))
      return i;
  return 0;
}

/* Copies samples (or zeros when samples is NULL) to the ring at pos; n <=
 * history_samples. */
static void
ring_write (BeenetStream *st, const float *samples, size_t n)
{
  const size_t cap = st->params.history_samples;
  size_t at = (size_t) (st->pos % cap);
  while (n > 0) {
    size_t k = n < cap - at ? n : cap - at;
    if (samples) {
      memcpy (st->ring + at, samples, k * sizeof (float));
      memcpy (st->ring + at + cap, samples, k * sizeof (float));
      samples += k;
    } else {
      memset (st->ring + at, 0, k * sizeof (float));
      memset (st->ring + at + cap, 0, k * sizeof (float));
    }
    st->pos += k;
    n -= k;
    at = 0;
  }
}

static BeenetStatus
push (BeenetStream *st, const float *samples, size_t n)
{
  const size_t cap = st->params.history_samples;
  if (n > cap) {             /* only the last cap samples can be read */
    st->pos += n - cap;
    if (samples)
      samples += n - cap;
    n = cap;
  }
  if (samples) {
    size_t bad = last_nonfinite (samples, n);
    if (bad)
      st->bad_end = st->pos + bad;
  }
  ring_write (st, samples, n);
  return BEENET_OK;
}

BeenetStatus
beenet_stream_push (BeenetStream *st, const float *samples, size_t n,
    BeenetError *err)
{
  beenet_clear_error (err);
  if (!st || (!samples && n > 0))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_stream_push: stream and samples must not be NULL");
  return push (st, samples, n);
}

BeenetStatus
beenet_stream_push_zeros (BeenetStream *st, size_t n, BeenetError *err)
{
  beenet_clear_error (err);
  if (!st)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_stream_push_zeros: stream must not be NULL");
  return push (st, NULL, n);
}

/* Whether the window at start (samples win) holds a NaN/Inf.  bad_end
 * answers without reading the samples unless the last bad sample came after
 * the window. */
static bool
window_nonfinite (const BeenetStream *st, uint64_t start, const float *win)
{
  const uint64_t end = start + st->cfg.window_samples;
  if (st->bad_end <= start)
    return false;
  if (st->bad_end <= end)
    return true;
  return !beenet_all_finite (win, st->cfg.window_samples);
}

static BeenetStatus
check_window (const BeenetStream *st, uint64_t start, BeenetError *err)
{
  const uint64_t w = st->cfg.window_samples;
  if (start > st->pos || st->pos - start < w)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "stream window at %llu is not complete: %llu samples pushed, need "
        "%llu", (unsigned long long) start, (unsigned long long) st->pos,
        (unsigned long long) (start + w));
  if (st->pos - start > st->params.history_samples)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "stream window at %llu is no longer held: the stream keeps samples "
        "from %llu (history_samples %u)", (unsigned long long) start,
        (unsigned long long) (st->pos - st->params.history_samples),
        st->params.history_samples);
  return BEENET_OK;
}

/* The frame ring holding grid phase `phase` (or the least recently used
 * one, emptied and retagged). */
static uint32_t
phase_ring (BeenetStream *st, uint64_t phase)
{
  uint32_t r = 0;
  while (r < st->params.cache_phases && st->phase[r] != phase + 1)
    r++;
  if (r == st->params.cache_phases) {
    r = 0;
    for (uint32_t i = 1; i < st->params.cache_phases; i++)
      if (st->last_use[i] < st->last_use[r])
        r = i;
    st->phase[r] = phase + 1;
    memset (st->keys + (size_t) r * st->params.cache_frames, 0,
        sizeof (uint64_t) * st->params.cache_frames);
  }
  st->last_use[r] = ++st->clock;
  return r;
}

/* Frame j of grid phase `phase` (ring r), from the ring or computed into its
 * slot.  Returns false if its Mel energy overflowed. */
static bool
grid_frame (BeenetStream *st, uint32_t r, uint64_t phase, uint64_t j,
    const float **frame)
{
  const size_t slot = (size_t) r * st->params.cache_frames
      + (size_t) (j % st->params.cache_frames);
  float *dst = st->frames + slot * st->cfg.n_mels;
  if (st->keys[slot] == j + 1) {
    st->stats.frames_reused++;
  } else {
    const uint64_t first = j * st->cfg.hop_length + phase;
    const float *src = st->ring + (size_t) (first % st->params.history_samples);
    st->overflow[slot] = !beenet_frontend_frame (st->fe, src, dst);
    st->keys[slot] = j + 1;
    st->stats.frames_computed++;
  }
  *frame = dst;
  return !st->overflow[slot];
}

static BeenetStatus
grid_window (BeenetStream *st, uint64_t start, float *out, BeenetError *err)
{
  const uint32_t M = st->cfg.n_mels;
  const uint64_t phase = start % st->cfg.hop_length;
  const uint64_t j0 = start / st->cfg.hop_length;
  const uint32_t r = phase_ring (st, phase);
  for (uint32_t t = 0; t < st->cfg.n_frames; t++) {
    const float *frame;
    if (!grid_frame (st, r, phase, j0 + t, &frame))
      return beenet_set_error (err, BEENET_ERROR_NONFINITE,
          "input samples too large: Mel energy of frame %u overflows", t);
    memcpy (out + (size_t) t * M, frame, M * sizeof (float));
  }
  return BEENET_OK;
}

/* The checks both window readers start with: arguments (`what` names
 * them in the message), a window still in the ring, finite samples; on
 * success *win is its first sample. */
static BeenetStatus
readable_window (BeenetStream *st, uint64_t start, const void *out,
    const char *what, const float **win, BeenetError *err)
{
  beenet_clear_error (err);
  if (!st || !out)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "%s must not be NULL", what);
  BeenetStatus s = check_window (st, start, err);
  if (s)
    return s;
  *win = st->ring + (size_t) (start % st->params.history_samples);
  if (window_nonfinite (st, start, *win))
    return beenet_set_error (err, BEENET_ERROR_NONFINITE,
        "input samples contain NaN or infinity");
  return BEENET_OK;
}

BeenetStatus
beenet_stream_level (BeenetStream *st, uint64_t start, double *dbfs,
    BeenetError *err)
{
  const float *win = NULL;
  BeenetStatus s = readable_window (st, start, dbfs,
      "beenet_stream_level: stream and dbfs", &win, err);
  if (s)
    return s;
  const size_t n = st->cfg.window_samples;
  double sum = 0.0;
  for (size_t i = 0; i < n; i++)
    sum += (double) win[i] * win[i];
  *dbfs = sum > 0.0 ? 10.0 * log10 (sum / (double) n) : -INFINITY;
  return BEENET_OK;
}

BeenetStatus
beenet_stream_features (BeenetStream *st, uint64_t start, float *out,
    BeenetError *err)
{
  const float *win = NULL;
  BeenetStatus s = readable_window (st, start, out,
      "beenet_stream_features: stream and out", &win, err);
  if (s)
    return s;
  s = grid_window (st, start, out, err);
  if (s == BEENET_OK)
    st->stats.windows++;
  return s;
}
