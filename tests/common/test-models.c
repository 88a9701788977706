/* Model builders for tests and benchmarks; see test-models.h. */
#include "test-models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ACTS 4097

struct TestModel {
  GgufWriter *w;
  unsigned n_classes;
  unsigned n_frames, n_mels;
  unsigned n_nodes, n_exits;
  unsigned shape[MAX_ACTS][3]; /* h, w, c */
  uint32_t rng;
  float *mean, *inv_std;
  char policy[32];
  float threshold;
  unsigned version;  /* beenet.format_version: 1, or 2 once a version-2
                        feature is used */
};

uint32_t
test_rand_u32 (uint32_t *s)
{
  /* Numerical Recipes LCG, then a xorshift-style output mix. */
  *s = *s * 1664525u + 1013904223u;
  uint32_t x = *s;
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  return x;
}

float
test_rand_float (uint32_t *s)
{
  return (float) ((double) (test_rand_u32 (s) >> 8) / 8388608.0 - 1.0);
}

static void *
xcalloc (size_t n, size_t size)
{
  void *p = calloc (n ? n : 1, size ? size : 1);
  if (!p) {
    fprintf (stderr, "test-models: out of memory\n");
    abort ();
  }
  return p;
}

TestModel *
test_model_new_with_shape (unsigned n_classes, unsigned n_frames,
    unsigned n_mels)
{
  TestModel *m = xcalloc (1, sizeof *m);
  m->w = gguf_writer_new ();
  m->n_classes = n_classes;
  m->n_frames = n_frames;
  m->n_mels = n_mels;
  m->shape[0][0] = n_frames;
  m->shape[0][1] = n_mels;
  m->shape[0][2] = 1;
  m->rng = 12345u;
  m->mean = xcalloc (n_mels, sizeof (float));
  m->inv_std = xcalloc (n_mels, sizeof (float));
  for (unsigned i = 0; i < n_mels; i++)
    m->inv_std[i] = 1.0f;
  strcpy (m->policy, "entropy");
  m->threshold = 0.5f;
  m->version = 1;
  return m;
}

TestModel *
test_model_new (unsigned n_classes)
{
  return test_model_new_with_shape (n_classes, 98, 64);
}

void
test_model_free (TestModel *m)
{
  if (!m)
    return;
  gguf_writer_free (m->w);
  free (m->mean);
  free (m->inv_std);
  free (m);
}

int
test_model_shape (const TestModel *m, int act, unsigned *h, unsigned *w,
    unsigned *c)
{
  if (act < 0 || (unsigned) act > m->n_nodes)
    return -1;
  if (h) *h = m->shape[act][0];
  if (w) *w = m->shape[act][1];
  if (c) *c = m->shape[act][2];
  return 0;
}

unsigned
test_model_num_activations (const TestModel *m)
{
  return m->n_nodes + 1;
}

unsigned
test_model_num_exits (const TestModel *m)
{
  return m->n_exits;
}

void
test_model_set_normalisation (TestModel *m, const float *mean,
    const float *inv_std)
{
  memcpy (m->mean, mean, m->n_mels * sizeof (float));
  memcpy (m->inv_std, inv_std, m->n_mels * sizeof (float));
}

int
test_model_set_num_classes (TestModel *m, unsigned n_classes)
{
  if (m->n_exits > 0 || n_classes < 2 || n_classes > 1024)
    return -1;
  m->n_classes = n_classes;
  return 0;
}

void
test_model_set_policy (TestModel *m, const char *policy, float threshold)
{
  snprintf (m->policy, sizeof m->policy, "%s", policy);
  m->threshold = threshold;
}

static int
valid_input (const TestModel *m, int act)
{
  return act >= 0 && (unsigned) act <= m->n_nodes && m->n_nodes + 1 < MAX_ACTS;
}

static void
key (char *buf, size_t n, unsigned node, const char *field)
{
  snprintf (buf, n, "beenet.node.%u.%s", node, field);
}

static void
node_begin (TestModel *m, const char *op, const int *inputs, unsigned n_in)
{
  char k[96];
  int32_t *in = xcalloc (n_in, sizeof (int32_t));
  for (unsigned i = 0; i < n_in; i++)
    in[i] = inputs[i];
  key (k, sizeof k, m->n_nodes, "op");
  gguf_writer_add_string (m->w, k, op);
  key (k, sizeof k, m->n_nodes, "inputs");
  gguf_writer_add_array_i32 (m->w, k, in, n_in);
  free (in);
}

static void
node_window (TestModel *m, unsigned kh, unsigned kw, unsigned sh, unsigned sw,
    unsigned ph, unsigned pw)
{
  char k[96];
  uint32_t a[2];
  key (k, sizeof k, m->n_nodes, "kernel");
  a[0] = kh; a[1] = kw;
  gguf_writer_add_array_u32 (m->w, k, a, 2);
  key (k, sizeof k, m->n_nodes, "stride");
  a[0] = sh; a[1] = sw;
  gguf_writer_add_array_u32 (m->w, k, a, 2);
  key (k, sizeof k, m->n_nodes, "padding");
  a[0] = ph; a[1] = pw;
  gguf_writer_add_array_u32 (m->w, k, a, 2);
}

static void
node_act (TestModel *m, int relu)
{
  char k[96];
  key (k, sizeof k, m->n_nodes, "activation");
  gguf_writer_add_string (m->w, k, relu ? "relu" : "none");
}

static void
node_u32 (TestModel *m, const char *field, uint32_t v)
{
  char k[96];
  key (k, sizeof k, m->n_nodes, field);
  gguf_writer_add_u32 (m->w, k, v);
}

/* scale/bias tensors (random when NULL). */
static void
node_scale_bias (TestModel *m, unsigned cout, const float *scale,
    const float *bias, float scale_mag)
{
  char name[64];
  uint64_t ne[1] = { cout };
  float *s = xcalloc (cout, sizeof (float)), *b = xcalloc (cout, sizeof (float));
  for (unsigned i = 0; i < cout; i++) {
    s[i] = scale ? scale[i] : scale_mag * (1.0f + 0.25f * test_rand_float (&m->rng));
    b[i] = bias ? bias[i] : 0.1f * test_rand_float (&m->rng);
  }
  snprintf (name, sizeof name, "node.%u.scale", m->n_nodes);
  gguf_writer_add_tensor_f32 (m->w, name, 1, ne, s);
  snprintf (name, sizeof name, "node.%u.bias", m->n_nodes);
  gguf_writer_add_tensor_f32 (m->w, name, 1, ne, b);
  free (s);
  free (b);
}

static int
node_end (TestModel *m, unsigned h, unsigned w, unsigned c)
{
  m->n_nodes++;
  m->shape[m->n_nodes][0] = h;
  m->shape[m->n_nodes][1] = w;
  m->shape[m->n_nodes][2] = c;
  return (int) m->n_nodes;
}

static int
window_out (unsigned in, unsigned k, unsigned s, unsigned p, unsigned *out)
{
  if (k < 1 || s < 1 || in + 2 * p < k)
    return -1;
  *out = (in + 2 * p - k) / s + 1;
  return 0;
}

int
test_model_conv2d (TestModel *m, int input, unsigned kh, unsigned kw,
    unsigned sh, unsigned sw, unsigned ph, unsigned pw, unsigned groups,
    unsigned cout, int relu, const float *weight, const float *scale,
    const float *bias)
{
  unsigned h, w, c, ho, wo;
  if (!valid_input (m, input) || groups < 1 || cout < 1)
    return -1;
  test_model_shape (m, input, &h, &w, &c);
  if (c % groups || cout % groups || window_out (h, kh, sh, ph, &ho)
      || window_out (w, kw, sw, pw, &wo))
    return -1;
  const unsigned cig = c / groups;
  node_begin (m, "conv2d", &input, 1);
  node_window (m, kh, kw, sh, sw, ph, pw);
  node_u32 (m, "groups", groups);
  node_u32 (m, "out_channels", cout);
  node_act (m, relu);
  uint64_t ne[4] = { cig, kw, kh, cout };
  size_t n = (size_t) cig * kw * kh * cout;
  float *wt = xcalloc (n, sizeof (float));
  /* He-like scale keeps random activations in a sane range. */
  float mag = 1.0f / (float) (cig * kh * kw);
  for (size_t i = 0; i < n; i++)
    wt[i] = weight ? weight[i] : 2.0f * mag * test_rand_float (&m->rng);
  char name[64];
  snprintf (name, sizeof name, "node.%u.weight", m->n_nodes);
  gguf_writer_add_tensor_f32 (m->w, name, 4, ne, wt);
  free (wt);
  node_scale_bias (m, cout, scale, bias, 1.0f);
  return node_end (m, ho, wo, cout);
}

static uint32_t *
random_bits (TestModel *m, unsigned cin, size_t rows)
{
  const unsigned words = (cin + 31) / 32;
  uint32_t *wt = xcalloc ((size_t) words * rows, sizeof (uint32_t));
  for (size_t r = 0; r < rows; r++)
    for (unsigned j = 0; j < words; j++) {
      uint32_t v = test_rand_u32 (&m->rng);
      unsigned valid = cin - 32 * j;
      if (valid < 32)
        v &= (1u << valid) - 1u;
      wt[r * words + j] = v;
    }
  return wt;
}

int
test_model_bconv2d (TestModel *m, int input, unsigned kh, unsigned kw,
    unsigned sh, unsigned sw, unsigned ph, unsigned pw, unsigned cout,
    int relu, const uint32_t *weight, const float *scale, const float *bias)
{
  return test_model_bconv2d_grouped (m, input, kh, kw, sh, sw, ph, pw, 1,
      cout, relu, weight, scale, bias);
}

int
test_model_bconv2d_grouped (TestModel *m, int input, unsigned kh,
    unsigned kw, unsigned sh, unsigned sw, unsigned ph, unsigned pw,
    unsigned groups, unsigned cout, int relu, const uint32_t *weight,
    const float *scale, const float *bias)
{
  unsigned h, w, cin, ho, wo;
  if (!valid_input (m, input) || cout < 1 || groups < 1)
    return -1;
  test_model_shape (m, input, &h, &w, &cin);
  if (cin % groups || cout % groups || window_out (h, kh, sh, ph, &ho)
      || window_out (w, kw, sw, pw, &wo))
    return -1;
  if (groups > 1 && m->version < 2)
    m->version = 2;
  const unsigned c = cin / groups;   /* channels per group */
  const unsigned words = (c + 31) / 32;
  node_begin (m, "bconv2d", &input, 1);
  node_window (m, kh, kw, sh, sw, ph, pw);
  node_u32 (m, "groups", groups);
  node_u32 (m, "out_channels", cout);
  node_act (m, relu);
  uint64_t ne[4] = { words, kw, kh, cout };
  size_t rows = (size_t) kw * kh * cout;
  uint32_t *wt = random_bits (m, c, rows);
  if (weight)
    memcpy (wt, weight, rows * words * sizeof (uint32_t));
  char name[64];
  snprintf (name, sizeof name, "node.%u.weight", m->n_nodes);
  gguf_writer_add_tensor_i32 (m->w, name, 4, ne, (const int32_t *) wt);
  free (wt);
  node_scale_bias (m, cout, scale, bias, 1.0f / (float) (c * kh * kw));
  return node_end (m, ho, wo, cout);
}

int
test_model_add_at (TestModel *m, int a, int b, unsigned channel_offset,
    int relu)
{
  if (!valid_input (m, a) || !valid_input (m, b)
      || m->shape[a][0] != m->shape[b][0] || m->shape[a][1] != m->shape[b][1]
      || channel_offset + m->shape[b][2] > m->shape[a][2])
    return -1;
  if (m->version < 2)
    m->version = 2;
  int in[2] = { a, b };
  node_begin (m, "add", in, 2);
  node_u32 (m, "channel_offset", channel_offset);
  node_act (m, relu);
  return node_end (m, m->shape[a][0], m->shape[a][1], m->shape[a][2]);
}

int
test_model_concat (TestModel *m, const int *inputs, unsigned n)
{
  unsigned c = 0;
  if (n < 1)
    return -1;
  for (unsigned i = 0; i < n; i++) {
    if (!valid_input (m, inputs[i])
        || m->shape[inputs[i]][0] != m->shape[inputs[0]][0]
        || m->shape[inputs[i]][1] != m->shape[inputs[0]][1])
      return -1;
    c += m->shape[inputs[i]][2];
  }
  if (m->version < 2)
    m->version = 2;
  node_begin (m, "concat", inputs, n);
  return node_end (m, m->shape[inputs[0]][0], m->shape[inputs[0]][1], c);
}

int
test_model_slice (TestModel *m, int input, unsigned channel_offset,
    unsigned channels)
{
  if (!valid_input (m, input) || channels < 1
      || channel_offset + channels > m->shape[input][2])
    return -1;
  if (m->version < 2)
    m->version = 2;
  node_begin (m, "slice", &input, 1);
  node_u32 (m, "channel_offset", channel_offset);
  node_u32 (m, "out_channels", channels);
  return node_end (m, m->shape[input][0], m->shape[input][1], channels);
}

int
test_model_noise_floor (TestModel *m, int input, unsigned rank, int relu)
{
  if (!valid_input (m, input) || m->shape[input][2] != 1)
    return -1;
  m->version = 4;
  node_begin (m, "noise_floor", &input, 1);
  node_u32 (m, "rank", rank);
  node_act (m, relu);
  return node_end (m, m->shape[input][0], m->shape[input][1], 1);
}

int
test_model_pcen (TestModel *m, int input, float smooth, float eps,
    const float *weight, float scale, float bias)
{
  if (!valid_input (m, input) || m->shape[input][2] != 1 || !weight)
    return -1;
  const unsigned h = m->shape[input][0], w = m->shape[input][1];
  m->version = 3;
  node_begin (m, "pcen", &input, 1);
  char k[96];
  key (k, sizeof k, m->n_nodes, "smooth");
  gguf_writer_add_f32 (m->w, k, smooth);
  key (k, sizeof k, m->n_nodes, "eps");
  gguf_writer_add_f32 (m->w, k, eps);
  uint64_t ne[2] = { w, 5 };
  char name[64];
  snprintf (name, sizeof name, "node.%u.weight", m->n_nodes);
  gguf_writer_add_tensor_f32 (m->w, name, 2, ne, weight);
  node_scale_bias (m, 1, &scale, &bias, 1.0f);
  return node_end (m, h, w, 1);
}

int
test_model_add (TestModel *m, int a, int b, int relu)
{
  if (!valid_input (m, a) || !valid_input (m, b))
    return -1;
  if (memcmp (m->shape[a], m->shape[b], sizeof m->shape[a]) != 0)
    return -1;
  int in[2] = { a, b };
  unsigned h = m->shape[a][0], w = m->shape[a][1], c = m->shape[a][2];
  node_begin (m, "add", in, 2);
  node_act (m, relu);
  return node_end (m, h, w, c);
}

static int
pool (TestModel *m, const char *op, int input, unsigned kh, unsigned kw,
    unsigned sh, unsigned sw, unsigned ph, unsigned pw)
{
  unsigned h, w, c, ho, wo;
  if (!valid_input (m, input))
    return -1;
  test_model_shape (m, input, &h, &w, &c);
  if (ph >= kh || pw >= kw || window_out (h, kh, sh, ph, &ho)
      || window_out (w, kw, sw, pw, &wo))
    return -1;
  node_begin (m, op, &input, 1);
  node_window (m, kh, kw, sh, sw, ph, pw);
  return node_end (m, ho, wo, c);
}

int
test_model_maxpool (TestModel *m, int input, unsigned kh, unsigned kw,
    unsigned sh, unsigned sw, unsigned ph, unsigned pw)
{
  return pool (m, "maxpool2d", input, kh, kw, sh, sw, ph, pw);
}

int
test_model_avgpool (TestModel *m, int input, unsigned kh, unsigned kw,
    unsigned sh, unsigned sw, unsigned ph, unsigned pw)
{
  return pool (m, "avgpool2d", input, kh, kw, sh, sw, ph, pw);
}

int
test_model_global_avgpool (TestModel *m, int input)
{
  if (!valid_input (m, input))
    return -1;
  unsigned c = m->shape[input][2];
  node_begin (m, "global_avgpool", &input, 1);
  return node_end (m, 1, 1, c);
}

int
test_model_dense (TestModel *m, int input, unsigned cout, int relu,
    const float *weight, const float *scale, const float *bias)
{
  if (!valid_input (m, input) || cout < 1)
    return -1;
  const unsigned cin = m->shape[input][0] * m->shape[input][1]
      * m->shape[input][2];
  node_begin (m, "dense", &input, 1);
  node_u32 (m, "out_channels", cout);
  node_act (m, relu);
  uint64_t ne[2] = { cin, cout };
  size_t n = (size_t) cin * cout;
  float *wt = xcalloc (n, sizeof (float));
  for (size_t i = 0; i < n; i++)
    wt[i] = weight ? weight[i] : test_rand_float (&m->rng) / (float) cin;
  char name[64];
  snprintf (name, sizeof name, "node.%u.weight", m->n_nodes);
  gguf_writer_add_tensor_f32 (m->w, name, 2, ne, wt);
  free (wt);
  node_scale_bias (m, cout, scale, bias, 1.0f);
  return node_end (m, 1, 1, cout);
}

int
test_model_bdense (TestModel *m, int input, unsigned cout, int relu,
    const uint32_t *weight, const float *scale, const float *bias)
{
  if (!valid_input (m, input) || cout < 1)
    return -1;
  const unsigned cin = m->shape[input][0] * m->shape[input][1]
      * m->shape[input][2];
  const unsigned words = (cin + 31) / 32;
  node_begin (m, "bdense", &input, 1);
  node_u32 (m, "out_channels", cout);
  node_act (m, relu);
  uint64_t ne[2] = { words, cout };
  uint32_t *wt = random_bits (m, cin, cout);
  if (weight)
    memcpy (wt, weight, (size_t) words * cout * sizeof (uint32_t));
  char name[64];
  snprintf (name, sizeof name, "node.%u.weight", m->n_nodes);
  gguf_writer_add_tensor_i32 (m->w, name, 2, ne, (const int32_t *) wt);
  free (wt);
  node_scale_bias (m, cout, scale, bias, 4.0f / (float) cin);
  return node_end (m, 1, 1, cout);
}

int
test_model_exit (TestModel *m, int input)
{
  if (!valid_input (m, input) || m->shape[input][0] != 1
      || m->shape[input][1] != 1 || m->shape[input][2] != m->n_classes)
    return -1;
  node_begin (m, "exit", &input, 1);
  m->n_exits++;
  return node_end (m, 1, 1, m->n_classes);
}

GgufWriter *
test_model_finish (TestModel *m)
{
  GgufWriter *w = m->w;
  char **labels = xcalloc (m->n_classes, sizeof (char *));
  for (unsigned i = 0; i < m->n_classes; i++) {
    labels[i] = xcalloc (24, 1);
    snprintf (labels[i], 24, "class%u", i);
  }
  gguf_writer_add_string (w, "general.architecture", "beenet");
  gguf_writer_add_string (w, "general.name", "test-model");
  gguf_writer_add_string (w, "general.description", "built by tests/common");
  gguf_writer_add_u32 (w, "beenet.format_version", m->version);
  gguf_writer_add_array_string (w, "beenet.labels",
      (const char *const *) labels, m->n_classes);
  gguf_writer_add_u32 (w, "beenet.frontend.sample_rate", 16000);
  gguf_writer_add_u32 (w, "beenet.frontend.window_samples", 16000);
  gguf_writer_add_u32 (w, "beenet.frontend.frame_length", 400);
  gguf_writer_add_u32 (w, "beenet.frontend.hop_length", 160);
  gguf_writer_add_u32 (w, "beenet.frontend.fft_size", 512);
  gguf_writer_add_u32 (w, "beenet.frontend.n_mels", m->n_mels);
  gguf_writer_add_u32 (w, "beenet.frontend.n_frames", m->n_frames);
  gguf_writer_add_f32 (w, "beenet.frontend.fmin", 60.0f);
  gguf_writer_add_f32 (w, "beenet.frontend.fmax", 7800.0f);
  gguf_writer_add_f32 (w, "beenet.frontend.log_floor", 1e-6f);
  gguf_writer_add_string (w, "beenet.policy", m->policy);
  gguf_writer_add_f32 (w, "beenet.threshold", m->threshold);
  gguf_writer_add_u32 (w, "beenet.node_count", m->n_nodes);
  gguf_writer_add_u32 (w, "beenet.exit_count", m->n_exits);
  uint64_t ne[1] = { m->n_mels };
  gguf_writer_add_tensor_f32 (w, "frontend.mean", 1, ne, m->mean);
  gguf_writer_add_tensor_f32 (w, "frontend.inv_std", 1, ne, m->inv_std);
  for (unsigned i = 0; i < m->n_classes; i++)
    free (labels[i]);
  free (labels);
  m->w = NULL;
  test_model_free (m);
  return w;
}

uint8_t *
test_model_finish_bytes (TestModel *m, size_t *size)
{
  GgufWriter *w = test_model_finish (m);
  uint8_t *bytes = gguf_writer_serialize (w, size);
  gguf_writer_free (w);
  return bytes;
}

GgufWriter *
test_models_constant_exits_writer (unsigned n_exits, unsigned n_classes,
    const float *logits)
{
  if (n_exits < 1 || n_exits > 64 || n_classes < 2 || n_classes > 1024)
    return NULL;
  TestModel *m = test_model_new (n_classes);
  float *zeros = xcalloc ((size_t) 8 * n_classes, sizeof (float));
  float *ones = xcalloc (n_classes, sizeof (float));
  for (unsigned k = 0; k < n_classes; k++)
    ones[k] = 1.0f;
  /* Stem: 98x64x1 -> 49x32x8. */
  int trunk = test_model_conv2d (m, 0, 3, 3, 2, 2, 1, 1, 1, 8, 1, NULL, NULL,
      NULL);
  for (unsigned e = 0; e < n_exits; e++) {
    if (e > 0)  /* real binary work between exits */
      trunk = test_model_bconv2d (m, trunk, 3, 3, 1, 1, 1, 1, 8, 0, NULL,
          NULL, NULL);
    int g = test_model_global_avgpool (m, trunk);
    int d = test_model_dense (m, g, n_classes, 0, zeros, ones,
        logits + (size_t) e * n_classes);
    test_model_exit (m, d);
  }
  free (zeros);
  free (ones);
  return test_model_finish (m);
}

uint8_t *
test_models_constant_exits (unsigned n_exits, unsigned n_classes,
    const float *logits, size_t *size)
{
  GgufWriter *w = test_models_constant_exits_writer (n_exits, n_classes,
      logits);
  if (!w)
    return NULL;
  uint8_t *bytes = gguf_writer_serialize (w, size);
  gguf_writer_free (w);
  return bytes;
}

/* One exit head: global_avgpool -> bdense (or dense) -> exit. */
static void
exit_head (TestModel *m, int trunk, int binary)
{
  int g = test_model_global_avgpool (m, trunk);
  int d = binary
      ? test_model_bdense (m, g, m->n_classes, 0, NULL, NULL, NULL)
      : test_model_dense (m, g, m->n_classes, 0, NULL, NULL, NULL);
  test_model_exit (m, d);
}

/* Residual binary block: x + bconv3x3(x). */
static int
res_block (TestModel *m, int x)
{
  unsigned c;
  test_model_shape (m, x, NULL, NULL, &c);
  int y = test_model_bconv2d (m, x, 3, 3, 1, 1, 1, 1, c, 0, NULL, NULL, NULL);
  return test_model_add (m, y, x, 0);
}

/* Stride-2 transition: bconv3x3/2 (cin -> cout) + (maxpool3x3/2 -> 1x1
 * conv2d shortcut). */
static int
transition (TestModel *m, int x, unsigned cout)
{
  int y = test_model_bconv2d (m, x, 3, 3, 2, 2, 1, 1, cout, 0, NULL, NULL,
      NULL);
  int p = test_model_maxpool (m, x, 3, 3, 2, 2, 1, 1);
  int s = test_model_conv2d (m, p, 1, 1, 1, 1, 0, 0, 1, cout, 0, NULL, NULL,
      NULL);
  return test_model_add (m, y, s, 0);
}

uint8_t *
test_models_realistic (uint32_t seed, size_t *size)
{
  TestModel *m = test_model_new (12);
  m->rng = seed ? seed : 1u;
  int x = test_model_conv2d (m, 0, 3, 3, 2, 2, 1, 1, 1, 16, 1, NULL, NULL,
      NULL);                                   /* 49x32x16 */
  x = test_model_bconv2d (m, x, 3, 3, 1, 1, 1, 1, 32, 0, NULL, NULL, NULL);
  x = res_block (m, x);                        /* 49x32x32 */
  exit_head (m, x, 1);                         /* exit 1 */
  x = res_block (m, x);
  exit_head (m, x, 1);                         /* exit 2 */
  x = transition (m, x, 64);                   /* 25x16x64 */
  x = res_block (m, x);
  exit_head (m, x, 1);                         /* exit 3 */
  x = transition (m, x, 128);                  /* 13x8x128 */
  x = res_block (m, x);
  exit_head (m, x, 1);                         /* exit 4 */
  x = res_block (m, x);
  x = res_block (m, x);
  exit_head (m, x, 0);                         /* exit 5 (float head) */
  return test_model_finish_bytes (m, size);
}

GgufWriter *
test_models_level_writer (const char *const *labels)
{
  static const float weight[4] = { 0.f, 0.f, 20.f, 10.f };
  static const float scale[4] = { 1.f, 1.f, 1.f, 1.f };
  static const float bias[4] = { 0.f, -1000.f, 95.f, 90.f };
  TestModel *m = test_model_new (4);
  int g = test_model_global_avgpool (m, 0);
  int d = test_model_dense (m, g, 4, 0, weight, scale, bias);
  if (test_model_exit (m, d) < 0) {
    test_model_free (m);
    return NULL;
  }
  GgufWriter *w = test_model_finish (m);
  gguf_writer_remove (w, "beenet.labels");
  gguf_writer_add_array_string (w, "beenet.labels", labels, 4);
  return w;
}
