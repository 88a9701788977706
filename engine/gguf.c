/* Strict GGUF v3 reader (see gguf.h).  Every read goes through a cursor that
 * checks the remaining length first; messages name the field and offset. */
#include "gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const uint8_t *base;
  size_t size;
  size_t pos;
} Cursor;

static const char *const type_names[GGUF_TYPE_COUNT] = {
  "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
  "u64", "i64", "f64"
};

/* Encoded size of fixed-size value types; 0 for string/array. */
static const uint8_t type_size[GGUF_TYPE_COUNT] = {
  1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8
};

const char *
gguf_type_name (uint32_t type)
{
  return type < GGUF_TYPE_COUNT ? type_names[type] : "invalid";
}

static size_t
remaining (const Cursor *c)
{
  return c->size - c->pos;
}

static BeenetStatus
need (Cursor *c, uint64_t n, const char *field, BeenetError *err)
{
  if (n > remaining (c))
    return beenet_set_error (err, BEENET_ERROR_TRUNCATED,
        "GGUF truncated: %s needs %llu bytes at offset %zu but only %zu remain",
        field, (unsigned long long) n, c->pos, remaining (c));
  return BEENET_OK;
}

static BeenetStatus
read_u32 (Cursor *c, uint32_t *v, const char *field, BeenetError *err)
{
  BeenetStatus st = need (c, 4, field, err);
  if (st)
    return st;
  *v = gguf_load_u32 (c->base + c->pos);
  c->pos += 4;
  return BEENET_OK;
}

static BeenetStatus
read_u64 (Cursor *c, uint64_t *v, const char *field, BeenetError *err)
{
  BeenetStatus st = need (c, 8, field, err);
  if (st)
    return st;
  *v = gguf_load_u64 (c->base + c->pos);
  c->pos += 8;
  return BEENET_OK;
}

static BeenetStatus
read_string (Cursor *c, GgufStr *s, const char *field, BeenetError *err)
{
  uint64_t len;
  BeenetStatus st = read_u64 (c, &len, field, err);
  if (st)
    return st;
  if (len > GGUF_MAX_STRING)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "GGUF corrupt: %s has length %llu (limit %u) at offset %zu", field,
        (unsigned long long) len, GGUF_MAX_STRING, c->pos - 8);
  st = need (c, len, field, err);
  if (st)
    return st;
  s->ptr = (const char *) c->base + c->pos;
  s->len = (uint32_t) len;
  c->pos += (size_t) len;
  return BEENET_OK;
}

bool
gguf_str_eq (GgufStr s, const char *cstr)
{
  size_t n = strlen (cstr);
  return n == s.len && memcmp (s.ptr, cstr, n) == 0;
}

static int
str_cmp (GgufStr a, GgufStr b)
{
  uint32_t n = a.len < b.len ? a.len : b.len;
  int r = n ? memcmp (a.ptr, b.ptr, n) : 0;
  if (r)
    return r;
  return a.len < b.len ? -1 : a.len > b.len;
}

/* Decode a fixed-size scalar at p into kv->v. */
static void
decode_scalar (uint32_t type, const uint8_t *p, GgufKV *kv)
{
  switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: kv->v.u = p[0]; break;
    case GGUF_TYPE_INT8: kv->v.i = (int8_t) p[0]; break;
    case GGUF_TYPE_UINT16: kv->v.u = (uint16_t) (p[0] | (p[1] << 8)); break;
    case GGUF_TYPE_INT16: kv->v.i = (int16_t) (uint16_t) (p[0] | (p[1] << 8));
      break;
    case GGUF_TYPE_UINT32: kv->v.u = gguf_load_u32 (p); break;
    case GGUF_TYPE_INT32: kv->v.i = (int32_t) gguf_load_u32 (p); break;
    case GGUF_TYPE_FLOAT32: {
      uint32_t u = gguf_load_u32 (p);
      float f;
      memcpy (&f, &u, 4);
      kv->v.f = f;
      break;
    }
    case GGUF_TYPE_UINT64: kv->v.u = gguf_load_u64 (p); break;
    case GGUF_TYPE_INT64: kv->v.i = (int64_t) gguf_load_u64 (p); break;
    case GGUF_TYPE_FLOAT64: {
      uint64_t u = gguf_load_u64 (p);
      double d;
      memcpy (&d, &u, 8);
      kv->v.f = d;
      break;
    }
    default: break;
  }
}

/* Human-readable key for messages (truncated, non-printables replaced). */
static void
key_for_msg (GgufStr k, char *buf, size_t bufsize)
{
  size_t n = k.len < bufsize - 1 ? k.len : bufsize - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char) k.ptr[i];
    buf[i] = (ch >= 0x20 && ch < 0x7f) ? (char) ch : '?';
  }
  buf[n] = '\0';
}

static BeenetStatus
read_kv (Cursor *c, uint64_t index, GgufKV *kv, BeenetError *err)
{
  char field[160], key[96];
  BeenetStatus st;

  snprintf (field, sizeof field, "key #%llu name", (unsigned long long) index);
  st = read_string (c, &kv->key, field, err);
  if (st)
    return st;
  if (kv->key.len == 0)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "GGUF corrupt: key #%llu has an empty name", (unsigned long long) index);
  key_for_msg (kv->key, key, sizeof key);

  snprintf (field, sizeof field, "value type of key '%s'", key);
  st = read_u32 (c, &kv->type, field, err);
  if (st)
    return st;
  if (kv->type >= GGUF_TYPE_COUNT)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "GGUF corrupt: key '%s' has invalid value type %u", key, kv->type);

  snprintf (field, sizeof field, "value of key '%s'", key);
  if (kv->type == GGUF_TYPE_STRING)
    return read_string (c, &kv->v.s, field, err);

  if (kv->type != GGUF_TYPE_ARRAY) {
    st = need (c, type_size[kv->type], field, err);
    if (st)
      return st;
    if (kv->type == GGUF_TYPE_BOOL && c->base[c->pos] > 1)
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "GGUF corrupt: bool key '%s' has value %u", key, c->base[c->pos]);
    decode_scalar (kv->type, c->base + c->pos, kv);
    c->pos += type_size[kv->type];
    return BEENET_OK;
  }

  snprintf (field, sizeof field, "array element type of key '%s'", key);
  st = read_u32 (c, &kv->arr_type, field, err);
  if (st)
    return st;
  if (kv->arr_type >= GGUF_TYPE_COUNT)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "GGUF corrupt: array key '%s' has invalid element type %u", key,
        kv->arr_type);
  if (kv->arr_type == GGUF_TYPE_ARRAY)
    return beenet_set_error (err, BEENET_ERROR_UNSUPPORTED,
        "GGUF: key '%s' is a nested array (not supported)", key);
  snprintf (field, sizeof field, "array count of key '%s'", key);
  st = read_u64 (c, &kv->arr_count, field, err);
  if (st)
    return st;

  /* Bound the count by the bytes left before walking anything. */
  uint64_t min_size = kv->arr_type == GGUF_TYPE_STRING ? 8 : type_size[kv->arr_type];
  if (kv->arr_count > remaining (c) / min_size) {
    return beenet_set_error (err, BEENET_ERROR_TRUNCATED,
        "GGUF truncated: array key '%s' declares %llu elements of type %s "
        "but only %zu bytes remain at offset %zu", key,
        (unsigned long long) kv->arr_count, gguf_type_name (kv->arr_type),
        remaining (c), c->pos);
  }
  kv->arr_data = c->base + c->pos;
  if (kv->arr_type != GGUF_TYPE_STRING) {
    size_t bytes = (size_t) kv->arr_count * min_size;
    if (kv->arr_type == GGUF_TYPE_BOOL) {
      for (size_t i = 0; i < bytes; i++)
        if (kv->arr_data[i] > 1)
          return beenet_set_error (err, BEENET_ERROR_CORRUPT,
              "GGUF corrupt: bool array '%s' element %zu has value %u", key, i,
              kv->arr_data[i]);
    }
    c->pos += bytes;
    return BEENET_OK;
  }
  for (uint64_t i = 0; i < kv->arr_count; i++) {
    GgufStr s;
    snprintf (field, sizeof field, "string element %llu of array key '%s'",
        (unsigned long long) i, key);
    st = read_string (c, &s, field, err);
    if (st)
      return st;
  }
  return BEENET_OK;
}

static BeenetStatus
read_tensor_info (Cursor *c, uint64_t index, uint64_t alignment,
    GgufTensor *t, BeenetError *err)
{
  char field[160], name[96];
  BeenetStatus st;

  snprintf (field, sizeof field, "tensor #%llu name", (unsigned long long) index);
  st = read_string (c, &t->name, field, err);
  if (st)
    return st;
  if (t->name.len == 0)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "GGUF corrupt: tensor #%llu has an empty name",
        (unsigned long long) index);
  key_for_msg (t->name, name, sizeof name);

  snprintf (field, sizeof field, "n_dims of tensor '%s'", name);
  st = read_u32 (c, &t->n_dims, field, err);
  if (st)
    return st;
  if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "GGUF corrupt: tensor '%s' has n_dims %u (must be 1..%u)", name,
        t->n_dims, GGUF_MAX_DIMS);
  t->n_elements = 1;
  for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
    t->ne[d] = 1;
  for (uint32_t d = 0; d < t->n_dims; d++) {
    snprintf (field, sizeof field, "ne[%u] of tensor '%s'", d, name);
    st = read_u64 (c, &t->ne[d], field, err);
    if (st)
      return st;
    if (t->ne[d] < 1 || t->ne[d] > (1ull << 31)
        || t->n_elements * t->ne[d] > (1ull << 31))
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "GGUF corrupt: tensor '%s' ne[%u] = %llu (each ne >= 1, product "
          "<= 2^31)", name, d, (unsigned long long) t->ne[d]);
    t->n_elements *= t->ne[d];
  }
  snprintf (field, sizeof field, "type of tensor '%s'", name);
  st = read_u32 (c, &t->type, field, err);
  if (st)
    return st;
  if (t->type != GGUF_TENSOR_F32 && t->type != GGUF_TENSOR_I32)
    return beenet_set_error (err, BEENET_ERROR_UNSUPPORTED,
        "GGUF: tensor '%s' has type %u (only F32=0 and I32=26 are supported)",
        name, t->type);
  snprintf (field, sizeof field, "offset of tensor '%s'", name);
  st = read_u64 (c, &t->offset, field, err);
  if (st)
    return st;
  if (t->offset % alignment != 0)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "GGUF corrupt: tensor '%s' offset %llu is not a multiple of the "
        "alignment %llu", name, (unsigned long long) t->offset,
        (unsigned long long) alignment);
  t->nbytes = (size_t) (t->n_elements * 4);
  return BEENET_OK;
}

static int
kv_ptr_cmp (const void *a, const void *b)
{
  const GgufKV *x = *(const GgufKV *const *) a, *y = *(const GgufKV *const *) b;
  return str_cmp (x->key, y->key);
}

static int
tensor_ptr_cmp (const void *a, const void *b)
{
  const GgufTensor *x = *(const GgufTensor *const *) a;
  const GgufTensor *y = *(const GgufTensor *const *) b;
  return str_cmp (x->name, y->name);
}

void
gguf_clear (GgufFile *f)
{
  free (f->kv);
  free (f->tensors);
  free (f->kv_sorted);
  free (f->tensors_sorted);
  memset (f, 0, sizeof *f);
}

BeenetStatus
gguf_parse (GgufFile *f, const void *data, size_t size, BeenetError *err)
{
  Cursor c = { data, size, 0 };
  BeenetStatus st;
  uint32_t magic;
  char name[96];

  memset (f, 0, sizeof *f);
  f->base = data;
  f->size = size;
  f->alignment = GGUF_DEFAULT_ALIGNMENT;

  if (!data && size)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "GGUF: NULL data");
  if (size < 4)
    return beenet_set_error (err, BEENET_ERROR_FORMAT,
        "not a GGUF file: %zu bytes, too short for the magic", size);
  st = read_u32 (&c, &magic, "magic", err);
  if (st)
    return st;
  if (magic != GGUF_MAGIC)
    return beenet_set_error (err, BEENET_ERROR_FORMAT,
        "not a GGUF file: bad magic 0x%08x (expected 0x%08x \"GGUF\")", magic,
        GGUF_MAGIC);
  st = read_u32 (&c, &f->version, "version", err);
  if (st)
    return st;
  if (f->version != GGUF_VERSION)
    return beenet_set_error (err, BEENET_ERROR_UNSUPPORTED,
        "GGUF version %u is not supported (only version %u)", f->version,
        GGUF_VERSION);
  st = read_u64 (&c, &f->n_tensors, "tensor_count", err);
  if (st)
    return st;
  st = read_u64 (&c, &f->n_kv, "kv_count", err);
  if (st)
    return st;
  if (f->n_tensors > GGUF_MAX_TENSORS)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "GGUF corrupt: tensor_count %llu exceeds the limit %u",
        (unsigned long long) f->n_tensors, GGUF_MAX_TENSORS);
  if (f->n_kv > GGUF_MAX_KV)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "GGUF corrupt: kv_count %llu exceeds the limit %u",
        (unsigned long long) f->n_kv, GGUF_MAX_KV);
  /* Smallest encodings: kv = 8 (key len) + 4 (type) + 1; tensor info =
   * 8 + 4 + 8 + 4 + 8.  Reject impossible counts before allocating. */
  if (f->n_kv * 13 + f->n_tensors * 32 > remaining (&c))
    return beenet_set_error (err, BEENET_ERROR_TRUNCATED,
        "GGUF truncated: %llu keys and %llu tensor infos cannot fit in the "
        "%zu bytes after the header", (unsigned long long) f->n_kv,
        (unsigned long long) f->n_tensors, remaining (&c));

  f->kv = calloc (f->n_kv ? f->n_kv : 1, sizeof (GgufKV));
  f->tensors = calloc (f->n_tensors ? f->n_tensors : 1, sizeof (GgufTensor));
  f->kv_sorted = calloc (f->n_kv ? f->n_kv : 1, sizeof (GgufKV *));
  f->tensors_sorted = calloc (f->n_tensors ? f->n_tensors : 1,
      sizeof (GgufTensor *));
  if (!f->kv || !f->tensors || !f->kv_sorted || !f->tensors_sorted) {
    gguf_clear (f);
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory reading GGUF metadata");
  }

  for (uint64_t i = 0; i < f->n_kv; i++) {
    st = read_kv (&c, i, &f->kv[i], err);
    if (st)
      goto fail;
    f->kv_sorted[i] = &f->kv[i];
  }
  qsort (f->kv_sorted, f->n_kv, sizeof (GgufKV *), kv_ptr_cmp);
  for (uint64_t i = 1; i < f->n_kv; i++) {
    if (str_cmp (f->kv_sorted[i - 1]->key, f->kv_sorted[i]->key) == 0) {
      key_for_msg (f->kv_sorted[i]->key, name, sizeof name);
      st = beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "GGUF corrupt: duplicate key '%s'", name);
      goto fail;
    }
  }

  const GgufKV *al = gguf_find_kv (f, "general.alignment");
  if (al) {
    if (al->type != GGUF_TYPE_UINT32) {
      st = beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "GGUF corrupt: general.alignment has type %s (expected u32)",
          gguf_type_name (al->type));
      goto fail;
    }
    if (al->v.u < 8 || al->v.u > 4096 || (al->v.u & (al->v.u - 1)) != 0) {
      st = beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "GGUF corrupt: general.alignment %llu is not a power of two in "
          "[8, 4096]", (unsigned long long) al->v.u);
      goto fail;
    }
    f->alignment = al->v.u;
  }

  for (uint64_t i = 0; i < f->n_tensors; i++) {
    st = read_tensor_info (&c, i, f->alignment, &f->tensors[i], err);
    if (st)
      goto fail;
    f->tensors_sorted[i] = &f->tensors[i];
  }
  qsort (f->tensors_sorted, f->n_tensors, sizeof (GgufTensor *),
      tensor_ptr_cmp);
  for (uint64_t i = 1; i < f->n_tensors; i++) {
    if (str_cmp (f->tensors_sorted[i - 1]->name,
            f->tensors_sorted[i]->name) == 0) {
      key_for_msg (f->tensors_sorted[i]->name, name, sizeof name);
      st = beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "GGUF corrupt: duplicate tensor name '%s'", name);
      goto fail;
    }
  }

  f->data_start = (c.pos + f->alignment - 1) / f->alignment * f->alignment;
  for (uint64_t i = 0; i < f->n_tensors; i++) {
    GgufTensor *t = &f->tensors[i];
    if (f->data_start > size || t->offset > size - f->data_start
        || t->nbytes > size - f->data_start - t->offset) {
      key_for_msg (t->name, name, sizeof name);
      st = beenet_set_error (err, BEENET_ERROR_TRUNCATED,
          "GGUF truncated: data of tensor '%s' (%zu bytes at offset %llu) "
          "runs past the end of the file (%zu bytes)", name, t->nbytes,
          (unsigned long long) (f->data_start + t->offset), size);
      goto fail;
    }
    t->data = f->base + f->data_start + t->offset;
  }
  return BEENET_OK;

fail:
  gguf_clear (f);
  return st;
}

const GgufKV *
gguf_find_kv (const GgufFile *f, const char *key)
{
  GgufStr k = { key, (uint32_t) strlen (key) };
  size_t lo = 0, hi = f->n_kv;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int r = str_cmp (f->kv_sorted[mid]->key, k);
    if (r == 0)
      return f->kv_sorted[mid];
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const GgufTensor *
gguf_find_tensor (const GgufFile *f, const char *name)
{
  GgufStr k = { name, (uint32_t) strlen (name) };
  size_t lo = 0, hi = f->n_tensors;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int r = str_cmp (f->tensors_sorted[mid]->name, k);
    if (r == 0)
      return f->tensors_sorted[mid];
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

uint32_t
gguf_array_u32 (const GgufKV *kv, uint64_t i)
{
  return gguf_load_u32 (kv->arr_data + 4 * i);
}

int32_t
gguf_array_i32 (const GgufKV *kv, uint64_t i)
{
  return (int32_t) gguf_load_u32 (kv->arr_data + 4 * i);
}

float
gguf_array_f32 (const GgufKV *kv, uint64_t i)
{
  const uint32_t bits = gguf_load_u32 (kv->arr_data + 4 * i);
  float v;
  memcpy (&v, &bits, sizeof v);
  return v;
}

void
gguf_array_strings (const GgufKV *kv, GgufStr *out)
{
  const uint8_t *p = kv->arr_data;
  for (uint64_t i = 0; i < kv->arr_count; i++) {
    uint64_t len = gguf_load_u64 (p);
    out[i].ptr = (const char *) p + 8;
    out[i].len = (uint32_t) len;
    p += 8 + len;
  }
}
