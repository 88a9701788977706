/* Log-Mel front-end: exactly docs/model-format.md section 3.
 *
 * Framing -> periodic Hann window -> zero padding -> real FFT (GstFFTF32) ->
 * power spectrum -> HTK Mel filterbank (librosa htk=True, norm=None) ->
 * ln(max(E, log_floor)).  Every buffer is allocated in beenet_frontend_new;
 * beenet_frontend_compute allocates nothing.  The element-wise loops
 * (window multiply, power spectrum, S16 conversion, stereo mixdown) are ORC
 * programs from beenet-orc.orc. */
#include "beenet-private.h"
#include "beenet-orc.h"

#include <gst/fft/gstfftf32.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct BeenetFrontend {
  BeenetFrontendConfig cfg;
  GstFFTF32 *fft;
  float *window;             /* frame_length periodic Hann coefficients */
  float *frame;              /* fft_size: windowed frame, zero tail */
  GstFFTF32Complex *spectrum;/* fft_size/2 + 1 */
  float *power;              /* fft_size/2 + 1 */
  /* Sparse Mel filterbank: filter m covers bins
   * [mel_start[m], mel_start[m] + mel_len[m]) with weights starting at
   * mel_weights[mel_offset[m]]. */
  uint32_t *mel_start;
  uint32_t *mel_len;
  uint32_t *mel_offset;
  float *mel_weights;
};

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
  if (fe->fft)
    gst_fft_f32_free (fe->fft);
  free (fe->window);
  free (fe->frame);
  free (fe->spectrum);
  free (fe->power);
  free (fe->mel_start);
  free (fe->mel_len);
  free (fe->mel_offset);
  free (fe->mel_weights);
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
  fe->frame = calloc (config->fft_size, sizeof (float));
  fe->spectrum = calloc (n_bins, sizeof (GstFFTF32Complex));
  fe->power = calloc (n_bins, sizeof (float));
  fe->fft = gst_fft_f32_new ((gint) config->fft_size, FALSE);
  if (!fe->window || !fe->frame || !fe->spectrum || !fe->power || !fe->fft) {
    beenet_frontend_free (fe);
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory allocating the front-end buffers");
  }
  for (uint32_t j = 0; j < config->frame_length; j++)
    fe->window[j] = (float) (0.5 - 0.5 * cos (2.0 * M_PI * (double) j
            / (double) config->frame_length));

  st = build_mel (fe, err);
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

bool
beenet_frontend_frame (BeenetFrontend *fe, const float *src, float *dst)
{
  const BeenetFrontendConfig *c = &fe->cfg;
  const int n_bins = (int) (c->fft_size / 2 + 1);
  const double floor_ = c->log_floor;
  /* frame[frame_length..fft_size) stays zero from creation. */
  beenet_orc_mul_f32 (fe->frame, src, fe->window, (int) c->frame_length);
  gst_fft_f32_fft (fe->fft, fe->frame, fe->spectrum);
  beenet_orc_power_c32 (fe->power, (const orc_uint64 *) fe->spectrum, n_bins);
  for (uint32_t m = 0; m < c->n_mels; m++) {
    const float *w = fe->mel_weights + fe->mel_offset[m];
    const float *p = fe->power + fe->mel_start[m];
    double e = 0.0;
    for (uint32_t i = 0; i < fe->mel_len[m]; i++)
      e += (double) p[i] * (double) w[i];
    if (!isfinite (e))   /* float power spectrum overflowed */
      return false;
    dst[m] = (float) log (e > floor_ ? e : floor_);
  }
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
  while (n > 0) {
    int chunk = n > (size_t) INT_MAX ? INT_MAX : (int) n;
    beenet_orc_convert_s16_f32 (out, in, 1.0f / 32768.0f, chunk);
    in += chunk;
    out += chunk;
    n -= (size_t) chunk;
  }
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
    while (frames > 0) {
      int chunk = frames > (size_t) INT_MAX ? INT_MAX : (int) frames;
      beenet_orc_mix_stereo_f32 (out, (const orc_uint64 *) in, 0.5f, chunk);
      in += 2 * (size_t) chunk;
      out += chunk;
      frames -= (size_t) chunk;
    }
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
