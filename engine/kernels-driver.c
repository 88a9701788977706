/* Op drivers and weight preparation shared by every kernel set (see
 * kernels.h).  The drivers walk the output pixels, clip the kernel window
 * to the input (zero padding contributes nothing, so padded taps are just
 * skipped), hand the in-bounds taps of one pixel to the set's micro-kernel
 * and apply the output transform.  Only the micro-kernels are per ISA. */
#include "kernels.h"

#include <string.h>

#define L BEENET_LANES
#define MAXB BEENET_UK_MAX_BLOCKS

static inline uint32_t
n_blocks (uint32_t cout)
{
  return (cout + L - 1) / L;
}

static inline uint32_t
min_u32 (uint32_t a, uint32_t b)
{
  return a < b ? a : b;
}

/* Range of kernel taps k in [0, k_size) with 0 <= o*s - p + k < n. */
static inline void
tap_range (uint32_t o, uint32_t s, uint32_t p, uint32_t k_size, uint32_t n,
    uint32_t *lo, uint32_t *hi)
{
  const int64_t start = (int64_t) o * s - p;
  int64_t a = start < 0 ? -start : 0;
  int64_t b = (int64_t) n - start;
  if (b > k_size)
    b = k_size;
  if (b < a)
    b = a;
  *lo = (uint32_t) a;
  *hi = (uint32_t) b;
}

/* In-bounds window of one output pixel: first input pixel (y, x), first
 * tap (ky, kx) and the number of tap rows and columns. */
typedef struct {
  size_t y, x;
  uint32_t ky, kx, rows, cols;
} Window;

static inline Window
window_at (const BeenetConvGeom *g, uint32_t ho, uint32_t wo)
{
  uint32_t y_lo, y_hi, x_lo, x_hi;
  tap_range (ho, g->sh, g->ph, g->kh, g->h, &y_lo, &y_hi);
  tap_range (wo, g->sw, g->pw, g->kw, g->w, &x_lo, &x_hi);
  Window win = { 0, 0, y_lo, x_lo, y_hi - y_lo, x_hi - x_lo };
  if (win.rows && win.cols) {
    win.y = (size_t) ((int64_t) ho * g->sh - g->ph + y_lo);
    win.x = (size_t) ((int64_t) wo * g->sw - g->pw + x_lo);
  } else {
    win.rows = win.cols = 0;   /* nothing in bounds: point at pixel 0 */
  }
  return win;
}

/* ---- binary ------------------------------------------------------------ */

static inline uint32_t
n_groups (const BeenetConvGeom *g)
{
  return g->groups ? g->groups : 1;
}

/* Prepared words of one group of a bconv2d. */
static inline size_t
bconv2d_group_size (const BeenetConvGeom *g)
{
  return (size_t) n_blocks (g->cout / n_groups (g)) * g->kh * g->kw
      * g->words * L;
}

static size_t plan_size (const BeenetConvGeom *g);
static void plan_build (const BeenetConvGeom *g, uint32_t *plan);

size_t
beenet_bconv2d_prepared_size (const BeenetConvGeom *g)
{
  return n_groups (g) * bconv2d_group_size (g) + plan_size (g);
}

/* [rows][row_words] -> [rows/16][row_words][16], zero-padded rows. */
static void
interleave_u32 (const uint32_t *src, uint32_t rows, size_t row_words,
    uint32_t *dst)
{
  memset (dst, 0, sizeof (uint32_t) * n_blocks (rows) * row_words * L);
  for (uint32_t r = 0; r < rows; r++) {
    uint32_t *d = dst + (size_t) (r / L) * row_words * L + r % L;
    const uint32_t *s = src + (size_t) r * row_words;
    for (size_t t = 0; t < row_words; t++)
      d[t * L] = s[t];
  }
}

void
beenet_bconv2d_prepare (const BeenetConvGeom *g, const uint32_t *weight,
    uint32_t *prep)
{
  const uint32_t cog = g->cout / n_groups (g);
  const size_t row_words = (size_t) g->kh * g->kw * g->words;
  for (uint32_t gi = 0; gi < n_groups (g); gi++)
    interleave_u32 (weight + gi * cog * row_words, cog, row_words,
        prep + gi * bconv2d_group_size (g));
  plan_build (g, prep + n_groups (g) * bconv2d_group_size (g));
}

size_t
beenet_bdense_prepared_size (uint32_t cin, uint32_t cout)
{
  return (size_t) n_blocks (cout) * ((cin + 31) / 32) * L;
}

void
beenet_bdense_prepare (uint32_t cin, uint32_t cout, const uint32_t *weight,
    uint32_t *prep)
{
  interleave_u32 (weight, cout, (cin + 31) / 32, prep);
}

/* Blocks b0.. of one output pixel: micro-kernel, then transform with
 * acc = valid_bits - 2 * popcount (out: the pixel's output transform). */
static void
bdot_blocks (const BeenetKernels *k, const BeenetBTaps *t, uint32_t cout,
    int32_t valid_bits, const BeenetOutput *out, float *o)
{
  int32_t acc[MAXB * L];
  for (uint32_t b0 = 0; b0 * L < cout; b0 += MAXB) {
    const uint32_t nb = min_u32 (MAXB, n_blocks (cout) - b0);
    BeenetBTaps tb = *t;
    tb.w += b0 * t->w_bs;
    k->bdot (&tb, nb, acc);
    const uint32_t c0 = b0 * L, c1 = min_u32 (cout, c0 + nb * L);
    const BeenetOutput oc = {
      out->scale + c0, out->bias + c0, out->res ? out->res + c0 : NULL,
      out->relu, out->res_relu,
    };
    k->bfinish (acc, valid_bits, c1 - c0, &oc, o + c0);
  }
}

/* Blocks b0.. of np output pixels with the same window shape through
 * bdot_px (pixel p's input at t->a + p * a_ps, its outputs and residual at
 * p * o_ps from out's), then each pixel's transform. */
static void
bdot_px_blocks (const BeenetKernels *k, const BeenetBTaps *t, size_t a_ps,
    uint32_t np, uint32_t cout, int32_t valid_bits, const BeenetOutput *out,
    float *o, size_t o_ps)
{
  int32_t acc[BEENET_UK_MAX_BPIXELS * MAXB * L];
  for (uint32_t b0 = 0; b0 * L < cout; b0 += MAXB) {
    const uint32_t nb = min_u32 (MAXB, n_blocks (cout) - b0);
    BeenetBTaps tb = *t;
    tb.w += b0 * t->w_bs;
    k->bdot_px (&tb, a_ps, np, nb, acc);
    const uint32_t c0 = b0 * L, c1 = min_u32 (cout, c0 + nb * L);
    for (uint32_t p = 0; p < np; p++) {
      const BeenetOutput oc = {
        out->scale + c0, out->bias + c0,
        out->res ? out->res + p * o_ps + c0 : NULL, out->relu, out->res_relu,
      };
      k->bfinish (acc + p * nb * L, valid_bits, c1 - c0, &oc,
          o + p * o_ps + c0);
    }
  }
}

/* Whether output column wo's window lies inside the input horizontally. */
static inline bool
full_x (const BeenetConvGeom *g, uint32_t wo)
{
  const int64_t x0 = (int64_t) wo * g->sw - g->pw;
  return x0 >= 0 && x0 + g->kw <= (int64_t) g->w;
}

/* Output pixels wo.. of a row that bdot_px can take together: interior
 * columns share their window shape (1 without bdot_px or at a border). */
static inline uint32_t
span_px (const BeenetKernels *k, const BeenetConvGeom *g, uint32_t wo)
{
  uint32_t np = 1;
  if (k->bdot_px && full_x (g, wo))
    while (np < BEENET_UK_MAX_BPIXELS && wo + np < g->wo
        && full_x (g, wo + np))
      np++;
  return np;
}

/* ---- binary conv by a tile plan (bconv_tiles) ------------------------ */

/* End of the run of outputs o0.. (below o_n) whose tap range equals o0's
 * (every empty range counts as one shape). */
static uint32_t
run_end (uint32_t o0, uint32_t s, uint32_t p, uint32_t k_size, uint32_t n,
    uint32_t o_n)
{
  uint32_t lo0, hi0, lo, hi, o = o0 + 1;
  tap_range (o0, s, p, k_size, n, &lo0, &hi0);
  for (; o < o_n; o++) {
    tap_range (o, s, p, k_size, n, &lo, &hi);
    if (!(lo == lo0 && hi == hi0) && !(lo == hi && lo0 == hi0))
      break;
  }
  return o;
}

/* A plan being built (shapes, tiles NULL: only counted). */
typedef struct {
  BeenetBShape *shapes;
  BeenetBTilePlan *tiles;
  uint32_t n_shapes, n_tiles;
} PlanBuild;

/* Output pixels [y0, y1) x [x0, x1), whose windows have one shape: one
 * shape, tiles of up to BEENET_UK_MAX_TILE pixels (row-major). */
static void
plan_rect (const BeenetConvGeom *g, PlanBuild *pb, uint32_t y0, uint32_t y1,
    uint32_t x0, uint32_t x1)
{
  const uint32_t words = g->words, cig = g->c / n_groups (g);
  const Window win = window_at (g, y0, x0);
  const bool empty = win.rows == 0;
  if (pb->shapes)
    pb->shapes[pb->n_shapes] = (BeenetBShape) {
      (uint32_t) (((size_t) win.ky * g->kw + win.kx) * words * L),
      win.rows, win.cols * words, (int32_t) (win.rows * win.cols * cig),
    };
  BeenetBTilePlan counting, *t = NULL;
  for (uint32_t ho = y0; ho < y1; ho++)
    for (uint32_t wo = x0; wo < x1; wo++) {
      if (!t || t->np == BEENET_UK_MAX_TILE) {
        t = pb->tiles ? &pb->tiles[pb->n_tiles] : &counting;
        *t = (BeenetBTilePlan) { .shape = pb->n_shapes };
        pb->n_tiles++;
      }
      /* Same shape: each pixel's window starts s pixels after the last. */
      const size_t y = empty ? 0 : win.y + (size_t) (ho - y0) * g->sh;
      const size_t x = empty ? 0 : win.x + (size_t) (wo - x0) * g->sw;
      t->a[t->np] = (uint32_t) ((y * g->w + x) * words);
      t->o[t->np] = (uint32_t) (((size_t) ho * g->wo + wo) * g->cout);
      t->np++;
    }
  pb->n_shapes++;
}

/* The whole plan (or its counts): rectangles of equal window shape. */
static void
plan_walk (const BeenetConvGeom *g, PlanBuild *pb)
{
  for (uint32_t y0 = 0, y1; y0 < g->ho; y0 = y1) {
    y1 = run_end (y0, g->sh, g->ph, g->kh, g->h, g->ho);
    for (uint32_t x0 = 0, x1; x0 < g->wo; x0 = x1) {
      x1 = run_end (x0, g->sw, g->pw, g->kw, g->w, g->wo);
      plan_rect (g, pb, y0, y1, x0, x1);
    }
  }
}

/* Plan layout in the prepared buffer: n_shapes, n_tiles, the shapes, the
 * tiles (all 32-bit words). */
#define PLAN_HEADER 2u
#define SHAPE_WORDS (sizeof (BeenetBShape) / 4)
#define TILE_WORDS (sizeof (BeenetBTilePlan) / 4)

static size_t
plan_size (const BeenetConvGeom *g)
{
  PlanBuild pb = { 0 };
  plan_walk (g, &pb);
  return PLAN_HEADER + pb.n_shapes * SHAPE_WORDS + pb.n_tiles * TILE_WORDS;
}

static void
plan_build (const BeenetConvGeom *g, uint32_t *plan)
{
  PlanBuild pb = { 0 };
  plan_walk (g, &pb);
  plan[0] = pb.n_shapes;
  plan[1] = pb.n_tiles;
  pb.shapes = (BeenetBShape *) (plan + PLAN_HEADER);
  pb.tiles = (BeenetBTilePlan *) (plan + PLAN_HEADER + pb.n_shapes
      * SHAPE_WORDS);
  pb.n_shapes = pb.n_tiles = 0;
  plan_walk (g, &pb);
}

/* One group through bconv_tiles: one call per group of up to
 * BEENET_UK_MAX_BLOCKS blocks. */
static void
bconv2d_group_tiles (const BeenetKernels *k, const BeenetConvGeom *g,
    uint32_t cog, const uint32_t *in_bits, const uint32_t *prep,
    const uint32_t *plan, const BeenetOutput *ot, const float *res,
    float *out)
{
  const uint32_t words = g->words;
  BeenetBTiles t = {
    .in = in_bits,
    .shapes = (const BeenetBShape *) (plan + PLAN_HEADER),
    .tiles = (const BeenetBTilePlan *) (plan + PLAN_HEADER + plan[0]
        * SHAPE_WORDS),
    .n_tiles = plan[1],
    .a_rs = (size_t) g->w * words,
    .w_rs = (size_t) g->kw * words * L,
    .w_bs = (size_t) g->kh * g->kw * words * L,
  };
  for (uint32_t b0 = 0; b0 * L < cog; b0 += MAXB) {
    const uint32_t nb = min_u32 (MAXB, n_blocks (cog) - b0);
    const uint32_t c0 = b0 * L, c1 = min_u32 (cog, c0 + nb * L);
    t.w = prep + b0 * t.w_bs;
    t.out = out + c0;
    t.res = res ? res + c0 : NULL;
    const BeenetOutput oc = {
      ot->scale + c0, ot->bias + c0, NULL, ot->relu, ot->res_relu,
    };
    k->bconv_tiles (&t, nb, c1 - c0, &oc);
  }
}

/* One group: cig input channels (packed image in_bits, g->words words per
 * pixel) to cog output channels written at out (pixel stride g->cout);
 * res (NULL = none) is the fused residual at the same layout as out. */
static void
bconv2d_group (const BeenetKernels *k, const BeenetConvGeom *g, uint32_t cig,
    uint32_t cog, const uint32_t *in_bits, const uint32_t *prep,
    const uint32_t *plan, const float *scale, const float *bias,
    const float *res, bool res_relu, float *out)
{
  const uint32_t words = g->words;
  BeenetOutput ot = { scale, bias, NULL, g->relu, res_relu };
  if (k->bconv_tiles) {
    bconv2d_group_tiles (k, g, cog, in_bits, prep, plan, &ot, res, out);
    return;
  }
  for (uint32_t ho = 0; ho < g->ho; ho++) {
    for (uint32_t wo = 0; wo < g->wo;) {
      const Window win = window_at (g, ho, wo);
      const BeenetBTaps t = {
        .a = in_bits + (win.y * g->w + win.x) * words,
        .w = prep + ((size_t) win.ky * g->kw + win.kx) * words * L,
        .a_rs = (size_t) g->w * words,
        .w_rs = (size_t) g->kw * words * L,
        .w_bs = (size_t) g->kh * g->kw * words * L,
        .rows = win.rows, .n = win.cols * words,
      };
      const int32_t valid_bits = (int32_t) (win.rows * win.cols * cig);
      const size_t px = ((size_t) ho * g->wo + wo) * g->cout;
      ot.res = res ? res + px : NULL;
      const uint32_t np = span_px (k, g, wo);
      if (k->bdot_px)
        bdot_px_blocks (k, &t, (size_t) g->sw * words, np, cog, valid_bits,
            &ot, out + px, g->cout);
      else
        bdot_blocks (k, &t, cog, valid_bits, &ot, out + px);
      wo += np;
    }
  }
}

void
beenet_bconv2d (const BeenetKernels *k, const BeenetConvGeom *g,
    const uint32_t *in_bits, const uint32_t *prep, const float *scale,
    const float *bias, const BeenetResidual *res, float *out)
{
  const uint32_t groups = n_groups (g);
  const uint32_t cig = g->c / groups, cog = g->cout / groups;
  const size_t plane = (size_t) g->h * g->w * g->words;
  const uint32_t *plan = prep + groups * bconv2d_group_size (g);
  for (uint32_t gi = 0; gi < groups; gi++)
    bconv2d_group (k, g, cig, cog, in_bits + gi * plane,
        prep + gi * bconv2d_group_size (g), plan, scale + (size_t) gi * cog,
        bias + (size_t) gi * cog, res ? res->res + (size_t) gi * cog : NULL,
        res && res->relu, out + (size_t) gi * cog);
}

void
beenet_bdense (const BeenetKernels *k, uint32_t cin, uint32_t cout,
    const uint32_t *in_bits, const uint32_t *prep, const float *scale,
    const float *bias, bool relu, float *out)
{
  const uint32_t words = (cin + 31) / 32;
  const BeenetBTaps t = {
    .a = in_bits, .w = prep, .a_rs = 0, .w_rs = 0,
    .w_bs = (size_t) words * L, .rows = 1, .n = words,
  };
  const BeenetOutput ot = { scale, bias, NULL, relu, false };
  bdot_blocks (k, &t, cout, (int32_t) cin, &ot, out);
}

/* ---- float ------------------------------------------------------------- */

static inline bool
is_depthwise (const BeenetConvGeom *g)
{
  return g->groups == g->c && g->groups == g->cout;
}

size_t
beenet_conv2d_prepared_size (const BeenetConvGeom *g)
{
  if (is_depthwise (g))
    return (size_t) g->kh * g->kw * g->cout;
  const uint32_t cig = g->c / g->groups, cog = g->cout / g->groups;
  return (size_t) g->groups * n_blocks (cog) * g->kh * g->kw * cig * L;
}

/* [rows][row_len] -> [rows/16][row_len][16], zero-padded rows. */
static void
interleave_f32 (const float *src, uint32_t rows, size_t row_len, float *dst)
{
  memset (dst, 0, sizeof (float) * n_blocks (rows) * row_len * L);
  for (uint32_t r = 0; r < rows; r++) {
    float *d = dst + (size_t) (r / L) * row_len * L + r % L;
    const float *s = src + (size_t) r * row_len;
    for (size_t t = 0; t < row_len; t++)
      d[t * L] = s[t];
  }
}

void
beenet_conv2d_prepare (const BeenetConvGeom *g, const float *weight,
    float *prep)
{
  const size_t taps = (size_t) g->kh * g->kw;
  if (is_depthwise (g)) {
    for (uint32_t co = 0; co < g->cout; co++)
      for (size_t t = 0; t < taps; t++)
        prep[t * g->cout + co] = weight[co * taps + t];
    return;
  }
  const uint32_t cig = g->c / g->groups, cog = g->cout / g->groups;
  const size_t row_len = taps * cig;
  for (uint32_t gi = 0; gi < g->groups; gi++)
    interleave_f32 (weight + (size_t) gi * cog * row_len, cog, row_len,
        prep + (size_t) gi * n_blocks (cog) * row_len * L);
}

size_t
beenet_dense_prepared_size (uint32_t cin, uint32_t cout)
{
  return (size_t) n_blocks (cout) * cin * L;
}

void
beenet_dense_prepare (uint32_t cin, uint32_t cout, const float *weight,
    float *prep)
{
  interleave_f32 (weight, cout, cin, prep);
}

/* Blocks of np output pixels (one group; pixel p's outputs at
 * o + p * o_ps) through fgemv, then transform. */
static void
fgemv_blocks (const BeenetKernels *k, const BeenetFTaps *t, uint32_t cout,
    const float *scale, const float *bias, bool relu, float *o, size_t o_ps)
{
  float acc[BEENET_UK_MAX_PIXELS * MAXB * L];
  for (uint32_t b0 = 0; b0 * L < cout; b0 += MAXB) {
    const uint32_t nb = min_u32 (MAXB, n_blocks (cout) - b0);
    BeenetFTaps tb = *t;
    tb.w += b0 * t->w_bs;
    k->fgemv (&tb, nb, acc);
    const uint32_t c0 = b0 * L, c1 = min_u32 (cout, c0 + nb * L);
    for (uint32_t p = 0; p < t->np; p++)
      k->ffinish (acc + p * nb * L, c1 - c0, scale + c0, bias + c0, relu,
          o + p * o_ps + c0);
  }
}

/* Depthwise: np consecutive output pixels, whose outputs are contiguous
 * (channels of pixel p at o + p * c), computed in place. */
static void
depthwise_span (const BeenetKernels *k, const BeenetConvGeom *g,
    const Window *win, uint32_t np, const float *in, const float *prep,
    const float *scale, const float *bias, float *o)
{
  const BeenetFTaps t = {
    .a = in + (win->y * g->w + win->x) * g->c,
    .w = prep + ((size_t) win->ky * g->kw + win->kx) * g->c,
    .a_rs = (size_t) g->w * g->c, .a_ts = g->c,
    .w_rs = (size_t) g->kw * g->c, .w_ts = g->c,
    .a_ps = (size_t) g->sw * g->c,
    .rows = win->rows, .taps = win->cols, .n = g->c, .np = np,
  };
  k->fdw (&t, o);
  for (uint32_t p = 0; p < np; p++)
    k->ffinish (o + (size_t) p * g->c, g->cout, scale, bias, g->relu,
        o + (size_t) p * g->c);
}

/* np horizontally consecutive output pixels whose windows have the shape
 * of `win` (the first one's), every group. */
static void
conv2d_span (const BeenetKernels *k, const BeenetConvGeom *g,
    const Window *win, uint32_t np, const float *in, const float *prep,
    const float *scale, const float *bias, float *o)
{
  const float *a = in + (win->y * g->w + win->x) * g->c;
  const uint32_t cig = g->c / g->groups, cog = g->cout / g->groups;
  const size_t w_bs = (size_t) g->kh * g->kw * cig * L;
  for (uint32_t gi = 0; gi < g->groups; gi++) {
    BeenetFTaps t = {
      .a = a + (size_t) gi * cig,
      .w = prep + gi * n_blocks (cog) * w_bs
          + ((size_t) win->ky * g->kw + win->kx) * cig * L,
      .a_rs = (size_t) g->w * g->c, .a_ts = g->c,
      .w_rs = (size_t) g->kw * cig * L, .w_ts = (size_t) cig * L,
      .w_bs = w_bs, .a_ps = (size_t) g->sw * g->c,
      .rows = win->rows, .taps = win->cols, .n = cig, .np = np,
    };
    if (g->groups == 1) {
      /* The in-bounds taps of a row are contiguous pixels of all their
       * channels, in the input and in the weights alike: one run per row
       * (same summation order, fewer loop levels; the stem has cig = 1). */
      t.n = win->cols * cig;
      t.taps = win->cols ? 1 : 0;
    }
    const size_t c0 = (size_t) gi * cog;
    fgemv_blocks (k, &t, cog, scale + c0, bias + c0, g->relu, o + c0,
        g->cout);
  }
}

bool
beenet_fconv1_fits (const BeenetConvGeom *g)
{
  if (g->c != 1 || g->groups > 1 || g->cout == 0
      || g->kh > BEENET_FCONV1_MAX_KW || g->kw > BEENET_FCONV1_MAX_KW)
    return false;
  /* A divisor of the vector (pixels share a vector), or whole vectors
   * (a pixel's blocks share its broadcast taps). */
  if (g->cout <= L ? L % g->cout != 0
      : g->cout % L != 0 || g->cout / L > BEENET_FCONV1_MAX_BLOCKS)
    return false;
  const uint32_t chunk = 4 * (g->cout < L ? L / g->cout : 1);
  return (uint64_t) (chunk - 1) * g->sw + g->kw <= 2 * L;
}

void
beenet_conv2d (const BeenetKernels *k, const BeenetConvGeom *g,
    const float *in, const float *prep, const float *scale, const float *bias,
    float *out)
{
  if (k->fconv1 && beenet_fconv1_fits (g)) {
    k->fconv1 (g, in, prep, scale, bias, out);
    return;
  }
  for (uint32_t ho = 0; ho < g->ho; ho++) {
    for (uint32_t wo = 0; wo < g->wo;) {
      const Window win = window_at (g, ho, wo);
      float *o = out + ((size_t) ho * g->wo + wo) * g->cout;
      /* Interior pixels of a row share their window shape: batch them. */
      uint32_t np = 1;
      if (full_x (g, wo))
        while (np < BEENET_UK_MAX_PIXELS && wo + np < g->wo
            && full_x (g, wo + np))
          np++;
      if (is_depthwise (g))
        depthwise_span (k, g, &win, np, in, prep, scale, bias, o);
      else
        conv2d_span (k, g, &win, np, in, prep, scale, bias, o);
      wo += np;
    }
  }
}

void
beenet_dense (const BeenetKernels *k, uint32_t cin, uint32_t cout,
    const float *in, const float *prep, const float *scale, const float *bias,
    bool relu, float *out)
{
  const BeenetFTaps t = {
    .a = in, .w = prep, .w_bs = (size_t) cin * L,
    .rows = 1, .taps = 1, .n = cin, .np = 1,
  };
  fgemv_blocks (k, &t, cout, scale, bias, relu, out, 0);
}
