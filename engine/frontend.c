/* Log-Mel front-end: exactly docs/model-format.md section 3.
 *
 * Framing -> periodic Hann window -> zero padding -> real FFT (fft.h: FFTW
 * when built with it, else GstFFTF32) ->
 * power spectrum -> HTK Mel filterbank (librosa htk=True, norm=None) ->
 * ln(max(E, log_floor)).  Every buffer is allocated in beenet_frontend_new;
 * beenet_frontend_compute allocates nothing.  The element-wise loops
 * (window multiply, power spectrum, S16 conversion, stereo mixdown) are ORC
 * programs from beenet-orc.orc; the Mel filterbank and the logarithm work on
 * blocks of MEL_LANES filters with fixed-length inner loops, which the
 * compiler vectorises at -O2 (float32 throughout). */
#include "beenet-private.h"
#include "beenet-orc.h"
#include "fft.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct BeenetFrontend {
  BeenetFrontendConfig cfg;
  BeenetFft *fft;            /* frame -> spectrum */
  float *window;             /* frame_length periodic Hann coefficients */
  float *frame;              /* fft_size: windowed frame, zero tail */
  float *spectrum;           /* fft_size/2 + 1 interleaved (re, im) */
  float *power;              /* fft_size/2 + 1 */
  /* Sparse Mel filterbank (only while building): filter m covers bins
   * [mel_start[m], mel_start[m] + mel_len[m]) with weights starting at
   * mel_weights[mel_offset[m]]. */
  uint32_t *mel_start;
  uint32_t *mel_len;
  uint32_t *mel_offset;
  float *mel_weights;
  /* The filterbank used per frame, in blocks of MEL_LANES filters (the last
   * block padded with all-zero filters): block b covers bins [blk_start[b],
   * blk_start[b] + blk_len[b]); the weight of bin blk_start[b] + k for
   * filter b * MEL_LANES + i is blk_w[blk_offset[b] + k * MEL_LANES + i]. */
  uint32_t n_blocks;
  uint32_t *blk_start;
  uint32_t *blk_len;
  uint32_t *blk_offset;
  float *blk_w;
  float *energy;             /* n_blocks * MEL_LANES Mel energies */
  float *logmel;             /* n_blocks * MEL_LANES log-Mel values */
};

#define MEL_LANES 8

void
beenet_frontend_config_default (BeenetFrontendConfig *config)
{
  if (!config)
    return;
  config->sample_rate = 16000;
  config->window_samples = 16000;
  config->frame_length = 400;
  config->hop_length = 160;
  config->fft_size = 512;
  config->n_mels = 64;
  config->n_frames = 98;
  config->fmin = 60.0f;
  config->fmax = 7800.0f;
  config->log_floor = 1e-6f;
}

BeenetStatus
beenet_frontend_config_validate (const BeenetFrontendConfig *c,
    BeenetStatus code, const char *what, BeenetError *err)
{
  if (c->sample_rate < 1 || c->sample_rate > 1000000)
    return beenet_set_error (err, code,
        "%ssample_rate %u out of range [1, 1000000]", what, c->sample_rate);
  if (c->window_samples < 1 || c->window_samples > (1u << 24))
    return beenet_set_error (err, code,
        "%swindow_samples %u out of range [1, 16777216]", what,
        c->window_samples);
  if (c->frame_length < 2 || c->frame_length > 65536)
    return beenet_set_error (err, code,
        "%sframe_length %u out of range [2, 65536]", what, c->frame_length);
  if (c->hop_length < 1 || c->hop_length > (1u << 24))
    return beenet_set_error (err, code,
        "%shop_length %u out of range [1, 16777216]", what, c->hop_length);
  if (c->fft_size < c->frame_length || c->fft_size > 65536
      || (c->fft_size & (c->fft_size - 1)) != 0)
    return beenet_set_error (err, code,
        "%sfft_size %u must be a power of two in [frame_length=%u, 65536]",
        what, c->fft_size, c->frame_length);
  if (c->n_mels < 1 || c->n_mels > 1024)
    return beenet_set_error (err, code,
        "%sn_mels %u out of range [1, 1024]", what, c->n_mels);
  if (c->n_frames < 1 || (uint64_t) c->n_frames * c->n_mels > (1u << 22))
    return beenet_set_error (err, code,
        "%sn_frames %u out of range (need 1 <= n_frames * n_mels <= 4194304)",
        what, c->n_frames);
  if ((uint64_t) (c->n_frames - 1) * c->hop_length + c->frame_length
      > c->window_samples)
    return beenet_set_error (err, code,
        "%sn_frames %u: (n_frames - 1) * hop_length + frame_length exceeds "
        "window_samples %u", what, c->n_frames, c->window_samples);
  if (!isfinite (c->fmin) || c->fmin < 0.0f)
    return beenet_set_error (err, code, "%sfmin %g must be finite and >= 0",
        what, (double) c->fmin);
  if (!isfinite (c->fmax) || !(c->fmin < c->fmax)
      || (double) c->fmax > c->sample_rate / 2.0)
    return beenet_set_error (err, code,
        "%sfmax %g must satisfy fmin (%g) < fmax <= sample_rate / 2 (%g)",
        what, (double) c->fmax, (double) c->fmin, c->sample_rate / 2.0);
  if (!isfinite (c->log_floor) || !(c->log_floor > 0.0f))
    return beenet_set_error (err, code,
        "%slog_floor %g must be finite and > 0", what, (double) c->log_floor);
  return BEENET_OK;
}

static double
hz_to_mel (double f)
{
  return 2595.0 * log10 (1.0 + f / 700.0);
}

static double
mel_to_hz (double m)
{
  return 700.0 * (pow (10.0, m / 2595.0) - 1.0);
}

void
beenet_frontend_free (BeenetFrontend *fe)
{
  if (!fe)
    return;
  beenet_fft_free (fe->fft);
  free (fe->window);
  free (fe->frame);
  free (fe->spectrum);
  free (fe->power);
  free (fe->mel_start);
  free (fe->mel_len);
  free (fe->mel_offset);
  free (fe->mel_weights);
  free (fe->blk_start);
  free (fe->blk_len);
  free (fe->blk_offset);
  free (fe->blk_w);
  free (fe->energy);
  free (fe->logmel);
  free (fe);
}

/* Build the sparse filterbank.  Weights follow librosa.filters.mel
 * (htk=True, norm=None): w = max(0, min(lower, upper)) computed in double. */
static BeenetStatus
build_mel (BeenetFrontend *fe, BeenetError *err)
{
  const BeenetFrontendConfig *c = &fe->cfg;
  const uint32_t n_bins = c->fft_size / 2 + 1;
  const uint32_t n_pts = c->n_mels + 2;
  double *hz = malloc (sizeof (double) * n_pts);
  size_t total = 0;

  fe->mel_start = calloc (c->n_mels, sizeof (uint32_t));
  fe->mel_len = calloc (c->n_mels, sizeof (uint32_t));
  fe->mel_offset = calloc (c->n_mels, sizeof (uint32_t));
  if (!hz || !fe->mel_start || !fe->mel_len || !fe->mel_offset) {
    free (hz);
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory allocating the Mel filterbank");
  }

  const double mlo = hz_to_mel (c->fmin), mhi = hz_to_mel (c->fmax);
  for (uint32_t i = 0; i < n_pts; i++)
    hz[i] = mel_to_hz (mlo + (mhi - mlo) * (double) i / (double) (n_pts - 1));

  /* Pass 1: extent of each filter's non-zero support. */
  for (uint32_t m = 0; m < c->n_mels; m++) {
    uint32_t first = n_bins, last = 0;
    for (uint32_t k = 0; k < n_bins; k++) {
      double f = (double) k * c->sample_rate / c->fft_size;
      double lower = (f - hz[m]) / (hz[m + 1] - hz[m]);
      double upper = (hz[m + 2] - f) / (hz[m + 2] - hz[m + 1]);
      double w = fmax (0.0, fmin (lower, upper));
      if ((float) w != 0.0f) {
        if (first == n_bins)
          first = k;
        last = k;
      }
    }
    fe->mel_offset[m] = (uint32_t) total;
    if (first == n_bins) {
      fe->mel_start[m] = 0;
      fe->mel_len[m] = 0;
    } else {
      fe->mel_start[m] = first;
      fe->mel_len[m] = last - first + 1;
    }
    total += fe->mel_len[m];
  }

  fe->mel_weights = malloc (sizeof (float) * (total ? total : 1));
  if (!fe->mel_weights) {
    free (hz);
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory allocating the Mel filterbank");
  }
  /* Pass 2: the weights (zeros inside the support are kept). */
  for (uint32_t m = 0; m < c->n_mels; m++) {
    for (uint32_t i = 0; i < fe->mel_len[m]; i++) {
      uint32_t k = fe->mel_start[m] + i;
      double f = (double) k * c->sample_rate / c->fft_size;
      double lower = (f - hz[m]) / (hz[m + 1] - hz[m]);
      double upper = (hz[m + 2] - f) / (hz[m + 2] - hz[m + 1]);
      fe->mel_weights[fe->mel_offset[m] + i] =
          (float) fmax (0.0, fmin (lower, upper));
    }
  }
  free (hz);
  return BEENET_OK;
}

/* Bins [*first, *end) covered by the filters of block b. */
static void
block_extent (const BeenetFrontend *fe, uint32_t b, uint32_t *first,
    uint32_t *end)
{
  *first = UINT32_MAX;
  *end = 0;
  for (uint32_t i = 0; i < MEL_LANES; i++) {
    const uint32_t m = b * MEL_LANES + i;
    if (m >= fe->cfg.n_mels || fe->mel_len[m] == 0)
      continue;
    if (fe->mel_start[m] < *first)
      *first = fe->mel_start[m];
    if (fe->mel_start[m] + fe->mel_len[m] > *end)
      *end = fe->mel_start[m] + fe->mel_len[m];
  }
  if (*first > *end)
    *first = *end = 0;
}

/* Rearranges the sparse filterbank into blocks (then frees it). */
static BeenetStatus
build_blocks (BeenetFrontend *fe, BeenetError *err)
{
  const uint32_t nb = (fe->cfg.n_mels + MEL_LANES - 1) / MEL_LANES;
  size_t total = 0;
  fe->n_blocks = nb;
  fe->blk_start = calloc (nb, sizeof (uint32_t));
  fe->blk_len = calloc (nb, sizeof (uint32_t));
  fe->blk_offset = calloc (nb, sizeof (uint32_t));
  fe->energy = calloc ((size_t) nb * MEL_LANES, sizeof (float));
  fe->logmel = calloc ((size_t) nb * MEL_LANES, sizeof (float));
  if (!fe->blk_start || !fe->blk_len || !fe->blk_offset || !fe->energy
      || !fe->logmel)
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory allocating the Mel filterbank");
  for (uint32_t b = 0; b < nb; b++) {
    uint32_t first, end;
    block_extent (fe, b, &first, &end);
    fe->blk_start[b] = first;
    fe->blk_len[b] = end - first;
    fe->blk_offset[b] = (uint32_t) total;
    total += (size_t) (end - first) * MEL_LANES;
  }
  fe->blk_w = calloc (total ? total : 1, sizeof (float));
  if (!fe->blk_w)
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory allocating the Mel filterbank");
  for (uint32_t m = 0; m < fe->cfg.n_mels; m++) {
    const uint32_t b = m / MEL_LANES, i = m % MEL_LANES;
    float *w = fe->blk_w + fe->blk_offset[b]
        + (size_t) (fe->mel_start[m] - fe->blk_start[b]) * MEL_LANES + i;
    for (uint32_t k = 0; k < fe->mel_len[m]; k++)
      w[(size_t) k * MEL_LANES] = fe->mel_weights[fe->mel_offset[m] + k];
  }
  free (fe->mel_start);
  free (fe->mel_len);
  free (fe->mel_offset);
  free (fe->mel_weights);
  fe->mel_start = fe->mel_len = fe->mel_offset = NULL;
  fe->mel_weights = NULL;
  return BEENET_OK;
}

BeenetStatus
beenet_frontend_new (const BeenetFrontendConfig *config, BeenetFrontend **out,
    BeenetError *err)
{
  BeenetStatus st;

  beenet_clear_error (err);
  if (!config || !out)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_frontend_new: config and out must not be NULL");
  *out = NULL;
  st = beenet_frontend_config_validate (config, BEENET_ERROR_INVALID_ARGUMENT,
      "front-end config: ", err);
  if (st != BEENET_OK)
    return st;

  beenet_orc_init_once ();

  BeenetFrontend *fe = calloc (1, sizeof *fe);
  if (!fe)
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory allocating the front-end");
  fe->cfg = *config;

  const uint32_t n_bins = config->fft_size / 2 + 1;
  fe->window = malloc (sizeof (float) * config->frame_length);
  fe->frame = beenet_fft_alloc (config->fft_size);
  fe->spectrum = beenet_fft_alloc (2 * (size_t) n_bins);
  fe->power = calloc (n_bins, sizeof (float));
  if (!fe->window || !fe->frame || !fe->spectrum || !fe->power) {
    beenet_frontend_free (fe);
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory allocating the front-end buffers");
  }
  st = beenet_fft_new (config->fft_size, fe->frame, fe->spectrum, &fe->fft,
      err);
  if (st != BEENET_OK) {
    beenet_frontend_free (fe);
    return st;
  }
  for (uint32_t j = 0; j < config->frame_length; j++)
    fe->window[j] = (float) (0.5 - 0.5 * cos (2.0 * M_PI * (double) j
            / (double) config->frame_length));

  st = build_mel (fe, err);
  if (st == BEENET_OK)
    st = build_blocks (fe, err);
  if (st != BEENET_OK) {
    beenet_frontend_free (fe);
    return st;
  }
  *out = fe;
  return BEENET_OK;
}

BeenetStatus
beenet_frontend_compute (BeenetFrontend *fe, const float *samples, size_t n,
    float *out, BeenetError *err)
{
  beenet_clear_error (err);
  if (!fe || !samples || !out)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_frontend_compute: frontend, samples and out must not be NULL");
  const BeenetFrontendConfig *c = &fe->cfg;
  if (n < c->window_samples)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_frontend_compute: got %zu samples, need at least %u", n,
        c->window_samples);
  if (!beenet_all_finite (samples, c->window_samples))
    return beenet_set_error (err, BEENET_ERROR_NONFINITE,
        "input samples contain NaN or infinity");

  for (uint32_t t = 0; t < c->n_frames; t++) {
    if (!beenet_frontend_frame (fe, samples + (size_t) t * c->hop_length,
            out + (size_t) t * c->n_mels))
      return beenet_set_error (err, BEENET_ERROR_NONFINITE,
          "input samples too large: Mel energy of frame %u overflows", t);
  }
  return BEENET_OK;
}

/* e[i] = sum_k p[k] * w[k * MEL_LANES + i] for the MEL_LANES filters of one
 * block (fixed-length inner loop: vectorised). */
static void
mel_block (const float *p, const float *w, uint32_t len, float *e)
{
  float acc[MEL_LANES] = { 0.0f };
  for (uint32_t k = 0; k < len; k++, w += MEL_LANES)
    for (int i = 0; i < MEL_LANES; i++)
      acc[i] += p[k] * w[i];
  memcpy (e, acc, sizeof acc);
}

/* y[i] = ln(max(x[i], floor)) for MEL_LANES values x >= +0 and a normal
 * floor: Cephes logf (argument reduction to [sqrt(1/2), sqrt(2)),
 * degree-9 polynomial, ln 2 split in two; error within about 1 ulp of
 * float).  The reduction is integer arithmetic on the bits (non-negative
 * floats order like their bit patterns as int32), so the loop has no branch
 * or call and vectorises. */
static void
log_block (const float *x, float floor_, float *y)
{
  int32_t fb, xb[MEL_LANES];
  memcpy (&fb, &floor_, sizeof fb);
  memcpy (xb, x, sizeof xb);
  for (int i = 0; i < MEL_LANES; i++) {
    const int32_t u = xb[i] > fb ? xb[i] : fb;       /* max(x, floor) */
    int32_t mb = (u & 0x007fffff) | 0x3f000000;      /* mantissa in [0.5, 1) */
    const int32_t low = mb < 0x3f3504f3;             /* below sqrt(1/2) */
    mb += low << 23;                                 /* then twice it */
    const float e = (float) ((u >> 23) - 126 - low);
    float m;
    memcpy (&m, &mb, sizeof m);
    const float f = m - 1.0f;
    const float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    const float r = p * f * z - 2.12194440e-4f * e - 0.5f * z;
    y[i] = (f + r) + 0.693359375f * e;
  }
}

/* The same for a subnormal floor (values that may be subnormal): libm. */
static void
log_block_subnormal (const float *x, float floor_, float *y)
{
  for (int i = 0; i < MEL_LANES; i++)
    y[i] = logf (x[i] > floor_ ? x[i] : floor_);
}

bool
beenet_frontend_frame (BeenetFrontend *fe, const float *src, float *dst)
{
  const BeenetFrontendConfig *c = &fe->cfg;
  const int n_bins = (int) (c->fft_size / 2 + 1);
  /* frame[frame_length..fft_size) stays zero from creation. */
  const BeenetFpState fp = beenet_fp_save ();
  beenet_orc_mul_f32 (fe->frame, src, fe->window, (int) c->frame_length);
  beenet_fft_forward (fe->fft);
  beenet_orc_power_c32 (fe->power, (const orc_uint64 *) fe->spectrum, n_bins);
  beenet_fp_restore (fp);
  for (uint32_t b = 0; b < fe->n_blocks; b++)
    mel_block (fe->power + fe->blk_start[b], fe->blk_w + fe->blk_offset[b],
        fe->blk_len[b], fe->energy + (size_t) b * MEL_LANES);
  for (uint32_t m = 0; m < c->n_mels; m++)
    if (!(fe->energy[m] <= FLT_MAX))  /* the float spectrum overflowed */
      return false;
  void (*log_fn) (const float *, float, float *) =
      c->log_floor >= FLT_MIN ? log_block : log_block_subnormal;
  for (uint32_t b = 0; b < fe->n_blocks; b++)
    log_fn (fe->energy + (size_t) b * MEL_LANES, c->log_floor,
        fe->logmel + (size_t) b * MEL_LANES);
  memcpy (dst, fe->logmel, sizeof (float) * c->n_mels);
  return true;
}

const BeenetFrontendConfig *
beenet_frontend_get_config (const BeenetFrontend *fe)
{
  return &fe->cfg;
}

void
beenet_convert_s16 (const int16_t *in, float *out, size_t n)
{
  if (!in || !out)
    return;
  beenet_orc_init_once ();
  const BeenetFpState fp = beenet_fp_save ();
  while (n > 0) {
    int chunk = n > (size_t) INT_MAX ? INT_MAX : (int) n;
    beenet_orc_convert_s16_f32 (out, in, 1.0f / 32768.0f, chunk);
    in += chunk;
    out += chunk;
    n -= (size_t) chunk;
  }
  beenet_fp_restore (fp);
}

void
beenet_mixdown_f32 (const float *in, float *out, size_t frames,
    unsigned channels)
{
  if (!in || !out || channels == 0)
    return;
  if (channels == 1) {
    if (in != out)
      memmove (out, in, frames * sizeof (float));
    return;
  }
  /* The ORC program reads {l, r} as one 64-bit word: use it only when the
   * input is 8-byte aligned (always true for GStreamer buffers). */
  if (channels == 2 && ((uintptr_t) in & 7u) == 0) {
    beenet_orc_init_once ();
    const BeenetFpState fp = beenet_fp_save ();
    while (frames > 0) {
      int chunk = frames > (size_t) INT_MAX ? INT_MAX : (int) frames;
      beenet_orc_mix_stereo_f32 (out, (const orc_uint64 *) in, 0.5f, chunk);
      in += 2 * (size_t) chunk;
      out += chunk;
      frames -= (size_t) chunk;
    }
    beenet_fp_restore (fp);
    return;
  }
  /* Unaligned stereo or more than two channels (an interleaved stride is
   * not an ORC pattern). */
  const float inv = 1.0f / (float) channels;
  for (size_t f = 0; f < frames; f++) {
    const float *fr = in + f * channels;
    float s = 0.0f;
    for (unsigned ch = 0; ch < channels; ch++)
      s += fr[ch];
    out[f] = s * inv;
  }
}
