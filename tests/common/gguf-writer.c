/* Minimal GGUF v3 writer for tests; see gguf-writer.h. */
#include "gguf-writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *key;
  uint32_t type;
  uint8_t *value;
  size_t len;
} Kv;

typedef struct {
  char *name;
  uint32_t type;
  uint32_t n_dims;
  uint64_t ne[4];
  uint64_t n_elements;
  uint8_t *data;
} Tensor;

struct GgufWriter {
  uint32_t magic, version, alignment;
  Kv *kv;
  size_t n_kv, cap_kv;
  Tensor *t;
  size_t n_t, cap_t;
};

static void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (!p) {
    fprintf (stderr, "gguf-writer: out of memory\n");
    abort ();
  }
  return p;
}

static void *
xrealloc (void *p, size_t n)
{
  p = realloc (p, n ? n : 1);
  if (!p) {
    fprintf (stderr, "gguf-writer: out of memory\n");
    abort ();
  }
  return p;
}

static char *
xstrdup (const char *s)
{
  size_t n = strlen (s) + 1;
  char *d = xmalloc (n);
  memcpy (d, s, n);
  return d;
}

/* Growable byte buffer. */
typedef struct {
  uint8_t *p;
  size_t len, cap;
} Buf;

static void
buf_put (Buf *b, const void *d, size_t n)
{
  if (b->len + n > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->len + n)
      c *= 2;
    b->p = xrealloc (b->p, c);
    b->cap = c;
  }
  if (n)
    memcpy (b->p + b->len, d, n);
  b->len += n;
}

static void
buf_u32 (Buf *b, uint32_t v)
{
  uint8_t x[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
  buf_put (b, x, 4);
}

static void
buf_u64 (Buf *b, uint64_t v)
{
  buf_u32 (b, (uint32_t) v);
  buf_u32 (b, (uint32_t) (v >> 32));
}

static void
buf_str (Buf *b, const char *s)
{
  size_t n = strlen (s);
  buf_u64 (b, n);
  buf_put (b, s, n);
}

static void
buf_zero (Buf *b, size_t n)
{
  while (n--) {
    uint8_t z = 0;
    buf_put (b, &z, 1);
  }
}

GgufWriter *
gguf_writer_new (void)
{
  GgufWriter *w = xmalloc (sizeof *w);
  memset (w, 0, sizeof *w);
  w->magic = 0x46554747u;
  w->version = 3;
  w->alignment = 32;
  return w;
}

void
gguf_writer_free (GgufWriter *w)
{
  if (!w)
    return;
  for (size_t i = 0; i < w->n_kv; i++) {
    free (w->kv[i].key);
    free (w->kv[i].value);
  }
  for (size_t i = 0; i < w->n_t; i++) {
    free (w->t[i].name);
    free (w->t[i].data);
  }
  free (w->kv);
  free (w->t);
  free (w);
}

void
gguf_writer_set_alignment (GgufWriter *w, uint32_t alignment)
{
  w->alignment = alignment ? alignment : 1;
}

void
gguf_writer_set_magic (GgufWriter *w, uint32_t magic)
{
  w->magic = magic;
}

void
gguf_writer_set_version (GgufWriter *w, uint32_t version)
{
  w->version = version;
}

void
gguf_writer_add_raw (GgufWriter *w, const char *key, uint32_t type,
    const void *bytes, size_t len)
{
  if (w->n_kv == w->cap_kv) {
    w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 32;
    w->kv = xrealloc (w->kv, w->cap_kv * sizeof (Kv));
  }
  Kv *kv = &w->kv[w->n_kv++];
  kv->key = xstrdup (key);
  kv->type = type;
  kv->value = xmalloc (len);
  if (len)
    memcpy (kv->value, bytes, len);
  kv->len = len;
}

static void
add_buf (GgufWriter *w, const char *key, uint32_t type, Buf *b)
{
  gguf_writer_add_raw (w, key, type, b->p, b->len);
  free (b->p);
}

void
gguf_writer_add_u32 (GgufWriter *w, const char *key, uint32_t v)
{
  Buf b = { 0 };
  buf_u32 (&b, v);
  add_buf (w, key, GW_U32, &b);
}

void
gguf_writer_add_i32 (GgufWriter *w, const char *key, int32_t v)
{
  Buf b = { 0 };
  buf_u32 (&b, (uint32_t) v);
  add_buf (w, key, GW_I32, &b);
}

void
gguf_writer_add_u64 (GgufWriter *w, const char *key, uint64_t v)
{
  Buf b = { 0 };
  buf_u64 (&b, v);
  add_buf (w, key, GW_U64, &b);
}

void
gguf_writer_add_f32 (GgufWriter *w, const char *key, float v)
{
  Buf b = { 0 };
  uint32_t u;
  memcpy (&u, &v, 4);
  buf_u32 (&b, u);
  add_buf (w, key, GW_F32, &b);
}

void
gguf_writer_add_bool (GgufWriter *w, const char *key, int v)
{
  uint8_t x = v ? 1 : 0;
  gguf_writer_add_raw (w, key, GW_BOOL, &x, 1);
}

void
gguf_writer_add_string (GgufWriter *w, const char *key, const char *v)
{
  Buf b = { 0 };
  buf_str (&b, v);
  add_buf (w, key, GW_STRING, &b);
}

static void
array_header (Buf *b, uint32_t elem_type, size_t n)
{
  buf_u32 (b, elem_type);
  buf_u64 (b, n);
}

void
gguf_writer_add_array_u32 (GgufWriter *w, const char *key, const uint32_t *v,
    size_t n)
{
  Buf b = { 0 };
  array_header (&b, GW_U32, n);
  for (size_t i = 0; i < n; i++)
    buf_u32 (&b, v[i]);
  add_buf (w, key, GW_ARRAY, &b);
}

void
gguf_writer_add_array_i32 (GgufWriter *w, const char *key, const int32_t *v,
    size_t n)
{
  Buf b = { 0 };
  array_header (&b, GW_I32, n);
  for (size_t i = 0; i < n; i++)
    buf_u32 (&b, (uint32_t) v[i]);
  add_buf (w, key, GW_ARRAY, &b);
}

void
gguf_writer_add_array_f32 (GgufWriter *w, const char *key, const float *v,
    size_t n)
{
  Buf b = { 0 };
  array_header (&b, GW_F32, n);
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy (&u, &v[i], 4);
    buf_u32 (&b, u);
  }
  add_buf (w, key, GW_ARRAY, &b);
}

void
gguf_writer_add_array_string (GgufWriter *w, const char *key,
    const char *const *v, size_t n)
{
  Buf b = { 0 };
  array_header (&b, GW_STRING, n);
  for (size_t i = 0; i < n; i++)
    buf_str (&b, v[i]);
  add_buf (w, key, GW_ARRAY, &b);
}

int
gguf_writer_remove (GgufWriter *w, const char *key)
{
  int removed = 0;
  size_t j = 0;
  for (size_t i = 0; i < w->n_kv; i++) {
    if (strcmp (w->kv[i].key, key) == 0) {
      free (w->kv[i].key);
      free (w->kv[i].value);
      removed++;
    } else {
      w->kv[j++] = w->kv[i];
    }
  }
  w->n_kv = j;
  return removed;
}

void
gguf_writer_replace_u32 (GgufWriter *w, const char *key, uint32_t v)
{
  gguf_writer_remove (w, key);
  gguf_writer_add_u32 (w, key, v);
}

void
gguf_writer_replace_string (GgufWriter *w, const char *key, const char *v)
{
  gguf_writer_remove (w, key);
  gguf_writer_add_string (w, key, v);
}

void
gguf_writer_replace_f32 (GgufWriter *w, const char *key, float v)
{
  gguf_writer_remove (w, key);
  gguf_writer_add_f32 (w, key, v);
}

void
gguf_writer_add_tensor (GgufWriter *w, const char *name, uint32_t type,
    uint32_t n_dims, const uint64_t *ne, const void *data)
{
  if (w->n_t == w->cap_t) {
    w->cap_t = w->cap_t ? 2 * w->cap_t : 32;
    w->t = xrealloc (w->t, w->cap_t * sizeof (Tensor));
  }
  Tensor *t = &w->t[w->n_t++];
  t->name = xstrdup (name);
  t->type = type;
  t->n_dims = n_dims > 4 ? 4 : n_dims;
  t->n_elements = 1;
  for (uint32_t d = 0; d < 4; d++)
    t->ne[d] = 1;
  for (uint32_t d = 0; d < t->n_dims; d++) {
    t->ne[d] = ne[d];
    t->n_elements *= ne[d];
  }
  t->data = xmalloc (t->n_elements * 4);
  if (data)
    memcpy (t->data, data, t->n_elements * 4);
  else
    memset (t->data, 0, t->n_elements * 4);
}

void
gguf_writer_add_tensor_f32 (GgufWriter *w, const char *name, uint32_t n_dims,
    const uint64_t *ne, const float *data)
{
  gguf_writer_add_tensor (w, name, GW_TENSOR_F32, n_dims, ne, data);
}

void
gguf_writer_add_tensor_i32 (GgufWriter *w, const char *name, uint32_t n_dims,
    const uint64_t *ne, const int32_t *data)
{
  gguf_writer_add_tensor (w, name, GW_TENSOR_I32, n_dims, ne, data);
}

int
gguf_writer_remove_tensor (GgufWriter *w, const char *name)
{
  int removed = 0;
  size_t j = 0;
  for (size_t i = 0; i < w->n_t; i++) {
    if (strcmp (w->t[i].name, name) == 0) {
      free (w->t[i].name);
      free (w->t[i].data);
      removed++;
    } else {
      w->t[j++] = w->t[i];
    }
  }
  w->n_t = j;
  return removed;
}

void *
gguf_writer_tensor_data (GgufWriter *w, const char *name, uint64_t *n_elements)
{
  for (size_t i = 0; i < w->n_t; i++) {
    if (strcmp (w->t[i].name, name) == 0) {
      if (n_elements)
        *n_elements = w->t[i].n_elements;
      return w->t[i].data;
    }
  }
  return NULL;
}

uint8_t *
gguf_writer_serialize (const GgufWriter *w, size_t *size)
{
  Buf b = { 0 };
  const uint64_t al = w->alignment;

  buf_u32 (&b, w->magic);
  buf_u32 (&b, w->version);
  buf_u64 (&b, w->n_t);
  buf_u64 (&b, w->n_kv);
  for (size_t i = 0; i < w->n_kv; i++) {
    buf_str (&b, w->kv[i].key);
    buf_u32 (&b, w->kv[i].type);
    buf_put (&b, w->kv[i].value, w->kv[i].len);
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < w->n_t; i++) {
    const Tensor *t = &w->t[i];
    buf_str (&b, t->name);
    buf_u32 (&b, t->n_dims);
    for (uint32_t d = 0; d < t->n_dims; d++)
      buf_u64 (&b, t->ne[d]);
    buf_u32 (&b, t->type);
    buf_u64 (&b, offset);
    offset += (t->n_elements * 4 + al - 1) / al * al;
  }
  buf_zero (&b, (size_t) ((al - b.len % al) % al));
  for (size_t i = 0; i < w->n_t; i++) {
    const Tensor *t = &w->t[i];
    /* Little-endian host assumed for tensor payloads (as the engine). */
    buf_put (&b, t->data, t->n_elements * 4);
    if (i + 1 < w->n_t)
      buf_zero (&b, (size_t) ((al - (t->n_elements * 4) % al) % al));
  }
  *size = b.len;
  if (!b.p)
    b.p = xmalloc (1);
  return b.p;
}
