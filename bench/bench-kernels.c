/* bench-kernels: per-ISA XNOR/popcount peak and kernel efficiency.
 *
 *   bench-kernels [MODEL.gguf] [-s SECONDS]
 *
 * 1. For every kernel set this CPU supports, a register-blocked
 *    XNOR/popcount loop (the set's own instruction sequence on data held in
 *    registers: no loads, no driver) gives the peak in Gbit-MAC/s.
 * 2. Every distinct bconv2d / bdense / conv2d layer shape of the model (the
 *    built-in realistic model without a file) is timed through the real
 *    driver + micro-kernels of each set on random data; binary layers are
 *    reported in Gbit-MAC/s of in-bounds taps (the zero-padded taps that
 *    the model's BOP count includes are skipped, not computed) and as % of
 *    that set's peak, float layers in GFLOP/s (padded taps included).
 * The machine may be shared (pin with taskset): times are the thread's CPU
 * time, and each binary layer and its set's peak loop alternate in 10
 * short runs each and the best rate of each is kept, so the % of peak
 * compares runs made under the same load.
 * Not a test: nothing is asserted. */
#include "beenet.h"
#include "kernels.h"
#include "test-models.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(BEENET_HAVE_AVX2) || defined(BEENET_HAVE_AVX512)
#include <immintrin.h>
#endif
#if defined(BEENET_HAVE_NEON)
#include <arm_neon.h>
#endif

/* CPU time of this thread: on a loaded machine the wall clock also counts
 * the time the thread waits for a CPU (at a load average of 40 on two CPUs
 * that is most of it, and a best-of-N wall time is then meaningless); the
 * thread's CPU time counts only the time it runs, which is what a peak and
 * a layer's rate are about.  It still includes cache and SMT-sibling
 * interference from the other jobs, alike for the peak loop and the layer
 * runs that alternate with it. */
static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

/* ---- peak loops --------------------------------------------------------
 * Each step XORs one "input" register with NB weight registers, counts the
 * bits and accumulates, exactly like the set's bdot inner loop; the input
 * changes every step (so nothing is loop-invariant) at the cost of one
 * extra instruction per NB blocks.  Returns bit-MACs done; *sink defeats
 * dead-code elimination. */

enum { PEAK_STEPS = 1 << 16 };

/* Portable: the lane loop of bdot_portable (the compiler vectorises it
 * with baseline SSE2 the same way). */
static uint64_t
peak_portable (uint32_t seed, uint32_t *sink)
{
  enum { LANES = 16 };
  uint32_t a = seed, w[LANES], s[LANES];
  for (int l = 0; l < LANES; l++) {
    w[l] = seed * (3u + 2u * (uint32_t) l);
    s[l] = 0;
  }
  for (uint32_t i = 0; i < PEAK_STEPS; i++) {
    for (int l = 0; l < LANES; l++)
      s[l] += beenet_popcount32 (a ^ w[l]);
    a += 0x9e3779b9u;
  }
  for (int l = 1; l < LANES; l++)
    s[0] += s[l];
  *sink += s[0];
  return (uint64_t) PEAK_STEPS * LANES * 32;
}

#if defined(BEENET_HAVE_AVX2)
/* AVX2: 4 weight registers, nibble-lookup popcount into byte counters
 * widened every 31 steps (the sequence of bdot_avx2). */
__attribute__((target ("avx2"))) static uint64_t
peak_avx2 (uint32_t seed, uint32_t *sink)
{
  const __m256i lut = _mm256_setr_epi8 (0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3,
      2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low4 = _mm256_set1_epi8 (0x0f);
  const __m256i inc = _mm256_set1_epi32 (0x9e3779b9);
  __m256i a = _mm256_set1_epi32 ((int) seed), w[4], c8[4], c32[4];
#pragma GCC unroll 4
  for (int b = 0; b < 4; b++) {
    w[b] = _mm256_set1_epi32 ((int) (seed * (3u + 2u * (unsigned) b)));
    c8[b] = c32[b] = _mm256_setzero_si256 ();
  }
  for (uint32_t i = 0; i < PEAK_STEPS / 31; i++) {
    for (int k = 0; k < 31; k++) {
#pragma GCC unroll 4
      for (int b = 0; b < 4; b++) {
        const __m256i x = _mm256_xor_si256 (a, w[b]);
        const __m256i lo = _mm256_and_si256 (x, low4);
        const __m256i hi = _mm256_and_si256 (_mm256_srli_epi16 (x, 4), low4);
        c8[b] = _mm256_add_epi8 (c8[b], _mm256_add_epi8 (
                _mm256_shuffle_epi8 (lut, lo), _mm256_shuffle_epi8 (lut, hi)));
      }
      a = _mm256_add_epi32 (a, inc);
    }
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++) {
      c32[b] = _mm256_add_epi32 (c32[b], _mm256_madd_epi16 (
              _mm256_maddubs_epi16 (c8[b], _mm256_set1_epi8 (1)),
              _mm256_set1_epi16 (1)));
      c8[b] = _mm256_setzero_si256 ();
    }
  }
  __m256i s = _mm256_add_epi32 (_mm256_add_epi32 (c32[0], c32[1]),
      _mm256_add_epi32 (c32[2], c32[3]));
  *sink += (uint32_t) _mm256_extract_epi32 (s, 0);
  return (uint64_t) (PEAK_STEPS / 31) * 31 * 4 * 256;
}
#endif

#if defined(BEENET_HAVE_AVX512)
/* AVX-512: 8 weight registers, XOR + VPOPCNTD + add (bdot_avx512). */
__attribute__((target ("avx512f,avx512vpopcntdq"))) static uint64_t
peak_avx512 (uint32_t seed, uint32_t *sink)
{
  const __m512i inc = _mm512_set1_epi32 (0x9e3779b9);
  __m512i a = _mm512_set1_epi32 ((int) seed), w[8], s[8];
#pragma GCC unroll 8
  for (int b = 0; b < 8; b++) {
    w[b] = _mm512_set1_epi32 ((int) (seed * (3u + 2u * (unsigned) b)));
    s[b] = _mm512_setzero_si512 ();
  }
  for (uint32_t i = 0; i < PEAK_STEPS; i++) {
#pragma GCC unroll 8
    for (int b = 0; b < 8; b++)
      s[b] = _mm512_add_epi32 (s[b],
          _mm512_popcnt_epi32 (_mm512_xor_si512 (a, w[b])));
    a = _mm512_add_epi32 (a, inc);
  }
#pragma GCC unroll 8
  for (int b = 1; b < 8; b++)
    s[0] = _mm512_add_epi32 (s[0], s[b]);
  *sink += (uint32_t) _mm512_reduce_add_epi32 (s[0]);
  return (uint64_t) PEAK_STEPS * 8 * 512;
}
#endif

#if defined(BEENET_HAVE_NEON)
/* NEON: 4 blocks of 4 registers, XOR + CNT into byte counters widened
 * with UADDLP/UADALP every 31 steps (the sequence of bdot_neon). */
static uint64_t
peak_neon (uint32_t seed, uint32_t *sink)
{
  const uint32x4_t inc = vdupq_n_u32 (0x9e3779b9u);
  uint32x4_t a = vdupq_n_u32 (seed), w[16], c32[16];
  uint8x16_t c8[16];
#pragma GCC unroll 16
  for (int v = 0; v < 16; v++) {
    w[v] = vdupq_n_u32 (seed * (3u + 2u * (unsigned) v));
    c8[v] = vdupq_n_u8 (0);
    c32[v] = vdupq_n_u32 (0);
  }
  for (uint32_t i = 0; i < PEAK_STEPS / 31; i++) {
    for (int k = 0; k < 31; k++) {
#pragma GCC unroll 16
      for (int v = 0; v < 16; v++)
        c8[v] = vaddq_u8 (c8[v],
            vcntq_u8 (vreinterpretq_u8_u32 (veorq_u32 (a, w[v]))));
      a = vaddq_u32 (a, inc);
    }
#pragma GCC unroll 16
    for (int v = 0; v < 16; v++) {
      c32[v] = vpadalq_u16 (c32[v], vpaddlq_u8 (c8[v]));
      c8[v] = vdupq_n_u8 (0);
    }
  }
#pragma GCC unroll 16
  for (int v = 1; v < 16; v++)
    c32[0] = vaddq_u32 (c32[0], c32[v]);
  *sink += vaddvq_u32 (c32[0]);
  return (uint64_t) (PEAK_STEPS / 31) * 31 * 16 * 128;
}
#endif

typedef uint64_t (*PeakFn) (uint32_t seed, uint32_t *sink);

static PeakFn
peak_fn (const char *set)
{
#if defined(BEENET_HAVE_AVX512)
  if (strncmp (set, "avx512", 6) == 0)
    return peak_avx512;
#endif
#if defined(BEENET_HAVE_AVX2)
  if (strcmp (set, "avx2") == 0)
    return peak_avx2;
#endif
#if defined(BEENET_HAVE_NEON)
  if (strcmp (set, "neon") == 0)
    return peak_neon;
#endif
  return strcmp (set, "portable") == 0 ? peak_portable : NULL;
}

/* ---- timing ------------------------------------------------------------ */

typedef struct {
  const BeenetKernels *k;
  const BeenetConvGeom *g;
  const void *in, *prep;
  const float *scale, *bias;
  float *out;
  bool binary, dense;
} Job;

static void
run_job (const Job *j)
{
  const BeenetConvGeom *g = j->g;
  if (j->binary && j->dense)
    beenet_bdense (j->k, g->c, g->cout, j->in, j->prep, j->scale, j->bias,
        g->relu, j->out);
  else if (j->binary)
    beenet_bconv2d (j->k, g, j->in, j->prep, j->scale, j->bias, NULL, j->out);
  else
    beenet_conv2d (j->k, g, j->in, j->prep, j->scale, j->bias, j->out);
}

/* Calls per second of j over one run of >= dt seconds.  The clock is read
 * once per batch of calls, and batches grow until one lasts >= 1 ms: on a
 * virtual machine reading the thread's CPU clock is a system call (1.5 us
 * measured here), which would otherwise be counted as kernel time (10 %
 * of a 2-us binary conv read every 8 calls, most of a 0.03-us bdense). */
static double
job_rate (const Job *j, double dt)
{
  uint64_t calls = 0, batch = 8;
  const double t0 = now ();
  double t = 0.0, last = 0.0;
  do {
    for (uint64_t r = 0; r < batch; r++)
      run_job (j);
    calls += batch;
    t = now () - t0;
    if (t - last < 1e-3)
      batch *= 2;
    last = t;
  } while (t < dt);
  return (double) calls / t;
}

/* Bit-MACs per second of the peak loop over one run of >= dt seconds. */
static double
peak_rate (PeakFn fn, double dt, uint32_t *sink)
{
  uint64_t bits = 0;
  const double t0 = now ();
  double t;
  do
    bits += fn (1 + (uint32_t) bits, sink);
  while ((t = now () - t0) < dt);
  return (double) bits / t;
}

/* The machine may be shared, so the layer and the peak loop alternate in
 * short runs and the best of each is kept: their ratio then compares
 * runs made under the same load. */
enum { ROUNDS = 10 };

static void
measure (const Job *j, PeakFn fn, double budget, double *calls_per_s,
    double *peak_bits_per_s)
{
  uint32_t sink = 0;
  *calls_per_s = *peak_bits_per_s = 0.0;
  for (int r = 0; r < ROUNDS; r++) {
    const double c = job_rate (j, budget / (2 * ROUNDS));
    const double p = fn ? peak_rate (fn, budget / (2 * ROUNDS), &sink) : 0.0;
    *calls_per_s = c > *calls_per_s ? c : *calls_per_s;
    *peak_bits_per_s = p > *peak_bits_per_s ? p : *peak_bits_per_s;
  }
  if (sink == 0xdeadbeef)
    printf (" ");
}

static double
peak_gbitmacs (PeakFn fn, double budget)
{
  uint32_t sink = 0;
  double best = 0.0;
  for (int r = 0; r < ROUNDS; r++) {
    const double p = peak_rate (fn, budget / ROUNDS, &sink);
    best = p > best ? p : best;
  }
  if (sink == 0xdeadbeef)
    printf (" ");
  return best * 1e-9;
}

/* ---- layer shapes from the model description -------------------------- */

typedef struct {
  char op[16];
  BeenetConvGeom g;
  unsigned count;
} Layer;

/* Parses "  N op  in A[,B] -> HxWxC  kKHxKW sSHxSW pPHxPW [gG] [relu]"
 * lines of beenet_model_describe(); act[] holds activation shapes. */
static unsigned
parse_layers (const char *desc, unsigned frames, unsigned mels,
    Layer *layers, unsigned max)
{
  static unsigned shapes[4097][3];
  shapes[0][0] = frames;
  shapes[0][1] = mels;
  shapes[0][2] = 1;
  unsigned n = 0;
  const char *line = strstr (desc, "nodes (");
  for (; line && (line = strchr (line, '\n')); line++) {
    unsigned idx, in, h, w, c;
    char op[16];
    if (sscanf (line + 1, " %u %15s in %u", &idx, op, &in) != 3 || idx > 4095)
      continue;
    const char *arrow = strstr (line, "->");
    if (!arrow || sscanf (arrow, "-> %ux%ux%u", &h, &w, &c) != 3)
      continue;
    shapes[idx + 1][0] = h;
    shapes[idx + 1][1] = w;
    shapes[idx + 1][2] = c;
    const bool dense = strcmp (op, "bdense") == 0;
    if (strcmp (op, "bconv2d") && strcmp (op, "conv2d") && !dense)
      continue;
    BeenetConvGeom g = { .h = shapes[in][0], .w = shapes[in][1],
      .c = shapes[in][2], .ho = h, .wo = w, .cout = c, .kh = 1, .kw = 1,
      .sh = 1, .sw = 1, .groups = 1 };
    if (dense)
      g.c = g.h * g.w * g.c;
    const char *eol = strchr (arrow, '\n');
    const char *kp = strstr (arrow, " k"), *gp = strstr (arrow, " g");
    if (kp && (!eol || kp < eol))
      sscanf (kp, " k%ux%u s%ux%u p%ux%u", &g.kh, &g.kw, &g.sh, &g.sw,
          &g.ph, &g.pw);
    if (gp && (!eol || gp < eol))
      sscanf (gp, " g%u", &g.groups);
    g.words = (g.c + 31) / 32;
    unsigned l = 0;
    while (l < n && !(strcmp (layers[l].op, op) == 0
            && memcmp (&layers[l].g, &g, sizeof g) == 0))
      l++;
    if (l == n && n < max) {
      memset (&layers[n], 0, sizeof layers[n]);
      strcpy (layers[n].op, op);
      layers[n++].g = g;
    }
    if (l < n)
      layers[l].count++;
  }
  return n;
}

/* Bit-MACs a binary conv really computes: in-bounds taps only (padded
 * taps are skipped by the driver, they are not work). */
static double
inbounds_macs (const BeenetConvGeom *g)
{
  double taps = 0.0;
  for (uint32_t ho = 0; ho < g->ho; ho++)
    for (uint32_t wo = 0; wo < g->wo; wo++)
      for (uint32_t ky = 0; ky < g->kh; ky++)
        for (uint32_t kx = 0; kx < g->kw; kx++) {
          const int64_t y = (int64_t) ho * g->sh - g->ph + ky;
          const int64_t x = (int64_t) wo * g->sw - g->pw + kx;
          taps += y >= 0 && x >= 0 && y < g->h && x < g->w;
        }
  return taps * g->c * g->cout;
}

/* ---- main -------------------------------------------------------------- */

/* Variants of the avx512 set timed in the same run, so each gain is a
 * paired ratio: "avx512-px" without its fused tile micro-kernel
 * (bconv_tile: the driver then calls bdot_px for up to 4 interior pixels
 * of a row, bdot at the borders, and bfinish per pixel: the kernel before
 * it), "avx512-1px" without bdot_px either (bdot per pixel). */
static const char *const set_names[] = { "portable", "avx2", "avx512",
  "neon", "avx512-px", "avx512-1px" };
enum { N_SETS = 6 };

static BeenetKernels avx512_px, avx512_1px;

/* The set a name stands for (variants: "avx512"). */
static const char *
base_name (const char *name)
{
  return strncmp (name, "avx512-", 7) == 0 ? "avx512" : name;
}

static const BeenetKernels *
get_set (const char *name)
{
  const BeenetKernels *k = beenet_kernels_get (base_name (name));
  if (!k || strcmp (name, base_name (name)) == 0)
    return k;
  BeenetKernels *v = strcmp (name, "avx512-px") == 0 ? &avx512_px
      : &avx512_1px;
  *v = *k;
  v->name = name;
  v->bconv_tiles = NULL;
  if (v == &avx512_1px)
    v->bdot_px = NULL;
  return v;
}

static void
time_layer (const Layer *ly, const BeenetKernels *const *sets,
    double budget)
{
  const BeenetConvGeom *g = &ly->g;
  const bool binary = ly->op[0] == 'b', dense = strcmp (ly->op, "bdense") == 0;
  const size_t n_in = dense ? g->c : (size_t) g->h * g->w * g->c;
  const size_t prep_n = dense ? beenet_bdense_prepared_size (g->c, g->cout)
      : binary ? beenet_bconv2d_prepared_size (g)
      : beenet_conv2d_prepared_size (g);
  const size_t w_n = dense ? (size_t) g->cout * g->words
      : binary ? (size_t) g->cout * g->kh * g->kw * g->words
      : (size_t) g->cout * g->kh * g->kw * (g->c / g->groups);
  uint32_t rng = 7;
  uint32_t *wt = malloc (4 * w_n), *in = malloc (4 * n_in);
  void *prep = aligned_alloc (64, (prep_n * 4 + 63) / 64 * 64);
  float *scale = malloc (4 * g->cout), *bias = malloc (4 * g->cout);
  float *out = malloc (4 * (size_t) g->ho * g->wo * g->cout);
  for (size_t i = 0; i < w_n; i++) {
    float f = test_rand_float (&rng);
    /* Random bits (tail bits of a binary row left set: the timing does
     * not care) or floats. */
    if (binary)
      wt[i] = test_rand_u32 (&rng);
    else
      memcpy (&wt[i], &f, 4);
  }
  for (size_t i = 0; i < n_in; i++) {
    float f = test_rand_float (&rng);
    if (binary)
      in[i] = test_rand_u32 (&rng);
    else
      memcpy (&in[i], &f, 4);
  }
  for (uint32_t i = 0; i < g->cout; i++) {
    scale[i] = 1.0f;
    bias[i] = 0.0f;
  }
  if (dense)
    beenet_bdense_prepare (g->c, g->cout, wt, prep);
  else if (binary)
    beenet_bconv2d_prepare (g, wt, prep);
  else
    beenet_conv2d_prepare (g, (const float *) wt, prep);
  const double ops = dense ? (double) g->c * g->cout
      : binary ? inbounds_macs (g)
      : 2.0 * g->ho * g->wo * g->cout * g->kh * g->kw * (g->c / g->groups);
  if (dense)
    printf ("%-8s %4u->%-4u %-18s x%-2u", ly->op, g->c, g->cout, "", ly->count);
  else
    printf ("%-8s %2ux%2ux%-3u->%-3u k%ux%u s%u p%u g%-3u x%-2u", ly->op, g->h,
        g->w, g->c, g->cout, g->kh, g->kw, g->sh, g->ph, g->groups, ly->count);
  for (int s = 0; s < N_SETS; s++) {
    if (!sets[s])
      continue;
    const Job j = { sets[s], g, in, prep, scale, bias, out, binary, dense };
    double rate, peak;
    measure (&j, binary ? peak_fn (set_names[s]) : NULL, budget, &rate,
        &peak);
    const double t = 1.0 / rate;
    if (binary)
      printf ("  %8.2f us %6.1f Gb/s %5.1f%%", t * 1e6, ops / t * 1e-9,
          100.0 * ops / t / peak);
    else
      printf ("  %8.2f us %6.2f GFLOP/s       ", t * 1e6, ops / t * 1e-9);
  }
  printf ("\n");
  free (wt); free (in); free (prep); free (scale); free (bias); free (out);
}

static BeenetModel *
load_model (const char *path)
{
  BeenetModel *model = NULL;
  BeenetError err;
  BeenetStatus st;
  if (path) {
    st = beenet_model_load_file (path, &model, &err);
  } else {
    size_t size;
    uint8_t *bytes = test_models_realistic (1, &size);
    st = beenet_model_load_memory (bytes, size, &model, &err);
    free (bytes);
  }
  if (st)
    fprintf (stderr, "bench-kernels: %s\n", err.message);
  return st ? NULL : model;
}

int
main (int argc, char **argv)
{
  gdouble seconds = 1.0;
  GOptionEntry entries[] = {
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds,
      "Time budget per measurement (default 1)", "S" },
    { NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL }
  };
  GError *gerr = NULL;
  GOptionContext *ctx = g_option_context_new ("[MODEL.gguf] - kernel peak and efficiency");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &gerr)) {
    fprintf (stderr, "bench-kernels: %s\n", gerr->message);
    return 2;
  }
  g_option_context_free (ctx);

  BeenetModel *model = load_model (argc > 1 ? argv[1] : NULL);
  if (!model)
    return 1;
  printf ("model: %s\n", argc > 1 ? argv[1] : "built-in test_models_realistic(1)");

  const BeenetKernels *sets[N_SETS];
  double peak[N_SETS] = { 0 };
  printf ("\npeak (register-blocked XNOR/popcount loop):\n");
  for (int s = 0; s < N_SETS; s++) {
    sets[s] = get_set (set_names[s]);
    PeakFn fn = peak_fn (set_names[s]);
    if (!sets[s] || !fn) {
      printf ("  %-8s SKIPPED (%s)\n", set_names[s],
          beenet_kernels_compiled (base_name (set_names[s]))
          ? "not supported by this CPU" : "not compiled in");
      sets[s] = NULL;
      continue;
    }
    peak[s] = peak_gbitmacs (fn, seconds);
    printf ("  %-8s %8.1f Gbit-MAC/s\n", set_names[s], peak[s]);
  }

  char *desc = beenet_model_describe (model);
  Layer layers[64];
  BeenetFrontendConfig fc;
  beenet_model_frontend_config (model, &fc);
  const unsigned n_layers = desc
      ? parse_layers (desc, fc.n_frames, fc.n_mels, layers, 64) : 0;
  free (desc);
  printf ("\nlayers (best time per call; binary: in-bounds Gbit-MAC/s and "
      "%% of the set's peak; float: GFLOP/s incl. padded taps):\n%-50s",
      "layer");
  for (int s = 0; s < N_SETS; s++)
    if (sets[s])
      printf ("  %-32s", set_names[s]);
  printf ("\n");
  for (unsigned l = 0; l < n_layers; l++)
    time_layer (&layers[l], sets, seconds);
  beenet_model_unref (model);
  return 0;
}
