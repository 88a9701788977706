/* Compute kernels behind a dispatch table (internal).
 *
 * Structure (after Larq Compute Engine's indirect BGEMM): one portable
 * driver per op (kernels-driver.c) walks the output pixels, works out which
 * kernel taps are in bounds (zero padding is never materialised) and calls a
 * small per-ISA micro-kernel that computes up to BEENET_UK_MAX_BLOCKS blocks
 * of BEENET_LANES output channels for one output pixel (float: up to
 * BEENET_UK_MAX_PIXELS pixels with the same window shape), output channels
 * in the vector lanes.  A separate per-ISA output transform (bfinish /
 * ffinish, the same multiply-then-add order in every set) turns
 * accumulators into scale * acc + bias (+ relu).
 *
 * Weights are rearranged ONCE at model load (beenet_*_prepare) into the
 * lane layout below; the layout is the same for every kernel set, so a set
 * is only a table of micro-kernels.  A new instruction set = a new table;
 * the interpreter and the drivers do not change.  Every table gives results
 * identical to the portable one for the binary kernels (integer popcount
 * arithmetic, same float output transform) and within float rounding for
 * the float kernels (FMA). */
#ifndef BEENET_KERNELS_H
#define BEENET_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Output channels per weight block (one AVX-512 register of 32-bit lanes,
 * two AVX2 registers, four NEON registers). */
#define BEENET_LANES 16u
/* Blocks one micro-kernel call handles at most (accumulators in registers). */
#define BEENET_UK_MAX_BLOCKS 4u

/* Geometry of a windowed op: input (h, w, c) HWC, output (ho, wo, cout). */
typedef struct {
  uint32_t h, w, c;
  uint32_t ho, wo, cout;
  uint32_t kh, kw, sh, sw, ph, pw;
  uint32_t groups;      /* conv2d, bconv2d (0 is read as 1) */
  uint32_t words;       /* binary ops: ceil(c / groups / 32) words per
                           pixel and group */
  bool relu;
} BeenetConvGeom;

/* Binary micro-kernel operands for one output pixel: `rows` in-bounds
 * kernel rows, each a run of n contiguous packed input words (row r starts
 * at a + r * a_rs) against the weight words of the same taps (word i of row
 * r, lane l of block b at w[b * w_bs + r * w_rs + i * BEENET_LANES + l]). */
typedef struct {
  const uint32_t *a;
  const uint32_t *w;
  size_t a_rs, w_rs, w_bs;
  uint32_t rows, n;
} BeenetBTaps;

/* Float micro-kernel operands for np output pixels that share their
 * window shape: rows x taps runs of n inputs; run (r, t) of pixel p starts
 * at a + p * a_ps + r * a_rs + t * a_ts.
 *  gemv: weight of input i of run (r, t), lane l of block b at
 *        w[b * w_bs + r * w_rs + t * w_ts + i * BEENET_LANES + l];
 *  dw (depthwise, channels in lanes): weight of channel i of run (r, t) at
 *        w[r * w_rs + t * w_ts + i]. */
typedef struct {
  const float *a;
  const float *w;
  size_t a_rs, a_ts, w_rs, w_ts, w_bs, a_ps;
  uint32_t rows, taps, n, np;
} BeenetFTaps;

/* Pixels one bdot_px call handles at most. */
#define BEENET_UK_MAX_BPIXELS 4u

/* Pixels of one tile of bconv_tiles at most. */
#define BEENET_UK_MAX_TILE 4u

/* Tile plan of a binary conv, built once by beenet_bconv2d_prepare and
 * stored after the prepared weights (Larq's indirection buffer in spirit:
 * the walk over the output plane is done at load, not per call).  The
 * output plane is cut into rectangles of pixels whose in-bounds windows
 * have the same shape (runs of equal vertical x horizontal tap ranges: the
 * interior, each border row and column, the corners), each rectangle into
 * tiles of up to BEENET_UK_MAX_TILE pixels (row-major).  Offsets are in
 * elements from the group's input image and output (channel 0); 32 bits
 * suffice, a model's activations being at most BEENET_MAX_ACT_ELEMENTS
 * (2^26) elements (model-private.h). */
typedef struct {
  uint32_t w_off;       /* weight word of the first in-bounds tap (block 0) */
  uint32_t rows, n;     /* in-bounds kernel rows, words per row */
  int32_t valid;        /* in-bounds taps x input channels */
} BeenetBShape;

typedef struct {
  uint32_t shape;       /* index into the plan's shapes */
  uint32_t np;          /* pixels, 1..BEENET_UK_MAX_TILE */
  uint32_t a[BEENET_UK_MAX_TILE];   /* first in-bounds input word */
  uint32_t o[BEENET_UK_MAX_TILE];   /* first output (and residual) element */
} BeenetBTilePlan;

/* Operands of bconv_tiles: every tile of a plan against nb blocks of
 * weights.  Pixel p of tile t reads in + t.a[p] (rows of shape.n words,
 * a_rs words apart) against w + shape.w_off (w_rs between kernel rows,
 * w_bs between blocks, as in BeenetBTaps), and writes out + t.o[p]; its
 * residual, when res is not NULL (see BeenetOutput), is res + t.o[p]. */
typedef struct {
  const uint32_t *in, *w;
  float *out;
  const float *res;
  const BeenetBShape *shapes;
  const BeenetBTilePlan *tiles;
  uint32_t n_tiles;
  size_t a_rs, w_rs, w_bs;
} BeenetBTiles;

/* Pixels one fgemv call handles at most. */
#define BEENET_UK_MAX_PIXELS 8u

/* Output transform of a binary op, n outputs starting at output channel
 * 0 of these pointers: v = scale[i] * x + bias[i], then 0 if relu and
 * v < 0; then, when res is not NULL (an `add` node folded into the conv
 * that feeds it, Larq's fused output transform), v = res[i] + v, then 0 if
 * res_relu and v < 0: the add node's own operations in its order, so the
 * fused conv gives the bits of the conv followed by the add, with no pass
 * of its own over the activations. */
typedef struct {
  const float *scale, *bias;
  const float *res;
  bool relu, res_relu;
} BeenetOutput;

typedef struct BeenetKernels {
  const char *name;
  /* Pack sign bits: for each of n_pixels pixels of c channels, write
   * ceil(c/32) words; bit b of word j is set iff in[p*c + 32j + b] < 0
   * (bit 1 = -1); unused tail bits are 0. */
  void (*pack_signs) (const float *in, size_t n_pixels, uint32_t c,
      uint32_t *out);
  /* acc[b * LANES + l] = sum over rows and words of popcount(a ^ w) for
   * nb (1..BEENET_UK_MAX_BLOCKS) blocks. */
  void (*bdot) (const BeenetBTaps *t, uint32_t nb, int32_t *acc);
  /* Optional (NULL: the driver calls bdot once per pixel): bdot for np
   * (1..BEENET_UK_MAX_BPIXELS) output pixels with the same window shape,
   * pixel p's input runs at t->a + p * a_ps, its sums at
   * acc[(p * nb + b) * LANES + l].  Each weight vector loaded serves every
   * pixel, and one call covers np pixels. */
  void (*bdot_px) (const BeenetBTaps *t, size_t a_ps, uint32_t np,
      uint32_t nb, int32_t *acc);
  /* Optional (NULL: the driver uses bdot_px / bdot and bfinish): a whole
   * binary conv (one group, nb (1..BEENET_UK_MAX_BLOCKS) blocks) from its
   * tile plan, with the output transform fused: for every pixel, outputs
   * i < n (n channels of these blocks, (nb - 1) * LANES < n <= nb * LANES)
   * = exactly what bfinish gives for the sums bdot would give (scale, bias
   * at out, channel 0 of the first block; out->res is ignored, the
   * residual comes from t->res).  The sums stay in registers: no
   * accumulator store and reload, one call per layer instead of one per
   * pixel, and each weight vector loaded serves a tile's pixels, border
   * pixels too. */
  void (*bconv_tiles) (const BeenetBTiles *t, uint32_t nb, uint32_t n,
      const BeenetOutput *out);
  /* Optional (NULL, or beenet_fconv1_fits false: the driver uses fgemv
   * and ffinish per pixel): a whole float conv with one input channel
   * (the stem on the log-Mel image), cout dividing 16, output pixels of a
   * row packed 16 / cout to a vector (lane l: pixel l / cout, channel
   * l % cout, the HWC output layout itself), 4 vectors at a time (cout a
   * multiple of 16: 4 pixels at a time, each pixel's taps broadcast once
   * for all its cout / 16 vectors); the
   * window taps come from two row vectors by permutes, out-of-bounds taps
   * as zeros; out = scale * acc + bias (+ relu), one multiply then one
   * add.  Sums within float rounding of the portable ones (FMA, another
   * order). */
  void (*fconv1) (const BeenetConvGeom *g, const float *in, const float *prep,
      const float *scale, const float *bias, float *out);
  /* acc[(p * nb + b) * LANES + l] = sum over runs and inputs of a * w for
   * np pixels and nb blocks (runs in order r, t, i per lane, as the
   * portable one). */
  void (*fgemv) (const BeenetFTaps *t, uint32_t nb, float *acc);
  /* acc[p * n + i] = sum over runs of a * w for i < n, np pixels (acc is
   * overwritten). */
  void (*fdw) (const BeenetFTaps *t, float *acc);
  /* Output transforms, i < n: v = scale[i] * x + bias[i], then 0 if relu
   * and v < 0, with x = (float) (valid - 2 * acc[i]) (binary) or acc[i]
   * (float; acc may be o).  One multiply then one add (never fused), so
   * every set gives identical bits.  bfinish also applies the residual of
   * BeenetOutput (see there). */
  void (*bfinish) (const int32_t *acc, int32_t valid, uint32_t n,
      const BeenetOutput *t, float *o);
  void (*ffinish) (const float *acc, uint32_t n, const float *scale,
      const float *bias, bool relu, float *o);
  /* Elementwise o[i] = a[i] + b[i] for i < n, then `v < 0 ? 0 : v` if relu
   * (so -0.0 and NaN pass unchanged); o may equal a or b.  Identical bits
   * in every set. */
  void (*add) (const float *a, const float *b, size_t n, bool relu,
      float *o);
  /* Global average pool of hw pixels of c channels (HWC): out[ch] =
   * (0.0f + in[ch] + in[c + ch] + ... in pixel order) * scale, channels in
   * the lanes, so every set gives identical bits.  out must not overlap
   * in. */
  void (*gap) (const float *in, size_t hw, uint32_t c, float scale,
      float *out);
} BeenetKernels;

extern const BeenetKernels beenet_kernels_portable;

/* ---- prepared weights (kernels-driver.c) ------------------------------
 * Sizes are in elements (uint32 words / floats); buffers must be
 * 64-byte aligned and are filled once at load. */

/* bconv2d weight [cout][kh][kw][words] -> per group
 * [cog/16][kh][kw][words][16] (cog = cout / groups; padded output channels
 * have zero weights; their outputs are dropped), then the layer's tile plan
 * (see BeenetBTilePlan; the same for every group). */
size_t beenet_bconv2d_prepared_size (const BeenetConvGeom *g);
void beenet_bconv2d_prepare (const BeenetConvGeom *g, const uint32_t *weight,
    uint32_t *prep);
/* bdense weight [cout][words] -> [cout/16][words][16]. */
size_t beenet_bdense_prepared_size (uint32_t cin, uint32_t cout);
void beenet_bdense_prepare (uint32_t cin, uint32_t cout,
    const uint32_t *weight, uint32_t *prep);
/* conv2d weight [cout][kh][kw][cig]: depthwise (1 input channel and 1
 * output channel per group) -> [kh][kw][cout]; otherwise per group
 * [cog/16][kh][kw][cig][16]. */
size_t beenet_conv2d_prepared_size (const BeenetConvGeom *g);
void beenet_conv2d_prepare (const BeenetConvGeom *g, const float *weight,
    float *prep);
/* dense weight [cout][cin] -> [cout/16][cin][16]. */
size_t beenet_dense_prepared_size (uint32_t cin, uint32_t cout);
void beenet_dense_prepare (uint32_t cin, uint32_t cout, const float *weight,
    float *prep);

/* ---- drivers (kernels-driver.c), on prepared weights ------------------ */

/* Residual added in a binary conv's output transform: res (HWC, the
 * conv's output shape) is added to each output, then relu if relu. */
typedef struct {
  const float *res;
  bool relu;
} BeenetResidual;

/* Binary conv on packed input, exact zero padding:
 * out = scale * (valid_bits - 2 * popcount) + bias (+ relu), then + res
 * (+ res relu) when res is not NULL (see BeenetOutput).  The input is one
 * packed image per group, group-major ([group][h][w][g->words]; with one
 * group simply the packed image); every group runs through the same
 * per-ISA micro-kernels. */
void beenet_bconv2d (const BeenetKernels *k, const BeenetConvGeom *g,
    const uint32_t *in_bits, const uint32_t *prep, const float *scale,
    const float *bias, const BeenetResidual *res, float *out);
/* Binary dense: acc[co] = cin - 2 * popcount(in ^ w[co]). */
void beenet_bdense (const BeenetKernels *k, uint32_t cin, uint32_t cout,
    const uint32_t *in_bits, const uint32_t *prep, const float *scale,
    const float *bias, bool relu, float *out);
/* Whether a conv is one fconv1 takes: one input channel, one group, cout
 * in 1, 2, 4, 8, 16 or a multiple of 16 up to 16 * BEENET_FCONV1_MAX_BLOCKS,
 * kh and kw <= BEENET_FCONV1_MAX_KW, and the taps of a chunk of 4 vectors
 * (4 * 16 / cout pixels, 4 pixels when cout >= 16) within 32 inputs of a
 * row. */
#define BEENET_FCONV1_MAX_KW 8u
#define BEENET_FCONV1_MAX_BLOCKS 4u
bool beenet_fconv1_fits (const BeenetConvGeom *g);
/* Float conv (grouped). */
void beenet_conv2d (const BeenetKernels *k, const BeenetConvGeom *g,
    const float *in, const float *prep, const float *scale, const float *bias,
    float *out);
/* Float dense. */
void beenet_dense (const BeenetKernels *k, uint32_t cin, uint32_t cout,
    const float *in, const float *prep, const float *scale, const float *bias,
    bool relu, float *out);

/* Extra kernel sets compiled in for this architecture, NULL-terminated,
 * best first; each entry has a CPU check. */
typedef struct {
  const BeenetKernels *kernels;
  bool (*supported) (void);
} BeenetKernelCandidate;

/* Best set for this CPU (portable when nothing better is supported).
 * Honours the environment variable BEENET_KERNELS=<name> to force a set
 * (ignored if that set is not compiled in or not supported). */
const BeenetKernels *beenet_kernels_select (void);
/* Lookup by name ("portable", "avx2", "avx512", "neon"); NULL if not compiled in or
 * not supported by this CPU.  For tests comparing implementations. */
const BeenetKernels *beenet_kernels_get (const char *name);
/* Whether a set of that name is compiled into this build (supported by
 * this CPU or not). */
bool beenet_kernels_compiled (const char *name);

static inline uint32_t
beenet_popcount32 (uint32_t x)
{
#if (defined(__GNUC__) || defined(__clang__)) \
    && (defined(__POPCNT__) || defined(__aarch64__) || defined(__powerpc64__))
  /* One instruction on these targets. */
  return (uint32_t) __builtin_popcount (x);
#else
  /* Baseline x86-64 has no POPCNT and __builtin_popcount becomes a libgcc
   * call; this SWAR version is inlined and branch-free. */
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  x = (x + (x >> 4)) & 0x0f0f0f0fu;
  return (x * 0x01010101u) >> 24;
#endif
}

#endif
