/* Model loading and validation (docs/model-format.md sections 2 and 4). */
#include "model-private.h"
#include "policy-private.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- typed key access -------------------------------------------------- */

static BeenetStatus
missing (const char *key, BeenetError *err)
{
  return beenet_set_error (err, BEENET_ERROR_CORRUPT,
      "missing required key '%s'", key);
}

static BeenetStatus
wrong_type (const char *key, const GgufKV *kv, const char *expected,
    BeenetError *err)
{
  if (kv->type == GGUF_TYPE_ARRAY)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "key '%s' is an array of %s (expected %s)", key,
        gguf_type_name (kv->arr_type), expected);
  return beenet_set_error (err, BEENET_ERROR_CORRUPT,
      "key '%s' has type %s (expected %s)", key, gguf_type_name (kv->type),
      expected);
}

/* Returns BEENET_OK and sets *present=false when absent and optional. */
static BeenetStatus
get_u32 (const GgufFile *f, const char *key, bool required, uint32_t *out,
    bool *present, BeenetError *err)
{
  const GgufKV *kv = gguf_find_kv (f, key);
  if (present)
    *present = kv != NULL;
  if (!kv)
    return required ? missing (key, err) : BEENET_OK;
  if (kv->type != GGUF_TYPE_UINT32)
    return wrong_type (key, kv, "u32", err);
  *out = (uint32_t) kv->v.u;
  return BEENET_OK;
}

static BeenetStatus
get_f32 (const GgufFile *f, const char *key, float *out, BeenetError *err)
{
  const GgufKV *kv = gguf_find_kv (f, key);
  if (!kv)
    return missing (key, err);
  if (kv->type != GGUF_TYPE_FLOAT32)
    return wrong_type (key, kv, "f32", err);
  *out = (float) kv->v.f;
  if (!isfinite (*out))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "key '%s' is not finite", key);
  return BEENET_OK;
}

/* Optional f32 key: leaves *out untouched when absent. */
static BeenetStatus
get_f32_opt (const GgufFile *f, const char *key, double *out,
    BeenetError *err)
{
  float v;
  if (!gguf_find_kv (f, key))
    return BEENET_OK;
  BeenetStatus st = get_f32 (f, key, &v, err);
  if (!st)
    *out = v;
  return st;
}

static BeenetStatus
get_string (const GgufFile *f, const char *key, bool required, GgufStr *out,
    bool *present, BeenetError *err)
{
  const GgufKV *kv = gguf_find_kv (f, key);
  if (present)
    *present = kv != NULL;
  if (!kv)
    return required ? missing (key, err) : BEENET_OK;
  if (kv->type != GGUF_TYPE_STRING)
    return wrong_type (key, kv, "string", err);
  *out = kv->v.s;
  return BEENET_OK;
}

static BeenetStatus
get_array (const GgufFile *f, const char *key, uint32_t elem_type,
    uint64_t min_count, uint64_t max_count, const GgufKV **out,
    BeenetError *err)
{
  const GgufKV *kv = gguf_find_kv (f, key);
  char expected[48];
  if (!kv)
    return missing (key, err);
  snprintf (expected, sizeof expected, "array of %s",
      gguf_type_name (elem_type));
  if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != elem_type)
    return wrong_type (key, kv, expected, err);
  if (kv->arr_count < min_count || kv->arr_count > max_count) {
    if (min_count == max_count)
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "key '%s' has %llu elements (expected %llu)", key,
          (unsigned long long) kv->arr_count, (unsigned long long) min_count);
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "key '%s' has %llu elements (expected %llu..%llu)", key,
        (unsigned long long) kv->arr_count, (unsigned long long) min_count,
        (unsigned long long) max_count);
  }
  *out = kv;
  return BEENET_OK;
}

/* The f32 array `key` of exactly n elements, copied into a new buffer
 * (*out, the model's to free; left NULL on error). */
static BeenetStatus
get_f32_array (const GgufFile *f, const char *key, uint32_t n, float **out,
    BeenetError *err)
{
  const GgufKV *kv;
  BeenetStatus st = get_array (f, key, GGUF_TYPE_FLOAT32, n, n, &kv, err);
  if (st)
    return st;
  if (!(*out = malloc (sizeof (float) * n)))
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++)
    (*out)[i] = gguf_array_f32 (kv, i);
  return BEENET_OK;
}

/* Strict UTF-8 check (no overlongs, surrogates or code points > U+10FFFF),
 * NUL bytes rejected: names and labels end up in C strings and bus
 * messages. */
static bool
valid_utf8 (const char *s, uint32_t len)
{
  const unsigned char *p = (const unsigned char *) s;
  uint32_t i = 0;
  while (i < len) {
    unsigned char c = p[i];
    uint32_t need, cp;
    if (c == 0)
      return false;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      need = 1; cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2; cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3; cp = c & 0x07;
    } else {
      return false;
    }
    if (len - i - 1 < need)
      return false;
    for (uint32_t k = 1; k <= need; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000)
        || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += need + 1;
  }
  return true;
}

static char *
dup_str (GgufStr s)
{
  char *d = malloc ((size_t) s.len + 1);
  if (d) {
    memcpy (d, s.ptr, s.len);
    d[s.len] = '\0';
  }
  return d;
}

/* An optional UTF-8 string key copied into *out (left NULL when absent). */
static BeenetStatus
get_text (const GgufFile *f, const char *key, char **out, BeenetError *err)
{
  GgufStr s = { 0 };
  bool present;
  BeenetStatus st = get_string (f, key, false, &s, &present, err);
  if (st || !present)
    return st;
  if (!valid_utf8 (s.ptr, s.len))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "%s is not valid UTF-8", key);
  if (!(*out = dup_str (s)))
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  return BEENET_OK;
}

/* ---- tensors ----------------------------------------------------------- */

static const char *
tensor_type_name (uint32_t t)
{
  return t == GGUF_TENSOR_F32 ? "F32" : t == GGUF_TENSOR_I32 ? "I32" : "?";
}

/* Find tensor `name`, check type and shape (ne with trailing 1s implied). */
static BeenetStatus
get_tensor (const GgufFile *f, const char *name, uint32_t type,
    const uint64_t ne[4], const GgufTensor **out, BeenetError *err)
{
  const GgufTensor *t = gguf_find_tensor (f, name);
  if (!t)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "missing tensor '%s'", name);
  if (t->type != type)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "tensor '%s' has type %s (expected %s)", name,
        tensor_type_name (t->type), tensor_type_name (type));
  for (int d = 0; d < 4; d++) {
    if (t->ne[d] != ne[d])
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "tensor '%s' has shape [%llu, %llu, %llu, %llu] (expected "
          "[%llu, %llu, %llu, %llu])", name,
          (unsigned long long) t->ne[0], (unsigned long long) t->ne[1],
          (unsigned long long) t->ne[2], (unsigned long long) t->ne[3],
          (unsigned long long) ne[0], (unsigned long long) ne[1],
          (unsigned long long) ne[2], (unsigned long long) ne[3]);
  }
  if (type == GGUF_TENSOR_F32
      && !beenet_all_finite ((const float *) t->data, t->n_elements))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "tensor '%s' contains NaN or infinity", name);
  *out = t;
  return BEENET_OK;
}

/* ---- model ------------------------------------------------------------- */

static void
model_free (BeenetModel *m)
{
  if (!m)
    return;
  if (m->labels)
    for (uint32_t i = 0; i < m->n_classes; i++)
      free (m->labels[i]);
  free (m->labels);
  free (m->is_keyword);
  free (m->exclusion_factors);
  free (m->class_offsets);
  free (m->eenet);
  free (m->name);
  free (m->description);
  free (m->task);
  free (m->architecture);
  if (m->nodes)
    for (uint32_t i = 0; i < m->n_nodes; i++) {
      free (m->nodes[i].prep);
      free (m->nodes[i].inputs);
      free (m->nodes[i].params);
    }
  free (m->nodes);
  free (m->act_shapes);
  free (m->exit_nodes);
  free (m->cum_bops);
  free (m->cum_flops);
  free (m->data);
  free (m);
}

BeenetModel *
beenet_model_ref (BeenetModel *model)
{
  if (model)
    atomic_fetch_add_explicit (&model->refcount, 1, memory_order_relaxed);
  return model;
}

void
beenet_model_unref (BeenetModel *model)
{
  if (!model)
    return;
  if (atomic_fetch_sub_explicit (&model->refcount, 1,
          memory_order_acq_rel) == 1)
    model_free (model);
}

static BeenetStatus
parse_frontend (BeenetModel *m, const GgufFile *f, BeenetError *err)
{
  BeenetFrontendConfig *c = &m->fe;
  BeenetStatus st;
  static const struct { const char *key; size_t off; } u32s[] = {
    { "beenet.frontend.sample_rate", offsetof (BeenetFrontendConfig, sample_rate) },
    { "beenet.frontend.window_samples", offsetof (BeenetFrontendConfig, window_samples) },
    { "beenet.frontend.frame_length", offsetof (BeenetFrontendConfig, frame_length) },
    { "beenet.frontend.hop_length", offsetof (BeenetFrontendConfig, hop_length) },
    { "beenet.frontend.fft_size", offsetof (BeenetFrontendConfig, fft_size) },
    { "beenet.frontend.n_mels", offsetof (BeenetFrontendConfig, n_mels) },
    { "beenet.frontend.n_frames", offsetof (BeenetFrontendConfig, n_frames) },
  };
  for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++) {
    uint32_t v = 0;
    if ((st = get_u32 (f, u32s[i].key, true, &v, NULL, err)))
      return st;
    memcpy ((char *) c + u32s[i].off, &v, sizeof v);
  }
  if ((st = get_f32 (f, "beenet.frontend.fmin", &c->fmin, err))
      || (st = get_f32 (f, "beenet.frontend.fmax", &c->fmax, err))
      || (st = get_f32 (f, "beenet.frontend.log_floor", &c->log_floor, err)))
    return st;
  return beenet_frontend_config_validate (c, BEENET_ERROR_CORRUPT,
      "beenet.frontend.", err);
}

/* beenet.policy (a name of the policy table), beenet.threshold (in the
 * policy's range) and the optional beenet.keyword_exit (any u32, as the
 * params field). */
static BeenetStatus
parse_policy (BeenetModel *m, const GgufFile *f, GgufStr name,
    BeenetError *err)
{
  const int i = beenet_policy_lookup (name.ptr, name.len);
  if (i < 0) {
    char names[128];
    beenet_policy_names (names, sizeof names);
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "beenet.policy must be %s", names);
  }
  m->policy = (BeenetPolicy) i;
  BeenetStatus st = get_f32 (f, "beenet.threshold", &m->threshold, err);
  if (st || (st = get_u32 (f, "beenet.keyword_exit", false, &m->keyword_exit,
              NULL, err)))
    return st;
  const BeenetPolicyImpl *impl = beenet_policy_impl (m->policy);
  if (!(m->threshold >= impl->threshold_min
          && m->threshold <= impl->threshold_max))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "beenet.threshold %g out of range for policy %s ([%g, %g])",
        (double) m->threshold, impl->name, (double) impl->threshold_min,
        (double) impl->threshold_max);
  return BEENET_OK;
}

/* beenet.detection.class_offsets: optional, one finite f32 per class within
 * +-BEENET_DETECTOR_MAX_CLASS_OFFSET (logit offsets of each keyword's
 * detection threshold; beenet.h).  Needs the labels. */
static BeenetStatus
parse_class_offsets (BeenetModel *m, const GgufFile *f, BeenetError *err)
{
  static const char key[] = "beenet.detection.class_offsets";
  BeenetStatus st;
  if (!gguf_find_kv (f, key))
    return BEENET_OK;
  if ((st = get_f32_array (f, key, m->n_classes, &m->class_offsets, err)))
    return st;
  for (uint32_t c = 0; c < m->n_classes; c++) {
    const float v = m->class_offsets[c];
    if (!(fabsf (v) <= BEENET_DETECTOR_MAX_CLASS_OFFSET))
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "key '%s': offset of class %u ('%s') is %g, not within +-%g", key,
          c, m->labels[c], (double) v, BEENET_DETECTOR_MAX_CLASS_OFFSET);
  }
  return BEENET_OK;
}

/* beenet.keywords (optional array of u32 class indices, unique; default:
 * every label not starting with '_') and the optional beenet.detection.*
 * defaults.  Needs the labels. */
static BeenetStatus
parse_detection (BeenetModel *m, const GgufFile *f, BeenetError *err)
{
  static const char kw_key[] = "beenet.keywords";
  BeenetDetectorParams *p = &m->detection;
  const GgufKV *kv;
  BeenetStatus st;

  if (!(m->is_keyword = calloc (m->n_classes, 1)))
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  if (!gguf_find_kv (f, kw_key)) {
    for (uint32_t i = 0; i < m->n_classes; i++)
      m->is_keyword[i] = m->labels[i][0] != '_';
  } else {
    if ((st = get_array (f, kw_key, GGUF_TYPE_UINT32, 0, m->n_classes, &kv,
                err)))
      return st;
    for (uint64_t k = 0; k < kv->arr_count; k++) {
      uint32_t c = gguf_array_u32 (kv, k);
      if (c >= m->n_classes)
        return beenet_set_error (err, BEENET_ERROR_CORRUPT,
            "key '%s': class %u out of range (the model has %u classes)",
            kw_key, c, m->n_classes);
      if (m->is_keyword[c])
        return beenet_set_error (err, BEENET_ERROR_CORRUPT,
            "key '%s': class %u listed twice", kw_key, c);
      m->is_keyword[c] = 1;
    }
  }

  m->interval_ms = BEENET_DEFAULT_INTERVAL_MS;
  if ((st = get_f32_opt (f, "beenet.detection.interval_ms", &m->interval_ms,
              err)))
    return st;
  if (!(m->interval_ms >= BEENET_MIN_INTERVAL_MS
          && m->interval_ms <= BEENET_MAX_INTERVAL_MS))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "beenet.detection.interval_ms %g is outside [%g, %g]",
        m->interval_ms, BEENET_MIN_INTERVAL_MS, BEENET_MAX_INTERVAL_MS);
  m->refine_level = BEENET_REFINE_OFF;
  if ((st = get_f32_opt (f, "beenet.detection.refine_level", &m->refine_level,
              err)))
    return st;
  if (!(m->refine_level >= 0.0 && m->refine_level <= BEENET_REFINE_OFF))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "beenet.detection.refine_level %g is outside [0, 1]",
        m->refine_level);
  if ((st = parse_class_offsets (m, f, err)))
    return st;
  beenet_detector_params_default (NULL, p);
  if ((st = get_f32_opt (f, "beenet.detection.threshold", &p->threshold,
              err))
      || (st = get_f32_opt (f, "beenet.detection.smoothing_ms",
              &p->smoothing_ms, err))
      || (st = get_f32_opt (f, "beenet.detection.refractory_ms",
              &p->refractory_ms, err))
      || (st = get_u32 (f, "beenet.detection.min_windows", false,
              &p->min_windows, NULL, err)))
    return st;
  return beenet_detector_params_check (p, BEENET_ERROR_CORRUPT,
      "beenet.detection.", err);
}

/* beenet.class_exclusion.factors: optional, one f32 in [0, 1] per exit (the
 * class-exclusion policy, docs/policies.md); a file recommending that policy
 * must have them.  beenet.class_exclusion.score: optional, "softmax"
 * (default) or "sigmoid".  Needs the graph (n_exits). */
static BeenetStatus
parse_exclusion (BeenetModel *m, const GgufFile *f, BeenetError *err)
{
  static const char key[] = "beenet.class_exclusion.factors";
  static const char score_key[] = "beenet.class_exclusion.score";
  BeenetStatus st;
  GgufStr score;
  bool has_score;
  m->exclusion_score = beenet_exclusion_score_default ();
  if ((st = get_string (f, score_key, false, &score, &has_score, err)))
    return st;
  if (has_score && !(m->exclusion_score =
          beenet_exclusion_score_lookup (score.ptr, score.len))) {
    char names[64];
    beenet_exclusion_score_names (names, sizeof names);
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "key '%s' must be %s", score_key, names);
  }
  if (!gguf_find_kv (f, key)) {
    if (m->policy == BEENET_POLICY_CLASS_EXCLUSION)
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "beenet.policy is class-exclusion but '%s' is missing", key);
    return BEENET_OK;
  }
  if ((st = get_f32_array (f, key, m->n_exits, &m->exclusion_factors, err)))
    return st;
  for (uint32_t e = 0; e < m->n_exits; e++) {
    const float v = m->exclusion_factors[e];
    if (!(v >= 0.0f && v <= 1.0f))
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "key '%s': factor %u is %g, not in [0, 1]", key, e + 1, (double) v);
  }
  return BEENET_OK;
}

BeenetStatus
beenet_node_u32 (const BeenetNodeKeys *k, const char *field, bool required,
    uint32_t lo, uint32_t hi, uint32_t *out, BeenetError *err)
{
  char key[96];
  bool present;
  uint32_t v = 0;
  snprintf (key, sizeof key, "beenet.node.%u.%s", k->node, field);
  BeenetStatus st = get_u32 (k->f, key, required, &v, &present, err);
  if (st || !present)
    return st;
  if (v < lo || v > hi)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "key '%s' = %u out of range [%u, %u]", key, v, lo, hi);
  *out = v;
  return BEENET_OK;
}

BeenetStatus
beenet_node_f32 (const BeenetNodeKeys *k, const char *field, float lo,
    float hi, float *out, BeenetError *err)
{
  char key[96];
  snprintf (key, sizeof key, "beenet.node.%u.%s", k->node, field);
  BeenetStatus st = get_f32 (k->f, key, out, err);
  if (st)
    return st;
  if (!(*out >= lo && *out <= hi))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "key '%s' = %g out of range [%g, %g]", key, (double) *out,
        (double) lo, (double) hi);
  return BEENET_OK;
}

/* The op of node i (by name) and whether the file's version has it. */
static BeenetStatus
parse_op (BeenetModel *m, const GgufFile *f, BeenetNode *n, BeenetError *err)
{
  char key[96];
  GgufStr op_name;
  bool reserved;
  BeenetStatus st;
  snprintf (key, sizeof key, "beenet.node.%u.op", n->index);
  if ((st = get_string (f, key, true, &op_name, NULL, err)))
    return st;
  n->op = beenet_op_lookup (op_name, &reserved);
  if (n->op && n->op->min_version <= m->format_version)
    return BEENET_OK;
  char shown[64];
  uint32_t len = op_name.len < sizeof shown - 1 ? op_name.len : sizeof shown - 1;
  for (uint32_t k = 0; k < len; k++) {
    unsigned char ch = (unsigned char) op_name.ptr[k];
    shown[k] = ch >= 0x20 && ch < 0x7f ? (char) ch : '?';
  }
  shown[len] = '\0';
  if (n->op)
    return beenet_set_error (err, BEENET_ERROR_UNSUPPORTED,
        "node %u: op '%s' needs format version %u (the file is version %u)",
        n->index, shown, n->op->min_version, m->format_version);
  return beenet_set_error (err, BEENET_ERROR_UNSUPPORTED,
      "node %u: %s op '%s' (%s)", n->index, reserved ? "reserved" : "unknown",
      shown, reserved ? "not supported in this format version"
      : "not supported by this engine");
}

/* inputs: min_inputs..max_inputs activation ids, each already computed. */
static BeenetStatus
parse_inputs (BeenetModel *m, const GgufFile *f, BeenetNode *n,
    BeenetError *err)
{
  char key[96];
  const GgufKV *kv;
  const uint32_t i = n->index;
  BeenetStatus st;
  snprintf (key, sizeof key, "beenet.node.%u.inputs", i);
  if ((st = get_array (f, key, GGUF_TYPE_INT32, n->op->min_inputs,
              n->op->max_inputs, &kv, err)))
    return st;
  n->n_inputs = (uint32_t) kv->arr_count;
  if (!(n->inputs = calloc (n->n_inputs, sizeof (uint32_t))))
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  for (uint32_t k = 0; k < n->n_inputs; k++) {
    int32_t a = gguf_array_i32 (kv, k);
    if (a < 0 || (uint32_t) a > i)
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "key '%s': input %d out of range (node %u may read activations "
          "0..%u)", key, a, i, i);
    n->inputs[k] = (uint32_t) a;
  }
  n->in = m->act_shapes[n->inputs[0]];
  return BEENET_OK;
}

/* The op's own parameters (op->parse into op->params_size bytes). */
static BeenetStatus
parse_params (BeenetModel *m, const GgufFile *f, BeenetNode *n,
    BeenetError *err)
{
  if (!n->op->parse)
    return BEENET_OK;
  if (n->op->params_size && !(n->params = calloc (1, n->op->params_size)))
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  const BeenetNodeKeys keys = { f, n->index, m->format_version };
  return n->op->parse (n, &keys, err);
}

static BeenetStatus
parse_node (BeenetModel *m, const GgufFile *f, uint32_t i, BeenetError *err)
{
  BeenetNode *n = &m->nodes[i];
  char key[96];
  BeenetStatus st;
  const GgufKV *kv;

  n->index = i;
#define KEY(field) (snprintf (key, sizeof key, "beenet.node.%u.%s", i, field), key)

  if ((st = parse_op (m, f, n, err)) || (st = parse_inputs (m, f, n, err)))
    return st;
  const unsigned fl = n->op->flags;

  if (fl & BEENET_OPF_WINDOW) {
    static const char *const names[3] = { "kernel", "stride", "padding" };
    uint32_t *dst[3][2] = { { &n->kh, &n->kw }, { &n->sh, &n->sw },
      { &n->ph, &n->pw } };
    for (int w = 0; w < 3; w++) {
      if ((st = get_array (f, KEY (names[w]), GGUF_TYPE_UINT32, 2, 2, &kv, err)))
        return st;
      for (int d = 0; d < 2; d++) {
        uint32_t v = gguf_array_u32 (kv, d);
        uint32_t lo = w == 2 ? 0 : 1;
        if (v < lo || v > BEENET_MAX_WINDOW_DIM)
          return beenet_set_error (err, BEENET_ERROR_CORRUPT,
              "key '%s': value %u out of range [%u, %u]", key, v, lo,
              BEENET_MAX_WINDOW_DIM);
        *dst[w][d] = v;
      }
    }
  }

  n->groups = 1;
  if (fl & (BEENET_OPF_GROUPS | BEENET_OPF_GROUPS_OPT)) {
    bool present;
    if ((st = get_u32 (f, KEY ("groups"), (fl & BEENET_OPF_GROUPS) != 0,
                &n->groups, &present, err)))
      return st;
    if (n->groups < 1)
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "key '%s' must be >= 1", key);
    if ((fl & BEENET_OPF_GROUPS_OPT) && n->groups != 1
        && m->format_version < 2)
      return beenet_set_error (err, BEENET_ERROR_UNSUPPORTED,
          "key '%s' = %u: grouped %s needs format version 2 (the file is "
          "version %u)", key, n->groups, n->op->name, m->format_version);
  }

  if (fl & BEENET_OPF_OUT_CHANNELS) {
    if ((st = get_u32 (f, KEY ("out_channels"), true, &n->out_channels, NULL,
                err)))
      return st;
    if (n->out_channels < 1 || n->out_channels > BEENET_MAX_CHANNELS)
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "key '%s' = %u out of range [1, %u]", key, n->out_channels,
          BEENET_MAX_CHANNELS);
  }

  if (fl & BEENET_OPF_ACTIVATION) {
    GgufStr a;
    if ((st = get_string (f, KEY ("activation"), true, &a, NULL, err)))
      return st;
    if (gguf_str_eq (a, "relu"))
      n->relu = true;
    else if (!gguf_str_eq (a, "none"))
      return beenet_set_error (err, BEENET_ERROR_UNSUPPORTED,
          "key '%s': unknown activation (expected \"none\" or \"relu\")", key);
  }

  if ((st = parse_params (m, f, n, err))
      || (st = n->op->infer (n, m->act_shapes, m->n_classes, err)))
    return st;
  const size_t out_elems = (size_t) n->out.h * n->out.w * n->out.c;
  if (n->out.h < 1 || n->out.w < 1 || n->out.c < 1
      || (uint64_t) n->out.h * n->out.w * n->out.c > BEENET_MAX_ACT_ELEMENTS)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (%s): output shape %ux%ux%u out of range (1..%u elements)",
        i, n->op->name, n->out.h, n->out.w, n->out.c, BEENET_MAX_ACT_ELEMENTS);
  m->total_act_elements += out_elems;
  if (m->total_act_elements > BEENET_MAX_TOTAL_ACT_ELEMENTS)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u: activations need more than %llu floats in total", i,
        (unsigned long long) BEENET_MAX_TOTAL_ACT_ELEMENTS);
  m->act_shapes[i + 1] = n->out;

  if (fl & BEENET_OPF_WEIGHTS) {
    const GgufTensor *t;
    uint64_t ne_c[4] = { n->out.c, 1, 1, 1 };
    snprintf (key, sizeof key, "node.%u.weight", i);
    if ((st = get_tensor (f, key, n->weight_type, n->weight_ne, &t, err)))
      return st;
    if (n->weight_type == GGUF_TENSOR_F32) {
      n->weight_f = (const float *) t->data;
    } else {
      n->weight_b = (const uint32_t *) t->data;
      /* Bits for channels >= Cin (per group) in the last word of each row
       * must be 0.
       * bconv2d binarises per pixel (Cin = channels), bdense the whole
       * flattened input. */
      const uint64_t real_cin = (fl & BEENET_OPF_WINDOW)
          ? n->in.c / n->groups : beenet_shape_size (n->in);
      const uint32_t tail = (uint32_t) (real_cin % 32);
      if (tail) {
        const uint32_t mask = ~((1u << tail) - 1u);
        const uint64_t rows = t->n_elements / n->words;
        for (uint64_t r = 0; r < rows; r++) {
          if (n->weight_b[r * n->words + n->words - 1] & mask)
            return beenet_set_error (err, BEENET_ERROR_CORRUPT,
                "tensor '%s': row %llu has nonzero bits for channels >= %llu "
                "(padding bits must be 0)", key, (unsigned long long) r,
                (unsigned long long) real_cin);
        }
      }
    }
    snprintf (key, sizeof key, "node.%u.scale", i);
    if ((st = get_tensor (f, key, GGUF_TENSOR_F32, ne_c, &t, err)))
      return st;
    n->scale = (const float *) t->data;
    snprintf (key, sizeof key, "node.%u.bias", i);
    if ((st = get_tensor (f, key, GGUF_TENSOR_F32, ne_c, &t, err)))
      return st;
    n->bias = (const float *) t->data;
  }

  if (n->op->prepare && (st = n->op->prepare (n, err)))
    return st;
  if (!n->op->cost (n, &n->bops, &n->flops))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "node %u (%s): operation count overflows 64 bits", i, n->op->name);
  size_t sw = n->op->scratch_words (n);
  if (sw > m->scratch_words)
    m->scratch_words = sw;
#undef KEY
  return BEENET_OK;
}

/* Identity, format version, name, description, task and architecture;
 * checked first, so a non-beenet GGUF file gets FORMAT. */
static BeenetStatus
parse_identity (BeenetModel *m, const GgufFile *f, BeenetError *err)
{
  BeenetStatus st;
  GgufStr s;
  uint32_t version;
  const GgufKV *kv;

  kv = gguf_find_kv (f, "general.architecture");
  if (!kv || kv->type != GGUF_TYPE_STRING || !gguf_str_eq (kv->v.s, "beenet"))
    return beenet_set_error (err, BEENET_ERROR_FORMAT,
        "not a beenet model: general.architecture is %s",
        !kv ? "missing" : kv->type != GGUF_TYPE_STRING ? "not a string"
        : "not \"beenet\"");
  if ((st = get_u32 (f, "beenet.format_version", true, &version, NULL, err)))
    return st;
  if (version > BEENET_FORMAT_VERSION)
    return beenet_set_error (err, BEENET_ERROR_UNSUPPORTED,
        "beenet.format_version %u is newer than supported (%u)", version,
        BEENET_FORMAT_VERSION);
  if (version < 1)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "beenet.format_version %u is invalid", version);
  m->format_version = version;

  if ((st = get_string (f, "general.name", true, &s, NULL, err)))
    return st;
  if (!valid_utf8 (s.ptr, s.len))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "general.name is not valid UTF-8");
  if (!(m->name = dup_str (s)))
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  if ((st = get_text (f, "general.description", &m->description, err)))
    return st;
  /* what the model is for and which network family it is (issue 9); older
   * trainers stated the task only among the training metadata */
  if ((st = get_text (f, "beenet.task", &m->task, err)))
    return st;
  if (!m->task && (st = get_text (f, "beenet.training.task", &m->task, err)))
    return st;
  if ((st = get_text (f, "beenet.architecture", &m->architecture, err)))
    return st;
  return BEENET_OK;
}

/* beenet.labels: 2 to BEENET_MAX_CLASSES non-empty UTF-8 strings. */
static BeenetStatus
parse_labels (BeenetModel *m, const GgufFile *f, BeenetError *err)
{
  BeenetStatus st;
  const GgufKV *kv;

  if ((st = get_array (f, "beenet.labels", GGUF_TYPE_STRING, 2,
              BEENET_MAX_CLASSES, &kv, err)))
    return st;
  m->n_classes = (uint32_t) kv->arr_count;
  GgufStr labels[BEENET_MAX_CLASSES];
  gguf_array_strings (kv, labels);
  if (!(m->labels = calloc (m->n_classes, sizeof (char *))))
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  for (uint32_t i = 0; i < m->n_classes; i++) {
    if (labels[i].len == 0 || !valid_utf8 (labels[i].ptr, labels[i].len))
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "beenet.labels[%u] is empty or not valid UTF-8", i);
    if (!(m->labels[i] = dup_str (labels[i])))
      return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  }
  return BEENET_OK;
}

/* The graph: its nodes, their exits (the last node is one) and the
 * cumulative operation counts up to each node. */
static BeenetStatus
parse_graph (BeenetModel *m, const GgufFile *f, BeenetError *err)
{
  BeenetStatus st;

  uint32_t exit_count;
  if ((st = get_u32 (f, "beenet.node_count", true, &m->n_nodes, NULL, err)))
    return st;
  if (m->n_nodes < 1 || m->n_nodes > BEENET_MAX_NODES)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "beenet.node_count %u out of range [1, %u]", m->n_nodes,
        BEENET_MAX_NODES);
  if ((st = get_u32 (f, "beenet.exit_count", true, &exit_count, NULL, err)))
    return st;
  if (exit_count < 1 || exit_count > BEENET_MAX_EXITS)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "beenet.exit_count %u out of range [1, %u]", exit_count,
        BEENET_MAX_EXITS);

  m->nodes = calloc (m->n_nodes, sizeof (BeenetNode));
  m->act_shapes = calloc ((size_t) m->n_nodes + 1, sizeof (BeenetShape));
  m->exit_nodes = calloc (exit_count, sizeof (uint32_t));
  m->cum_bops = calloc (m->n_nodes, sizeof (uint64_t));
  m->cum_flops = calloc (m->n_nodes, sizeof (uint64_t));
  if (!m->nodes || !m->act_shapes || !m->exit_nodes || !m->cum_bops
      || !m->cum_flops)
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  m->act_shapes[0] = (BeenetShape) { m->fe.n_frames, m->fe.n_mels, 1 };
  m->total_act_elements = beenet_shape_size (m->act_shapes[0]);

  uint64_t bops = 0, flops = 0;
  for (uint32_t i = 0; i < m->n_nodes; i++) {
    if ((st = parse_node (m, f, i, err)))
      return st;
    BeenetNode *n = &m->nodes[i];
    if (n->op->flags & BEENET_OPF_EXIT) {
      if (m->n_exits == exit_count)
        return beenet_set_error (err, BEENET_ERROR_CORRUPT,
            "graph has more exit nodes than beenet.exit_count = %u",
            exit_count);
      m->exit_nodes[m->n_exits++] = i;
      n->exit_number = m->n_exits;
    }
    if (__builtin_add_overflow (bops, n->bops, &bops)
        || __builtin_add_overflow (flops, n->flops, &flops))
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "total operation count overflows 64 bits at node %u", i);
    m->cum_bops[i] = bops;
    m->cum_flops[i] = flops;
  }
  if (!(m->nodes[m->n_nodes - 1].op->flags & BEENET_OPF_EXIT))
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "the last node (%u, %s) must be an exit", m->n_nodes - 1,
        m->nodes[m->n_nodes - 1].op->name);
  if (m->n_exits != exit_count)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "beenet.exit_count is %u but the graph has %u exit nodes", exit_count,
        m->n_exits);
  m->total_bops = bops;
  m->total_flops = flops;
  return BEENET_OK;
}

static BeenetStatus
parse_model (BeenetModel *m, const GgufFile *f, BeenetError *err)
{
  BeenetStatus st;
  GgufStr s;

  if ((st = parse_identity (m, f, err)) || (st = parse_labels (m, f, err)))
    return st;
  if ((st = parse_frontend (m, f, err)))
    return st;
  const uint64_t ne_mel[4] = { m->fe.n_mels, 1, 1, 1 };
  const GgufTensor *t;
  if ((st = get_tensor (f, "frontend.mean", GGUF_TENSOR_F32, ne_mel, &t, err)))
    return st;
  m->mean = (const float *) t->data;
  if ((st = get_tensor (f, "frontend.inv_std", GGUF_TENSOR_F32, ne_mel, &t,
              err)))
    return st;
  m->inv_std = (const float *) t->data;

  if ((st = get_string (f, "beenet.policy", true, &s, NULL, err)))
    return st;
  if ((st = parse_policy (m, f, s, err)))
    return st;

  if ((st = parse_detection (m, f, err)))
    return st;
  if ((st = parse_graph (m, f, err)))
    return st;
  m->kernels = beenet_kernels_select ();
  beenet_model_fuse (m);
  if ((st = parse_exclusion (m, f, err)))
    return st;
  return beenet_eenet_parse (m, f, err);
}

BeenetStatus
beenet_model_load_memory (const void *data, size_t size, BeenetModel **out,
    BeenetError *err)
{
  GgufFile f;
  BeenetStatus st;

  beenet_clear_error (err);
  if (!out || (!data && size))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_model_load_memory: out must not be NULL, data must not be "
        "NULL when size > 0");
  *out = NULL;

  BeenetModel *m = calloc (1, sizeof *m);
  if (!m)
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  atomic_init (&m->refcount, 1);
  m->exclusion_score = beenet_exclusion_score_default ();
  /* Aligned private copy: tensors are used in place (offsets are multiples
   * of the GGUF alignment >= 8 from an aligned data section). */
  size_t alloc = (size + 63) / 64 * 64;
  m->data = aligned_alloc (64, alloc ? alloc : 64);
  if (!m->data) {
    free (m);
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory copying a %zu-byte model", size);
  }
  if (size)
    memcpy (m->data, data, size);
  m->size = size;

  st = gguf_parse (&f, m->data, size, err);
  if (st) {
    model_free (m);
    return st;
  }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  /* Tensor payloads are little-endian 32-bit values. */
  for (uint64_t i = 0; i < f.n_tensors; i++) {
    uint8_t *p = (uint8_t *) f.tensors[i].data;
    for (size_t b = 0; b < f.tensors[i].nbytes; b += 4) {
      uint8_t t0 = p[b], t1 = p[b + 1];
      p[b] = p[b + 3]; p[b + 1] = p[b + 2]; p[b + 2] = t1; p[b + 3] = t0;
    }
  }
#endif
  st = parse_model (m, &f, err);
  gguf_clear (&f);
  if (st) {
    model_free (m);
    return st;
  }
  *out = m;
  return BEENET_OK;
}

BeenetStatus
beenet_model_load_file (const char *path, BeenetModel **out, BeenetError *err)
{
  beenet_clear_error (err);
  if (!path || !out)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_model_load_file: path and out must not be NULL");
  *out = NULL;
  FILE *fp = fopen (path, "rb");
  if (!fp)
    return beenet_set_error (err, BEENET_ERROR_IO, "cannot open '%s': %s",
        path, strerror (errno));
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 1 << 16;
      if (ncap > ((size_t) 1 << 31)) {
        free (buf);
        fclose (fp);
        return beenet_set_error (err, BEENET_ERROR_IO,
            "'%s' is larger than 2 GiB, not a beenet model", path);
      }
      uint8_t *nb = realloc (buf, ncap);
      if (!nb) {
        free (buf);
        fclose (fp);
        return beenet_set_error (err, BEENET_ERROR_NOMEM,
            "out of memory reading '%s'", path);
      }
      buf = nb;
      cap = ncap;
    }
    size_t got = fread (buf + len, 1, cap - len, fp);
    len += got;
    if (got == 0 || len < cap) {
      if (ferror (fp)) {
        int e = errno;
        free (buf);
        fclose (fp);
        return beenet_set_error (err, BEENET_ERROR_IO,
            "error reading '%s': %s", path, strerror (e ? e : EIO));
      }
      if (feof (fp))
        break;
    }
  }
  fclose (fp);
  BeenetStatus st = beenet_model_load_memory (buf, len, out, err);
  free (buf);
  if (st && err) {
    /* Prefix the path so the caller knows which file was bad. */
    char msg[BEENET_ERROR_MESSAGE_SIZE];
    memcpy (msg, err->message, sizeof msg);
    size_t plen = strlen (path);
    size_t room = sizeof err->message - 1;
    size_t n = plen < room ? plen : room;
    memcpy (err->message, path, n);
    if (n + 2 <= room) {
      memcpy (err->message + n, ": ", 2);
      n += 2;
    }
    size_t mlen = strlen (msg);
    if (mlen > room - n)
      mlen = room - n;
    memcpy (err->message + n, msg, mlen);
    err->message[n + mlen] = '\0';
  }
  return st;
}

/* ---- accessors --------------------------------------------------------- */

const char *
beenet_model_name (const BeenetModel *m)
{
  return m ? m->name : NULL;
}

double
beenet_model_interval_ms (const BeenetModel *m)
{
  return m ? m->interval_ms : 0.0;
}

double
beenet_model_refine_level (const BeenetModel *m)
{
  return m ? m->refine_level : BEENET_REFINE_OFF;
}

const char *
beenet_model_task (const BeenetModel *m)
{
  return m ? m->task : NULL;
}

const char *
beenet_model_architecture (const BeenetModel *m)
{
  return m ? m->architecture : NULL;
}

size_t
beenet_model_num_classes (const BeenetModel *m)
{
  return m ? m->n_classes : 0;
}

const char *
beenet_model_label (const BeenetModel *m, size_t i)
{
  return m && i < m->n_classes ? m->labels[i] : NULL;
}

size_t
beenet_model_num_exits (const BeenetModel *m)
{
  return m ? m->n_exits : 0;
}

void
beenet_model_frontend_config (const BeenetModel *m,
    BeenetFrontendConfig *config)
{
  if (m && config)
    *config = m->fe;
}

BeenetPolicy
beenet_model_default_policy (const BeenetModel *m)
{
  return m ? m->policy : BEENET_POLICY_ENTROPY;
}

float
beenet_model_default_threshold (const BeenetModel *m)
{
  return m ? m->threshold : 0.0f;
}

const char *
beenet_model_exclusion_score (const BeenetModel *m)
{
  return m ? m->exclusion_score->name : NULL;
}

size_t
beenet_model_exclusion_factors (const BeenetModel *m, float *out, size_t n)
{
  if (!m || !m->exclusion_factors)
    return 0;
  for (size_t e = 0; e < n && e < m->n_exits && out; e++)
    out[e] = m->exclusion_factors[e];
  return m->n_exits;
}

size_t
beenet_model_eenet_budgets (const BeenetModel *m, float *out, size_t n)
{
  if (!m || !m->eenet)
    return 0;
  for (size_t b = 0; b < n && b < m->eenet->n_budgets && out; b++)
    out[b] = m->eenet->budgets[b];
  return m->eenet->n_budgets;
}

BeenetPolicyParams
beenet_model_default_params (const BeenetModel *m)
{
  BeenetPolicyParams p = beenet_policy_default_params (m ? m->policy
      : BEENET_POLICY_ENTROPY);
  if (m) {
    p.threshold = m->threshold;
    p.keyword_exit = m->keyword_exit;
  }
  return p;
}

uint64_t
beenet_model_total_bops (const BeenetModel *m)
{
  return m ? m->total_bops : 0;
}

uint64_t
beenet_model_total_flops (const BeenetModel *m)
{
  return m ? m->total_flops : 0;
}

/* ---- describe ---------------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap;
  bool failed;
} Str;

static void BEENET_PRINTF (2, 3)
str_printf (Str *s, const char *fmt, ...)
{
  va_list ap;
  if (s->failed)
    return;
  for (;;) {
    va_start (ap, fmt);
    int n = vsnprintf (s->p ? s->p + s->len : NULL, s->p ? s->cap - s->len : 0,
        fmt, ap);
    va_end (ap);
    if (n < 0) {
      s->failed = true;
      return;
    }
    if (s->p && s->len + (size_t) n < s->cap) {
      s->len += (size_t) n;
      return;
    }
    size_t ncap = s->cap ? s->cap * 2 : 1024;
    while (ncap < s->len + (size_t) n + 1)
      ncap *= 2;
    char *np = realloc (s->p, ncap);
    if (!np) {
      s->failed = true;
      return;
    }
    s->p = np;
    s->cap = ncap;
  }
}

static double
ops_of (uint64_t bops, uint64_t flops)
{
  return (double) flops + (double) bops / 64.0;
}

char *
beenet_model_describe (const BeenetModel *m)
{
  Str s = { 0 };
  if (!m)
    return NULL;
  const BeenetFrontendConfig *c = &m->fe;
  const double total = ops_of (m->total_bops, m->total_flops);
  str_printf (&s, "model: %s\n", m->name);
  if (m->description)
    str_printf (&s, "description: %s\n", m->description);
  str_printf (&s, "task: %s\narchitecture: %s\n",
      m->task ? m->task : "(not stated)",
      m->architecture ? m->architecture : "(not stated)");
  str_printf (&s, "classes (%u):", m->n_classes);
  for (uint32_t i = 0; i < m->n_classes; i++)
    str_printf (&s, "%s%s", i ? ", " : " ", m->labels[i]);
  str_printf (&s, "\nfront-end: %u Hz, window %u samples, frame %u, hop %u, "
      "FFT %u, %u Mel bins %g-%g Hz, %u frames, log floor %g\n",
      c->sample_rate, c->window_samples, c->frame_length, c->hop_length,
      c->fft_size, c->n_mels, (double) c->fmin, (double) c->fmax, c->n_frames,
      (double) c->log_floor);
  str_printf (&s, "policy: %s, threshold %g", beenet_policy_name (m->policy),
      (double) m->threshold);
  if (m->keyword_exit)
    str_printf (&s, ", keyword exit %u", m->keyword_exit);
  str_printf (&s, "\n");
  if (m->exclusion_factors) {
    str_printf (&s, "class-exclusion factors:");
    for (uint32_t e = 0; e < m->n_exits; e++)
      str_printf (&s, " %g", (double) m->exclusion_factors[e]);
    str_printf (&s, " (%s scores)\n", m->exclusion_score->name);
  }
  if (m->eenet) {
    str_printf (&s, "eenet scheduler: %u hidden units, budgets",
        m->eenet->hidden);
    for (uint32_t b = 0; b < m->eenet->n_budgets; b++)
      str_printf (&s, " %g", (double) m->eenet->budgets[b]);
    str_printf (&s, "\n");
  }
  str_printf (&s, "keywords:");
  uint32_t n_kw = 0;
  for (uint32_t i = 0; i < m->n_classes; i++)
    if (m->is_keyword[i])
      str_printf (&s, "%s%s", n_kw++ ? ", " : " ", m->labels[i]);
  if (!n_kw)   /* empty beenet.keywords: a classifier such as LID-6 */
    str_printf (&s, " none (classification only: nothing is detected)");
  str_printf (&s, "\ndetection: threshold %g, smoothing %g ms, refractory "
      "%g ms, min windows %u, a window every %g ms\n", m->detection.threshold,
      m->detection.smoothing_ms, m->detection.refractory_ms,
      m->detection.min_windows, m->interval_ms);
  if (m->refine_level < BEENET_REFINE_OFF)
    str_printf (&s, "refined windows: one more half an interval after a "
        "window whose likeliest keyword has probability > %g\n",
        m->refine_level);
  if (m->class_offsets) {
    str_printf (&s, "detection threshold offsets (logit):");
    for (uint32_t i = 0; i < m->n_classes; i++)
      if (m->is_keyword[i])
        str_printf (&s, " %s %+.3g", m->labels[i],
            (double) m->class_offsets[i]);
    str_printf (&s, "\n");
  }
  str_printf (&s, "kernels: %s\n", m->kernels->name);
  str_printf (&s, "nodes (%u):\n", m->n_nodes);
  for (uint32_t i = 0; i < m->n_nodes; i++) {
    const BeenetNode *n = &m->nodes[i];
    str_printf (&s, "  %3u %-15s in", i, n->op->name);
    for (uint32_t k = 0; k < n->n_inputs; k++)
      str_printf (&s, "%s%u", k ? "," : " ", n->inputs[k]);
    str_printf (&s, " -> %ux%ux%u", n->out.h, n->out.w, n->out.c);
    if (n->op->flags & BEENET_OPF_WINDOW)
      str_printf (&s, "  k%ux%u s%ux%u p%ux%u", n->kh, n->kw, n->sh, n->sw,
          n->ph, n->pw);
    if (n->groups > 1)
      str_printf (&s, " g%u", n->groups);
    if (n->relu)
      str_printf (&s, " relu");
    if (n->exit_number)
      str_printf (&s, "  [exit %u]", n->exit_number);
    str_printf (&s, "  BOPs %llu FLOPs %llu\n", (unsigned long long) n->bops,
        (unsigned long long) n->flops);
  }
  str_printf (&s, "exits (%u):\n", m->n_exits);
  for (uint32_t e = 0; e < m->n_exits; e++) {
    const uint32_t ni = m->exit_nodes[e];
    const double ops = ops_of (m->cum_bops[ni], m->cum_flops[ni]);
    str_printf (&s, "  exit %u at node %u: BOPs %llu FLOPs %llu OPs %.0f "
        "(%.1f%% of total)\n", e + 1, ni,
        (unsigned long long) m->cum_bops[ni],
        (unsigned long long) m->cum_flops[ni], ops,
        total > 0 ? 100.0 * ops / total : 100.0);
  }
  str_printf (&s, "total: BOPs %llu FLOPs %llu OPs %.0f (OPs = FLOPs + "
      "BOPs/64)\n", (unsigned long long) m->total_bops,
      (unsigned long long) m->total_flops, total);
  if (s.failed) {
    free (s.p);
    return NULL;
  }
  return s.p;
}
