/* The op table: shape inference, operation counts and run function of every
 * graph op (docs/model-format.md section 4).  Adding an op = one descriptor
 * here (plus, if it is hot, a kernel in kernels.h). */
#include "model-private.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ----------------------------------------------------------- */

static bool
mul3 (uint64_t a, uint64_t b, uint64_t c, uint64_t *r)
{
  uint64_t t;
  return !__builtin_mul_overflow (a, b, &t) && !__builtin_mul_overflow (t, c, r);
}

static bool
add2 (uint64_t a, uint64_t b, uint64_t *r)
{
  return !__builtin_add_overflow (a, b, r);
}

static BeenetStatus
window_out (const BeenetNode *n, uint32_t h, uint32_t w, uint32_t *ho,
    uint32_t *wo, BeenetError *err)
{
  const uint64_t hp = (uint64_t) h + 2ull * n->ph, wp = (uint64_t) w + 2ull * n->pw;
  if (hp < n->kh || wp < n->kw)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (%s): kernel %ux%u larger than the padded input %llux%llu",
        n->index, n->op->name, n->kh, n->kw, (unsigned long long) hp,
        (unsigned long long) wp);
  *ho = (uint32_t) ((hp - n->kh) / n->sh + 1);
  *wo = (uint32_t) ((wp - n->kw) / n->sw + 1);
  return BEENET_OK;
}

static void
set_weight (BeenetNode *n, uint32_t type, uint32_t ndims, uint64_t ne0,
    uint64_t ne1, uint64_t ne2, uint64_t ne3)
{
  n->weight_type = type;
  n->weight_ndims = ndims;
  n->weight_ne[0] = ne0;
  n->weight_ne[1] = ne1;
  n->weight_ne[2] = ne2;
  n->weight_ne[3] = ne3;
}

static BeenetConvGeom
geom (const BeenetNode *n)
{
  BeenetConvGeom g = {
    .h = n->in.h, .w = n->in.w, .c = n->in.c,
    .ho = n->out.h, .wo = n->out.w, .cout = n->out.c,
    .kh = n->kh, .kw = n->kw, .sh = n->sh, .sw = n->sw,
    .ph = n->ph, .pw = n->pw,
    .groups = n->groups ? n->groups : 1,
    .words = n->words,
    .relu = n->relu,
  };
  return g;
}

static size_t
no_scratch (const BeenetNode *n)
{
  (void) n;
  return 0;
}

/* 64-byte aligned buffer of `elems` 4-byte elements for node->prep. */
static BeenetStatus
alloc_prep (BeenetNode *n, size_t elems, BeenetError *err)
{
  const size_t bytes = (elems * 4 + 63) / 64 * 64;
  n->prep = aligned_alloc (64, bytes ? bytes : 64);
  if (!n->prep)
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "node %u (%s): out of memory for %zu bytes of prepared weights",
        n->index, n->op->name, bytes);
  return BEENET_OK;
}

/* ---- conv2d ------------------------------------------------------------ */

static BeenetStatus
conv2d_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) acts; (void) n_classes;
  const uint32_t cin = n->in.c, cout = n->out_channels;
  if (n->groups < 1 || cin % n->groups || cout % n->groups)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (conv2d): groups %u must divide in channels %u and "
        "out_channels %u", n->index, n->groups, cin, cout);
  BeenetStatus st = window_out (n, n->in.h, n->in.w, &n->out.h, &n->out.w, err);
  if (st)
    return st;
  n->out.c = cout;
  set_weight (n, GGUF_TENSOR_F32, 4, cin / n->groups, n->kw, n->kh, cout);
  return BEENET_OK;
}

static bool
conv2d_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  uint64_t hwc, taps, mac, bias;
  *bops = 0;
  return mul3 (n->out.h, n->out.w, n->out.c, &hwc)
      && mul3 (n->kh, n->kw, n->in.c / n->groups, &taps)
      && mul3 (hwc, taps, 1, &mac) && mul3 (hwc, 2, 1, &bias)
      && add2 (mac, bias, flops);
}

static BeenetStatus
conv2d_prepare (BeenetNode *n, BeenetError *err)
{
  const BeenetConvGeom g = geom (n);
  BeenetStatus st = alloc_prep (n, beenet_conv2d_prepared_size (&g), err);
  if (!st)
    beenet_conv2d_prepare (&g, n->weight_f, n->prep);
  return st;
}

static void
conv2d_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  BeenetConvGeom g = geom (n);
  beenet_conv2d (ctx->k, &g, ctx->acts[n->inputs[0]], n->prep, n->scale,
      n->bias, ctx->acts[n->index + 1]);
}

/* ---- bconv2d ----------------------------------------------------------- */

static BeenetStatus
bconv2d_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) acts; (void) n_classes;
  const uint32_t cin = n->in.c, cout = n->out_channels;
  if (cin % n->groups || cout % n->groups)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (bconv2d): groups %u must divide in channels %u and "
        "out_channels %u", n->index, n->groups, cin, cout);
  const uint32_t cig = cin / n->groups;
  if ((uint64_t) n->kh * n->kw * cig > BEENET_MAX_BINARY_FANIN)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (bconv2d): fan-in kh*kw*Cin/groups = %llu exceeds %u",
        n->index, (unsigned long long) n->kh * n->kw * cig,
        BEENET_MAX_BINARY_FANIN);
  BeenetStatus st = window_out (n, n->in.h, n->in.w, &n->out.h, &n->out.w, err);
  if (st)
    return st;
  n->out.c = cout;
  n->words = (cig + 31) / 32;   /* per pixel and group */
  set_weight (n, GGUF_TENSOR_I32, 4, n->words, n->kw, n->kh, cout);
  return BEENET_OK;
}

static bool
bconv2d_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  uint64_t hwc, taps;
  return mul3 (n->out.h, n->out.w, n->out.c, &hwc)
      && mul3 (n->kh, n->kw, n->in.c / n->groups, &taps)
      && mul3 (hwc, taps, 1, bops) && mul3 (hwc, 2, 1, flops);
}

static size_t
bconv2d_scratch (const BeenetNode *n)
{
  return (size_t) n->in.h * n->in.w * n->groups * n->words;
}

static BeenetStatus
bconv2d_prepare (BeenetNode *n, BeenetError *err)
{
  const BeenetConvGeom g = geom (n);
  BeenetStatus st = alloc_prep (n, beenet_bconv2d_prepared_size (&g), err);
  if (!st)
    beenet_bconv2d_prepare (&g, n->weight_b, n->prep);
  return st;
}

static void
bconv2d_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  BeenetConvGeom g = geom (n);
  const float *in = ctx->acts[n->inputs[0]];
  const size_t hw = (size_t) n->in.h * n->in.w;
  if (n->groups == 1) {
    ctx->k->pack_signs (in, hw, n->in.c, ctx->bits);
  } else {
    /* Group-major planes [group][pixel][words]: each group is a packed
     * image of its own for the driver. */
    const uint32_t cig = n->in.c / n->groups;
    for (uint32_t gi = 0; gi < n->groups; gi++)
      for (size_t p = 0; p < hw; p++)
        ctx->k->pack_signs (in + p * n->in.c + (size_t) gi * cig, 1, cig,
            ctx->bits + ((size_t) gi * hw + p) * n->words);
  }
  if (n->fused_res) {
    const BeenetResidual res = { ctx->acts[n->res_act], n->res_relu };
    beenet_bconv2d (ctx->k, &g, ctx->bits, n->prep, n->scale, n->bias, &res,
        ctx->acts[n->index + 2]);
  } else {
    beenet_bconv2d (ctx->k, &g, ctx->bits, n->prep, n->scale, n->bias, NULL,
        ctx->acts[n->index + 1]);
  }
}

/* ---- dense / bdense ---------------------------------------------------- */

static BeenetStatus
dense_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) acts; (void) n_classes; (void) err;
  const uint64_t cin = beenet_shape_size (n->in);
  n->out = (BeenetShape) { 1, 1, n->out_channels };
  set_weight (n, GGUF_TENSOR_F32, 2, cin, n->out_channels, 1, 1);
  return BEENET_OK;
}

static bool
dense_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  uint64_t mac;
  *bops = 0;
  return mul3 (beenet_shape_size (n->in), n->out.c, 1, &mac)
      && add2 (mac, 2ull * n->out.c, flops);
}

static BeenetStatus
dense_prepare (BeenetNode *n, BeenetError *err)
{
  const uint32_t cin = (uint32_t) beenet_shape_size (n->in);
  BeenetStatus st = alloc_prep (n,
      beenet_dense_prepared_size (cin, n->out.c), err);
  if (!st)
    beenet_dense_prepare (cin, n->out.c, n->weight_f, n->prep);
  return st;
}

static void
dense_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  beenet_dense (ctx->k, (uint32_t) beenet_shape_size (n->in), n->out.c,
      ctx->acts[n->inputs[0]], n->prep, n->scale, n->bias, n->relu,
      ctx->acts[n->index + 1]);
}

static BeenetStatus
bdense_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) acts; (void) n_classes;
  const uint64_t cin = beenet_shape_size (n->in);
  if (cin > BEENET_MAX_BINARY_FANIN)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (bdense): fan-in %llu exceeds %u", n->index,
        (unsigned long long) cin, BEENET_MAX_BINARY_FANIN);
  n->out = (BeenetShape) { 1, 1, n->out_channels };
  n->words = (uint32_t) ((cin + 31) / 32);
  set_weight (n, GGUF_TENSOR_I32, 2, n->words, n->out_channels, 1, 1);
  return BEENET_OK;
}

static bool
bdense_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  *flops = 2ull * n->out.c;
  return mul3 (beenet_shape_size (n->in), n->out.c, 1, bops);
}

static size_t
bdense_scratch (const BeenetNode *n)
{
  return n->words;
}

static BeenetStatus
bdense_prepare (BeenetNode *n, BeenetError *err)
{
  const uint32_t cin = (uint32_t) beenet_shape_size (n->in);
  BeenetStatus st = alloc_prep (n,
      beenet_bdense_prepared_size (cin, n->out.c), err);
  if (!st)
    beenet_bdense_prepare (cin, n->out.c, n->weight_b, n->prep);
  return st;
}

static void
bdense_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  const uint32_t cin = (uint32_t) beenet_shape_size (n->in);
  ctx->k->pack_signs (ctx->acts[n->inputs[0]], 1, cin, ctx->bits);
  beenet_bdense (ctx->k, cin, n->out.c, ctx->bits, n->prep, n->scale,
      n->bias, n->relu, ctx->acts[n->index + 1]);
}

/* ---- channel copies (concat, slice, add with an offset) ----------------- */

/* c channels of n_pixels pixels from src (pixel stride ss) to dst (ds). */
static void
copy_channels (float *dst, size_t ds, const float *src, size_t ss,
    size_t n_pixels, uint32_t c)
{
  for (size_t p = 0; p < n_pixels; p++)
    memcpy (dst + p * ds, src + p * ss, c * sizeof (float));
}

/* ---- add --------------------------------------------------------------- */

/* Version 2: the second input may have fewer channels and is added onto
 * channels [channel_offset, channel_offset + C_b) of the first. */
typedef struct {
  uint32_t channel_offset;
  uint32_t b_channels;       /* channels of the second input (infer) */
  bool same_shape;           /* version 1: both inputs of one shape */
} AddParams;

static BeenetStatus
add_parse (BeenetNode *n, const BeenetNodeKeys *keys, BeenetError *err)
{
  AddParams *p = n->params;
  p->same_shape = keys->version < 2;
  if (p->same_shape)
    return BEENET_OK;   /* a version-1 reader ignored unknown keys */
  return beenet_node_u32 (keys, "channel_offset", false, 0,
      BEENET_MAX_CHANNELS, &p->channel_offset, err);
}

static BeenetStatus
add_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) n_classes;
  const AddParams *p = n->params;
  const BeenetShape a = acts[n->inputs[0]], b = acts[n->inputs[1]];
  if (a.h != b.h || a.w != b.w || (p->same_shape && a.c != b.c))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (add): input shapes differ: activation %u is %ux%ux%u, "
        "activation %u is %ux%ux%u", n->index, n->inputs[0], a.h, a.w, a.c,
        n->inputs[1], b.h, b.w, b.c);
  if ((uint64_t) p->channel_offset + b.c > a.c)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (add): channel_offset %u + %u channels of activation %u "
        "exceed the %u channels of activation %u", n->index,
        p->channel_offset, b.c, n->inputs[1], a.c, n->inputs[0]);
  ((AddParams *) n->params)->b_channels = b.c;
  n->out = a;
  return BEENET_OK;
}

static bool
add_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  /* One FLOP per element read: all of the first input, all of the
   * second (2*H*W*C for equal shapes, as in version 1). */
  *bops = 0;
  const uint64_t c = (uint64_t) n->in.c
      + ((const AddParams *) n->params)->b_channels;
  return mul3 (n->in.h, n->in.w, c, flops);
}

static void
add_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  if (n->fused_away)
    return;   /* computed by the bconv2d before it */
  const AddParams *p = n->params;
  const float *a = ctx->acts[n->inputs[0]], *b = ctx->acts[n->inputs[1]];
  float *o = ctx->acts[n->index + 1];
  const uint32_t ca = n->out.c, cb = p->b_channels;
  const size_t hw = (size_t) n->out.h * n->out.w;
  if (cb == ca) {
    ctx->k->add (a, b, beenet_shape_size (n->out), n->relu, o);
    return;
  }
  copy_channels (o, ca, a, ca, hw, ca);
  for (size_t px = 0; px < hw; px++)
    ctx->k->add (o + px * ca + p->channel_offset, b + px * cb, cb, false,
        o + px * ca + p->channel_offset);
  if (n->relu)
    for (size_t i = 0; i < hw * ca; i++)
      o[i] = o[i] < 0.0f ? 0.0f : o[i];
}

/* ---- concat: channels of every input, in input order -------------------- */

static BeenetStatus
concat_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) n_classes;
  uint64_t c = 0;
  for (uint32_t k = 0; k < n->n_inputs; k++) {
    const BeenetShape s = acts[n->inputs[k]];
    if (s.h != n->in.h || s.w != n->in.w)
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "node %u (concat): activation %u is %ux%u, activation %u is %ux%u "
          "(H and W must agree)", n->index, n->inputs[0], n->in.h, n->in.w,
          n->inputs[k], s.h, s.w);
    c += s.c;
  }
  if (c > BEENET_MAX_CHANNELS)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (concat): %llu channels exceed %u", n->index,
        (unsigned long long) c, BEENET_MAX_CHANNELS);
  n->out = (BeenetShape) { n->in.h, n->in.w, (uint32_t) c };
  return BEENET_OK;
}

static bool
copy_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  /* One operation per element written (a copy). */
  *bops = 0;
  *flops = beenet_shape_size (n->out);
  return true;
}

static void
concat_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  float *o = ctx->acts[n->index + 1];
  const size_t hw = (size_t) n->out.h * n->out.w;
  uint32_t off = 0;
  for (uint32_t k = 0; k < n->n_inputs; k++) {
    const uint32_t c = ctx->shapes[n->inputs[k]].c;
    copy_channels (o + off, n->out.c, ctx->acts[n->inputs[k]], c, hw, c);
    off += c;
  }
}

/* ---- slice: channels [channel_offset, channel_offset + out_channels) ---- */

typedef struct {
  uint32_t channel_offset;
} SliceParams;

static BeenetStatus
slice_parse (BeenetNode *n, const BeenetNodeKeys *keys, BeenetError *err)
{
  SliceParams *p = n->params;
  return beenet_node_u32 (keys, "channel_offset", true, 0,
      BEENET_MAX_CHANNELS, &p->channel_offset, err);
}

static BeenetStatus
slice_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) acts; (void) n_classes;
  const SliceParams *p = n->params;
  if ((uint64_t) p->channel_offset + n->out_channels > n->in.c)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (slice): channels %u..%u of a %u-channel activation",
        n->index, p->channel_offset, p->channel_offset + n->out_channels,
        n->in.c);
  n->out = (BeenetShape) { n->in.h, n->in.w, n->out_channels };
  return BEENET_OK;
}

static void
slice_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  const SliceParams *p = n->params;
  copy_channels (ctx->acts[n->index + 1], n->out.c,
      ctx->acts[n->inputs[0]] + p->channel_offset, n->in.c,
      (size_t) n->out.h * n->out.w, n->out.c);
}

/* ---- pools ------------------------------------------------------------- */

static BeenetStatus
pool_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) acts; (void) n_classes;
  /* padding < kernel guarantees every window has an in-bounds tap. */
  if (n->ph >= n->kh || n->pw >= n->kw)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (%s): padding %ux%u must be smaller than the kernel %ux%u",
        n->index, n->op->name, n->ph, n->pw, n->kh, n->kw);
  BeenetStatus st = window_out (n, n->in.h, n->in.w, &n->out.h, &n->out.w, err);
  if (st)
    return st;
  n->out.c = n->in.c;
  return BEENET_OK;
}

static bool
pool_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  /* One FLOP per element of the input tensor (as global_avgpool). */
  *bops = 0;
  *flops = beenet_shape_size (n->in);
  return true;
}

static void
pool_run (const BeenetRunCtx *ctx, const BeenetNode *n, bool is_max)
{
  const float *in = ctx->acts[n->inputs[0]];
  float *out = ctx->acts[n->index + 1];
  const uint32_t c = n->in.c;
  for (uint32_t ho = 0; ho < n->out.h; ho++) {
    const int64_t y0 = (int64_t) ho * n->sh - n->ph;
    const int64_t ylo = y0 < 0 ? 0 : y0;
    const int64_t yhi = y0 + n->kh < (int64_t) n->in.h ? y0 + n->kh : n->in.h;
    for (uint32_t wo = 0; wo < n->out.w; wo++) {
      const int64_t x0 = (int64_t) wo * n->sw - n->pw;
      const int64_t xlo = x0 < 0 ? 0 : x0;
      const int64_t xhi = x0 + n->kw < (int64_t) n->in.w ? x0 + n->kw : n->in.w;
      float *o = out + ((size_t) ho * n->out.w + wo) * c;
      const float *first = in + ((size_t) ylo * n->in.w + (size_t) xlo) * c;
      memcpy (o, first, c * sizeof (float));
      for (int64_t y = ylo; y < yhi; y++) {
        for (int64_t x = xlo; x < xhi; x++) {
          if (y == ylo && x == xlo)
            continue;
          const float *p = in + ((size_t) y * n->in.w + (size_t) x) * c;
          if (is_max) {
            for (uint32_t ch = 0; ch < c; ch++)
              o[ch] = p[ch] > o[ch] ? p[ch] : o[ch];
          } else {
            for (uint32_t ch = 0; ch < c; ch++)
              o[ch] += p[ch];
          }
        }
      }
      if (!is_max) {
        const float inv = 1.0f / (float) ((yhi - ylo) * (xhi - xlo));
        for (uint32_t ch = 0; ch < c; ch++)
          o[ch] *= inv;
      }
    }
  }
}

static void
maxpool_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  pool_run (ctx, n, true);
}

static void
avgpool_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  pool_run (ctx, n, false);
}

/* ---- global_avgpool ---------------------------------------------------- */

static BeenetStatus
gap_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) acts; (void) n_classes; (void) err;
  n->out = (BeenetShape) { 1, 1, n->in.c };
  return BEENET_OK;
}

static bool
gap_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  *bops = 0;
  *flops = beenet_shape_size (n->in);
  return true;
}

static void
gap_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  const size_t hw = (size_t) n->in.h * n->in.w;
  ctx->k->gap (ctx->acts[n->inputs[0]], hw, n->in.c, 1.0f / (float) hw,
      ctx->acts[n->index + 1]);
}

/* ---- exit -------------------------------------------------------------- */

static BeenetStatus
exit_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) acts;
  if (n->in.h != 1 || n->in.w != 1 || n->in.c != n_classes)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (exit): input activation %u is %ux%ux%u, expected 1x1x%u "
        "(num_classes)", n->index, n->inputs[0], n->in.h, n->in.w, n->in.c,
        n_classes);
  n->out = n->in;
  return BEENET_OK;
}

static bool
exit_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  *bops = 0;
  *flops = 3ull * n->in.c;
  return true;
}

static void
exit_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  beenet_softmax_entropy (ctx->acts[n->inputs[0]], n->in.c,
      ctx->acts[n->index + 1]);
}

double
beenet_softmax_entropy (const float *logits, uint32_t n, float *probs)
{
  float m = logits[0];
  for (uint32_t k = 1; k < n; k++)
    m = logits[k] > m ? logits[k] : m;
  double s = 0.0;
  for (uint32_t k = 0; k < n; k++)
    s += exp ((double) logits[k] - m);
  const double log_s = log (s);
  double h = 0.0;
  for (uint32_t k = 0; k < n; k++) {
    /* log p = (l - m) - log s, exact even where p underflows to 0, and
     * p * log p -> 0 there (0 ln 0 = 0). */
    const double logp = ((double) logits[k] - m) - log_s;
    const double p = exp (logp);
    probs[k] = (float) p;
    if (p > 0.0)
      h -= p * logp;
  }
  return h > 0.0 ? h : 0.0;
}

/* ---- pcen -------------------------------------------------------------- */

/* Per-channel energy normalisation of a one-channel log-Mel map (format
 * version 3, docs/model-format.md "pcen"): weight rows alpha, delta, r,
 * gain, offset, one value per column (Mel channel).  With E = exp(x) and the
 * smoother M_0 = E_0, M_t = (1 - smooth) M_{t-1} + smooth E_t down the rows
 * (frames): y = (E / (eps + M)^alpha + delta)^r - delta^r, then
 * gain * y + offset, then the node's scale and bias (one channel). */
typedef struct {
  float smooth, eps;
} PcenParams;

enum { PCEN_ALPHA, PCEN_DELTA, PCEN_R, PCEN_GAIN, PCEN_OFFSET, PCEN_ROWS };

/* Bounds of the weight rows, checked at load: with them a finite input gives
 * finite outputs for log-Mel values in the front-end's range. */
static const struct {
  const char *name;
  float lo, hi;
  bool open_lo;
} pcen_rows[PCEN_ROWS] = {
  { "alpha", 0.0f, 4.0f, false },
  { "delta", 0.0f, 1e6f, true },
  { "r", 0.0f, 4.0f, true },
  { "gain", -1e6f, 1e6f, false },
  { "offset", -1e6f, 1e6f, false },
};

static BeenetStatus
pcen_parse (BeenetNode *n, const BeenetNodeKeys *keys, BeenetError *err)
{
  PcenParams *p = n->params;
  BeenetStatus st = beenet_node_f32 (keys, "smooth", FLT_MIN, 1.0f,
      &p->smooth, err);
  return st ? st : beenet_node_f32 (keys, "eps", FLT_MIN, 1.0f, &p->eps,
      err);
}

static BeenetStatus
pcen_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) acts; (void) n_classes;
  if (n->in.c != 1)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (pcen): input has %u channels; pcen reads a one-channel "
        "map (frames x Mel channels)", n->index, n->in.c);
  n->out = n->in;
  set_weight (n, GGUF_TENSOR_F32, 2, n->in.w, PCEN_ROWS, 1, 1);
  return BEENET_OK;
}

static bool
pcen_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  *bops = 0;
  return mul3 (BEENET_PCEN_FLOPS_PER_VALUE, n->in.h, n->in.w, flops);
}

/* Check the weight rows and keep delta^r per channel in node->prep. */
static BeenetStatus
pcen_prepare (BeenetNode *n, BeenetError *err)
{
  const uint32_t w = n->in.w;
  for (uint32_t k = 0; k < PCEN_ROWS; k++)
    for (uint32_t m = 0; m < w; m++) {
      const float v = n->weight_f[(size_t) k * w + m];
      if (!(isfinite (v) && v <= pcen_rows[k].hi && (pcen_rows[k].open_lo
                  ? v > pcen_rows[k].lo : v >= pcen_rows[k].lo)))
        return beenet_set_error (err, BEENET_ERROR_CORRUPT,
            "node %u (pcen): %s of channel %u is %g, outside %c%g, %g]",
            n->index, pcen_rows[k].name, m, (double) v,
            pcen_rows[k].open_lo ? '(' : '[', (double) pcen_rows[k].lo,
            (double) pcen_rows[k].hi);
    }
  BeenetStatus st = alloc_prep (n, w, err);
  if (st)
    return st;
  float *delta_r = n->prep;
  for (uint32_t m = 0; m < w; m++)
    delta_r[m] = powf (n->weight_f[PCEN_DELTA * w + m],
        n->weight_f[PCEN_R * w + m]);
  return BEENET_OK;
}

static void
pcen_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  const PcenParams *p = n->params;
  const uint32_t t_n = n->in.h, w = n->in.w;
  const float *x = ctx->acts[n->inputs[0]];
  float *o = ctx->acts[n->index + 1];
  const float *wt = n->weight_f, *delta_r = n->prep;
  const float *alpha = wt + PCEN_ALPHA * w, *delta = wt + PCEN_DELTA * w,
      *r = wt + PCEN_R * w, *gain = wt + PCEN_GAIN * w,
      *offset = wt + PCEN_OFFSET * w;
  const float s = p->smooth, keep = 1.0f - p->smooth;
  /* Pass 1: the smoother, row by row into the output. */
  for (uint32_t m = 0; m < w; m++)
    o[m] = expf (x[m]);
  for (uint32_t t = 1; t < t_n; t++)
    for (uint32_t m = 0; m < w; m++)
      o[t * w + m] = keep * o[(t - 1) * w + m] + s * expf (x[t * w + m]);
  /* Pass 2: E / (eps + M)^alpha = exp(x - alpha ln(eps + M)), then the
   * root compression and both affines. */
  const float scale = n->scale[0], bias = n->bias[0];
  for (uint32_t t = 0; t < t_n; t++)
    for (uint32_t m = 0; m < w; m++) {
      const size_t i = (size_t) t * w + m;
      const float g = expf (x[i] - alpha[m] * logf (p->eps + o[i]));
      const float y = expf (r[m] * logf (g + delta[m])) - delta_r[m];
      o[i] = scale * (gain[m] * y + offset[m]) + bias;
    }
}

/* ---- noise_floor ------------------------------------------------------- */

/* Per-channel floor of a one-channel frames x Mel map (format version 4,
 * docs/model-format.md "noise_floor"): q[m] = the (rank + 1)-th smallest of
 * column m over the window's frames, out = act(x - q[m]).  A fixed
 * minimum-statistics noise estimate in the log domain: what is stationary
 * over the window goes to 0 and the activation clips what lies under it. */
typedef struct {
  uint32_t rank;
} NoiseFloorParams;

static BeenetStatus
noise_floor_parse (BeenetNode *n, const BeenetNodeKeys *keys, BeenetError *err)
{
  NoiseFloorParams *p = n->params;
  return beenet_node_u32 (keys, "rank", true, 0, UINT32_MAX, &p->rank, err);
}

static BeenetStatus
noise_floor_infer (BeenetNode *n, const BeenetShape *acts, uint32_t n_classes,
    BeenetError *err)
{
  (void) acts; (void) n_classes;
  const NoiseFloorParams *p = n->params;
  if (n->in.c != 1 || n->in.h < 2 || n->in.w < 2)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (noise_floor): input is %ux%ux%u; noise_floor reads a "
        "one-channel map of at least 2 frames x 2 Mel channels", n->index,
        n->in.h, n->in.w, n->in.c);
  if (p->rank >= n->in.h)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (noise_floor): rank %u is not below the %u frames",
        n->index, p->rank, n->in.h);
  n->out = n->in;
  return BEENET_OK;
}

static bool
noise_floor_cost (const BeenetNode *n, uint64_t *bops, uint64_t *flops)
{
  *bops = 0;
  return mul3 (BEENET_NOISE_FLOOR_FLOPS_PER_VALUE, n->in.h, n->in.w, flops);
}

/* The k-th smallest (0-based) of v[0..n), n >= 1, reordering v (Wirth's
 * selection: partitions around v[k] until k is in place).  The value is the
 * same whatever the order of v. */
static float
select_kth (float *v, int32_t n, int32_t k)
{
  int32_t l = 0, r = n - 1;
  while (l < r) {
    const float x = v[k];
    int32_t i = l, j = r;
    do {
      while (v[i] < x)
        i++;
      while (x < v[j])
        j--;
      if (i <= j) {
        const float t = v[i];
        v[i++] = v[j];
        v[j--] = t;
      }
    } while (i <= j);
    if (j < k)
      l = i;
    if (k < i)
      r = j;
  }
  return v[k];
}

/* No scratch of its own: each column is selected in the output's first T
 * values, and the floors are kept in its last row (T <= (T - 1) * M for
 * M >= 2, T >= 2, so the two never overlap), which is written last. */
static void
noise_floor_run (const BeenetRunCtx *ctx, const BeenetNode *n)
{
  const NoiseFloorParams *p = n->params;
  const uint32_t t_n = n->in.h, w = n->in.w;
  const float *x = ctx->acts[n->inputs[0]];
  float *o = ctx->acts[n->index + 1];
  float *q = o + (size_t) (t_n - 1) * w;
  for (uint32_t m = 0; m < w; m++) {
    for (uint32_t t = 0; t < t_n; t++)
      o[t] = x[(size_t) t * w + m];
    q[m] = select_kth (o, (int32_t) t_n, (int32_t) p->rank);
  }
  for (uint32_t t = 0; t < t_n; t++)   /* row t_n - 1 reads q[m] in place */
    for (uint32_t m = 0; m < w; m++) {
      const size_t i = (size_t) t * w + m;
      const float v = x[i] - q[m];
      o[i] = n->relu && v < 0.0f ? 0.0f : v;
    }
}

/* ---- table ------------------------------------------------------------- */

#define W BEENET_OPF_WINDOW
#define OC BEENET_OPF_OUT_CHANNELS
#define ACT BEENET_OPF_ACTIVATION
#define WT BEENET_OPF_WEIGHTS

/* One row per op (docs/model-format.md section 4; "Adding an op" in
 * docs/engine.md).  min_version: the beenet.format_version that introduced
 * it; a file of an older version naming it is UNSUPPORTED. */
static const BeenetOpDesc ops[] = {
  { .name = "conv2d", .min_inputs = 1, .max_inputs = 1, .min_version = 1,
    .flags = W | BEENET_OPF_GROUPS | OC | ACT | WT,
    .infer = conv2d_infer, .cost = conv2d_cost, .scratch_words = no_scratch,
    .run = conv2d_run, .prepare = conv2d_prepare },
  { .name = "bconv2d", .min_inputs = 1, .max_inputs = 1, .min_version = 1,
    .flags = W | BEENET_OPF_GROUPS_OPT | OC | ACT | WT | BEENET_OPF_BINARY,
    .infer = bconv2d_infer, .cost = bconv2d_cost,
    .scratch_words = bconv2d_scratch, .run = bconv2d_run,
    .prepare = bconv2d_prepare },
  { .name = "add", .min_inputs = 2, .max_inputs = 2, .min_version = 1,
    .flags = ACT, .params_size = sizeof (AddParams), .parse = add_parse,
    .infer = add_infer, .cost = add_cost, .scratch_words = no_scratch,
    .run = add_run },
  { .name = "maxpool2d", .min_inputs = 1, .max_inputs = 1, .min_version = 1,
    .flags = W, .infer = pool_infer, .cost = pool_cost,
    .scratch_words = no_scratch, .run = maxpool_run },
  { .name = "avgpool2d", .min_inputs = 1, .max_inputs = 1, .min_version = 1,
    .flags = W, .infer = pool_infer, .cost = pool_cost,
    .scratch_words = no_scratch, .run = avgpool_run },
  { .name = "global_avgpool", .min_inputs = 1, .max_inputs = 1,
    .min_version = 1, .infer = gap_infer, .cost = gap_cost,
    .scratch_words = no_scratch, .run = gap_run },
  { .name = "dense", .min_inputs = 1, .max_inputs = 1, .min_version = 1,
    .flags = OC | ACT | WT, .infer = dense_infer, .cost = dense_cost,
    .scratch_words = no_scratch, .run = dense_run, .prepare = dense_prepare },
  { .name = "bdense", .min_inputs = 1, .max_inputs = 1, .min_version = 1,
    .flags = OC | ACT | WT | BEENET_OPF_BINARY, .infer = bdense_infer,
    .cost = bdense_cost, .scratch_words = bdense_scratch, .run = bdense_run,
    .prepare = bdense_prepare },
  { .name = "exit", .min_inputs = 1, .max_inputs = 1, .min_version = 1,
    .flags = BEENET_OPF_EXIT, .infer = exit_infer, .cost = exit_cost,
    .scratch_words = no_scratch, .run = exit_run },
  { .name = "concat", .min_inputs = 1, .max_inputs = BEENET_MAX_INPUTS,
    .min_version = 2, .infer = concat_infer, .cost = copy_cost,
    .scratch_words = no_scratch, .run = concat_run },
  { .name = "slice", .min_inputs = 1, .max_inputs = 1, .min_version = 2,
    .flags = OC, .params_size = sizeof (SliceParams), .parse = slice_parse,
    .infer = slice_infer, .cost = copy_cost, .scratch_words = no_scratch,
    .run = slice_run },
  { .name = "pcen", .min_inputs = 1, .max_inputs = 1, .min_version = 3,
    .flags = WT, .params_size = sizeof (PcenParams), .parse = pcen_parse,
    .infer = pcen_infer, .cost = pcen_cost, .scratch_words = no_scratch,
    .run = pcen_run, .prepare = pcen_prepare },
  { .name = "noise_floor", .min_inputs = 1, .max_inputs = 1, .min_version = 4,
    .flags = ACT, .params_size = sizeof (NoiseFloorParams),
    .parse = noise_floor_parse, .infer = noise_floor_infer,
    .cost = noise_floor_cost, .scratch_words = no_scratch,
    .run = noise_floor_run },
};


/* Names reserved for later format versions (UNSUPPORTED). */
static const char *const reserved_ops[] = { "global_maxpool" };

const BeenetOpDesc *
beenet_op_lookup (GgufStr name, bool *reserved)
{
  *reserved = false;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (gguf_str_eq (name, ops[i].name))
      return &ops[i];
  for (size_t i = 0; i < sizeof reserved_ops / sizeof reserved_ops[0]; i++)
    if (gguf_str_eq (name, reserved_ops[i]))
      *reserved = true;
  return NULL;
}
