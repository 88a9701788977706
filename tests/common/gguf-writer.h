/* Minimal GGUF v3 writer for tests (not part of the engine).
 *
 * Keys and tensors are kept as lists so a test can build a valid model, then
 * remove, replace or duplicate entries before serialising it.  Allocation
 * failures abort (this is test code).  Tensor data is laid out in insertion
 * order, each tensor aligned to the writer's alignment (default 32); the
 * buffer ends exactly at the end of the last tensor, so truncating it at any
 * length cuts a declared field. */
#ifndef TEST_GGUF_WRITER_H
#define TEST_GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct GgufWriter GgufWriter;

/* GGUF value types (docs/model-format.md section 1). */
enum {
  GW_U8 = 0, GW_I8 = 1, GW_U16 = 2, GW_I16 = 3, GW_U32 = 4, GW_I32 = 5,
  GW_F32 = 6, GW_BOOL = 7, GW_STRING = 8, GW_ARRAY = 9, GW_U64 = 10,
  GW_I64 = 11, GW_F64 = 12
};
/* Tensor types. */
enum { GW_TENSOR_F32 = 0, GW_TENSOR_I32 = 26 };

GgufWriter *gguf_writer_new (void);
void gguf_writer_free (GgufWriter *w);

/* Alignment used for the data section layout (does NOT add the
 * general.alignment key; add it with gguf_writer_add_u32 if wanted). */
void gguf_writer_set_alignment (GgufWriter *w, uint32_t alignment);
/* Header fields written by serialize (defaults: GGUF magic, version 3). */
void gguf_writer_set_magic (GgufWriter *w, uint32_t magic);
void gguf_writer_set_version (GgufWriter *w, uint32_t version);

/* Keys are appended (adding a key twice makes a duplicate on purpose). */
void gguf_writer_add_u32 (GgufWriter *w, const char *key, uint32_t v);
void gguf_writer_add_i32 (GgufWriter *w, const char *key, int32_t v);
void gguf_writer_add_u64 (GgufWriter *w, const char *key, uint64_t v);
void gguf_writer_add_f32 (GgufWriter *w, const char *key, float v);
void gguf_writer_add_bool (GgufWriter *w, const char *key, int v);
void gguf_writer_add_string (GgufWriter *w, const char *key, const char *v);
void gguf_writer_add_array_u32 (GgufWriter *w, const char *key,
    const uint32_t *v, size_t n);
void gguf_writer_add_array_i32 (GgufWriter *w, const char *key,
    const int32_t *v, size_t n);
void gguf_writer_add_array_f32 (GgufWriter *w, const char *key,
    const float *v, size_t n);
void gguf_writer_add_array_string (GgufWriter *w, const char *key,
    const char *const *v, size_t n);
/* Raw value: `type` then `bytes` verbatim (for malformed-input tests). */
void gguf_writer_add_raw (GgufWriter *w, const char *key, uint32_t type,
    const void *bytes, size_t len);
/* Remove every key named `key`; returns how many were removed. */
int gguf_writer_remove (GgufWriter *w, const char *key);
/* Remove then add (convenience for tests that change one value). */
void gguf_writer_replace_u32 (GgufWriter *w, const char *key, uint32_t v);
void gguf_writer_replace_string (GgufWriter *w, const char *key,
    const char *v);
void gguf_writer_replace_f32 (GgufWriter *w, const char *key, float v);

/* Tensors: ne[0] is the fastest dimension; data has prod(ne) elements and is
 * copied.  `type` is written verbatim, so tests can lie about it. */
void gguf_writer_add_tensor (GgufWriter *w, const char *name, uint32_t type,
    uint32_t n_dims, const uint64_t *ne, const void *data);
void gguf_writer_add_tensor_f32 (GgufWriter *w, const char *name,
    uint32_t n_dims, const uint64_t *ne, const float *data);
void gguf_writer_add_tensor_i32 (GgufWriter *w, const char *name,
    uint32_t n_dims, const uint64_t *ne, const int32_t *data);
int gguf_writer_remove_tensor (GgufWriter *w, const char *name);
/* Pointer to a stored tensor's data (for in-place edits), NULL if absent. */
void *gguf_writer_tensor_data (GgufWriter *w, const char *name,
    uint64_t *n_elements);

/* Serialise to a malloc'd buffer (caller free()s); *size gets its length. */
uint8_t *gguf_writer_serialize (const GgufWriter *w, size_t *size);

#endif
