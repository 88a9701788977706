/* Strict GGUF v3 reader over a memory buffer (internal).
 *
 * gguf_parse() validates the whole container (docs/model-format.md section 1)
 * before returning: every string, array and tensor lies inside the buffer,
 * counts and lengths are bounded, keys and tensor names are unique.  After a
 * successful parse every accessor below is safe without further bounds
 * checks.  The GgufFile points into the caller's buffer, which must outlive
 * it. */
#ifndef BEENET_GGUF_H
#define BEENET_GGUF_H

#include "beenet-private.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GGUF_MAGIC 0x46554747u
#define GGUF_VERSION 3u
#define GGUF_MAX_TENSORS 65536u
#define GGUF_MAX_KV 65536u
#define GGUF_MAX_STRING 65536u
#define GGUF_MAX_DIMS 4u
#define GGUF_DEFAULT_ALIGNMENT 32u

typedef enum {
  GGUF_TYPE_UINT8 = 0,
  GGUF_TYPE_INT8 = 1,
  GGUF_TYPE_UINT16 = 2,
  GGUF_TYPE_INT16 = 3,
  GGUF_TYPE_UINT32 = 4,
  GGUF_TYPE_INT32 = 5,
  GGUF_TYPE_FLOAT32 = 6,
  GGUF_TYPE_BOOL = 7,
  GGUF_TYPE_STRING = 8,
  GGUF_TYPE_ARRAY = 9,
  GGUF_TYPE_UINT64 = 10,
  GGUF_TYPE_INT64 = 11,
  GGUF_TYPE_FLOAT64 = 12,
  GGUF_TYPE_COUNT
} GgufType;

typedef enum {
  GGUF_TENSOR_F32 = 0,
  GGUF_TENSOR_I32 = 26
} GgufTensorType;

typedef struct {
  const char *ptr;  /* NOT NUL-terminated */
  uint32_t len;
} GgufStr;

typedef struct {
  GgufStr key;
  uint32_t type;          /* GgufType */
  /* Scalars, decoded: */
  union {
    uint64_t u;           /* u8/u16/u32/u64/bool */
    int64_t i;            /* i8/i16/i32/i64 */
    double f;             /* f32/f64 */
    GgufStr s;            /* string */
  } v;
  /* Arrays: */
  uint32_t arr_type;      /* element GgufType (never ARRAY) */
  uint64_t arr_count;
  const uint8_t *arr_data;/* first element inside the buffer */
} GgufKV;

typedef struct {
  GgufStr name;
  uint32_t n_dims;
  uint64_t ne[GGUF_MAX_DIMS]; /* unused dims are 1 */
  uint32_t type;          /* GgufTensorType */
  uint64_t offset;        /* relative to data_start */
  uint64_t n_elements;
  const uint8_t *data;    /* inside the buffer */
  size_t nbytes;
} GgufTensor;

typedef struct {
  const uint8_t *base;
  size_t size;
  uint32_t version;
  uint64_t n_kv, n_tensors;
  GgufKV *kv;
  GgufTensor *tensors;
  const GgufKV **kv_sorted;          /* by key, for lookup */
  const GgufTensor **tensors_sorted; /* by name, for lookup */
  uint64_t alignment;
  uint64_t data_start;
} GgufFile;

const char *gguf_type_name (uint32_t type);

/* Parse and validate.  On failure *f is left cleared. */
BeenetStatus gguf_parse (GgufFile *f, const void *data, size_t size,
    BeenetError *err);
void gguf_clear (GgufFile *f);

const GgufKV *gguf_find_kv (const GgufFile *f, const char *key);
const GgufTensor *gguf_find_tensor (const GgufFile *f, const char *name);

bool gguf_str_eq (GgufStr s, const char *cstr);

/* Element i of an array of the matching fixed-size type (unchecked: the
 * caller checks arr_type and i < arr_count). */
uint32_t gguf_array_u32 (const GgufKV *kv, uint64_t i);
int32_t gguf_array_i32 (const GgufKV *kv, uint64_t i);
float gguf_array_f32 (const GgufKV *kv, uint64_t i);
/* Walk an array of strings: fills out[0..arr_count). */
void gguf_array_strings (const GgufKV *kv, GgufStr *out);

/* Little-endian loads (unaligned-safe). */
static inline uint32_t
gguf_load_u32 (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16)
      | ((uint32_t) p[3] << 24);
}

static inline uint64_t
gguf_load_u64 (const uint8_t *p)
{
  return (uint64_t) gguf_load_u32 (p) | ((uint64_t) gguf_load_u32 (p + 4) << 32);
}

#endif
