/* Hostile models (issue 12, bad-input table of docs/reliability.md):
 * graphs with cycles and dangling inputs, tensor shapes whose element
 * count overflows, absurd front-end sizes.  Each must be refused with an
 * error code and a message naming what is wrong; never a crash (the ASan
 * build runs this too).  test-model-load.c holds the systematic cases
 * (truncation at every length, header counts, keys, values). */
#include "beenet.h"
#include "check-main.h"
#include "gguf-writer.h"
#include "test-models.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const float logits[12] = { 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 9, 0 };

static void
expect_refused (GgufWriter *w, const char *needle, int line)
{
  size_t size;
  uint8_t *b = gguf_writer_serialize (w, &size);
  BeenetModel *m = NULL;
  BeenetError err;
  BeenetStatus st;

  gguf_writer_free (w);
  st = beenet_model_load_memory (b, size, &m, &err);
  free (b);
  ck_assert_msg (st != BEENET_OK, "line %d: loaded", line);
  ck_assert_ptr_null (m);
  ck_assert_int_eq (err.code, st);
  ck_assert_msg (strstr (err.message, needle) != NULL,
      "line %d: '%s' does not mention '%s'", line, err.message, needle);
}

#define REFUSED(w, needle) expect_refused ((w), (needle), __LINE__)

static GgufWriter *
with_inputs (unsigned node, int32_t a, int n)
{
  GgufWriter *w = test_models_constant_exits_writer (3, 4, logits);
  char key[64];
  int32_t in[2] = { a, a };

  snprintf (key, sizeof key, "beenet.node.%u.inputs", node);
  gguf_writer_remove (w, key);
  gguf_writer_add_array_i32 (w, key, in, n);
  return w;
}

START_TEST (test_cycles_and_dangling_inputs)
{
  /* Node i writes activation i + 1 and may read activations 0..i
   * (docs/model-format.md).  A node fed by its own output (5 at node 4), by
   * a later node's (a cycle needs one such edge: 7 at node 1), by an
   * activation that does not exist (the model has 12 nodes), by negative
   * indices, or with no input at all */
  REFUSED (with_inputs (4, 5, 1), "beenet.node.4.inputs");
  REFUSED (with_inputs (1, 7, 1), "beenet.node.1.inputs");
  REFUSED (with_inputs (4, 13, 1), "beenet.node.4.inputs");
  REFUSED (with_inputs (4, INT32_MAX, 1), "beenet.node.4.inputs");
  REFUSED (with_inputs (4, -1, 1), "beenet.node.4.inputs");
  REFUSED (with_inputs (4, INT32_MIN, 1), "beenet.node.4.inputs");
  REFUSED (with_inputs (4, 1, 0), "beenet.node.4.inputs");
}
END_TEST

/* Offset of the tensor info right after the name `name` (its n_dims). */
static size_t
tinfo_after_name (const uint8_t *b, size_t size, const char *name)
{
  size_t n = strlen (name);

  for (size_t i = 8; i + n <= size; i++)
    if (memcmp (b + i, name, n) == 0 && b[i - 8] == n)
      return i + n;
  ck_abort_msg ("tensor info of %s not found", name);
  return 0;
}

START_TEST (test_overflowing_shapes)
{
  GgufWriter *w = test_models_constant_exits_writer (3, 4, logits);
  size_t size, t;
  uint8_t *b = gguf_writer_serialize (w, &size);
  BeenetModel *m = NULL;
  BeenetError err;

  gguf_writer_free (w);
  /* node.0.weight is 1 x 3 x 3 x 8: make it 2^16 x 2^16 x 2^16 x 8, each
   * dimension allowed, the element count (2^51) past any 32-bit size and
   * its byte count past the file */
  t = tinfo_after_name (b, size, "node.0.weight");
  for (int d = 0; d < 3; d++) {
    uint64_t v = 1u << 16;
    memcpy (b + t + 4 + 8 * d, &v, 8);   /* little-endian host */
  }
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, &err),
      BEENET_ERROR_CORRUPT);
  ck_assert_ptr_null (m);
  ck_assert_msg (strstr (err.message, "node.0.weight") &&
      strstr (err.message, "product"), "%s", err.message);
  free (b);
  /* activations that would not fit: 60000 channels */
  w = test_models_constant_exits_writer (3, 4, logits);
  gguf_writer_replace_u32 (w, "beenet.node.0.out_channels", 60000);
  REFUSED (w, "output shape");
}
END_TEST

START_TEST (test_absurd_frontend)
{
  static const struct
  {
    const char *key;
    uint32_t value;
  } bad[] = {
    {"beenet.frontend.window_samples", 0},
    {"beenet.frontend.window_samples", UINT32_MAX},
    {"beenet.frontend.sample_rate", 0},
    {"beenet.frontend.sample_rate", UINT32_MAX},
    {"beenet.frontend.hop_length", 0},
    {"beenet.frontend.frame_length", UINT32_MAX},
    {"beenet.frontend.fft_size", 1u << 31},
    {"beenet.frontend.n_mels", 0},
    {"beenet.frontend.n_mels", UINT32_MAX},
    {"beenet.frontend.n_frames", 0},
    {"beenet.frontend.n_frames", UINT32_MAX},
  };

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    GgufWriter *w = test_models_constant_exits_writer (3, 4, logits);

    gguf_writer_replace_u32 (w, bad[i].key, bad[i].value);
    /* the message names the key (without its "beenet.frontend." part) */
    REFUSED (w, bad[i].key + strlen ("beenet.frontend."));
  }
}
END_TEST

static Suite *
hostile_suite (void)
{
  Suite *s = suite_create ("model-hostile");
  TCase *tc = tcase_create ("core");

  tcase_add_test (tc, test_cycles_and_dangling_inputs);
  tcase_add_test (tc, test_overflowing_shapes);
  tcase_add_test (tc, test_absurd_frontend);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return check_run_suite (hostile_suite ());
}
