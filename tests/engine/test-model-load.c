/* Model loading: a valid model loads with the right metadata and operation
 * counts; every malformed input (truncation at every length, random byte
 * corruption, bad header, bad keys, bad tensors, bad graph) fails with the
 * documented error code and a message naming the field, never crashes. */
#include "beenet.h"
#include "check-main.h"
#include "gguf-writer.h"
#include "test-models.h"
#include "writer-load.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const float logits3x4[12] = { 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 9, 0 };

static GgufWriter *
base_writer (void)
{
  return test_models_constant_exits_writer (3, 4, logits3x4);
}

/* Serialise w (consumed), load, return status; *err filled. */
static BeenetStatus
load_writer (GgufWriter *w, BeenetError *err)
{
  size_t size;
  uint8_t *b = gguf_writer_serialize (w, &size);
  gguf_writer_free (w);
  BeenetModel *m = (BeenetModel *) 0x1;
  BeenetStatus st = beenet_model_load_memory (b, size, &m, err);
  free (b);
  if (st == BEENET_OK) {
    ck_assert_ptr_nonnull (m);
    beenet_model_unref (m);
  } else {
    ck_assert_ptr_null (m);
    ck_assert_int_eq (err->code, st);
    ck_assert_msg (strlen (err->message) > 0, "empty error message");
  }
  return st;
}

static void
expect_status (GgufWriter *w, BeenetStatus code, const char *needle,
    int line)
{
  BeenetError e;
  BeenetStatus st = load_writer (w, &e);
  ck_assert_msg (st == code, "line %d: expected %s, got %s: %s", line,
      beenet_status_name (code), beenet_status_name (st),
      st ? e.message : "");
  if (needle)
    ck_assert_msg (strstr (e.message, needle) != NULL,
        "line %d: message '%s' does not mention '%s'", line, e.message,
        needle);
}

#define EXPECT(w, code, needle) expect_status ((w), (code), (needle), __LINE__)

START_TEST (test_valid_metadata)
{
  size_t size;
  uint8_t *b = test_models_constant_exits (3, 4, logits3x4, &size);
  BeenetModel *m;
  BeenetError err;
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, &err), BEENET_OK);
  ck_assert_int_eq (err.code, BEENET_OK);
  memset (b, 0xAB, size);   /* the model keeps its own copy */
  free (b);
  ck_assert_str_eq (beenet_model_name (m), "test-model");
  ck_assert_uint_eq (beenet_model_num_classes (m), 4);
  ck_assert_uint_eq (beenet_model_num_exits (m), 3);
  ck_assert_str_eq (beenet_model_label (m, 0), "class0");
  ck_assert_str_eq (beenet_model_label (m, 3), "class3");
  ck_assert_ptr_null (beenet_model_label (m, 4));
  ck_assert_int_eq (beenet_model_default_policy (m), BEENET_POLICY_ENTROPY);
  ck_assert_float_eq (beenet_model_default_threshold (m), 0.5f);
  BeenetFrontendConfig c, d;
  beenet_model_frontend_config (m, &c);
  beenet_frontend_config_default (&d);
  ck_assert_mem_eq (&c, &d, sizeof c);

  /* Operation counts from the spec formulas.  Graph: conv2d 3x3/2 p1
   * 1->8 on 98x64 (-> 49x32x8); per exit: [bconv2d 3x3 p1 8->8 for exits
   * 2, 3], global_avgpool, dense 8->4, exit(4). */
  const uint64_t hw = 49 * 32;
  const uint64_t conv = hw * 8 * 3 * 3 * 1 + 2 * hw * 8;
  const uint64_t head = hw * 8 + (8 * 4 + 2 * 4) + 3 * 4;
  const uint64_t bconv_bops = hw * 8 * 3 * 3 * 8, bconv_flops = 2 * hw * 8;
  ck_assert_uint_eq (beenet_model_total_bops (m), 2 * bconv_bops);
  ck_assert_uint_eq (beenet_model_total_flops (m), conv + 3 * head + 2 * bconv_flops);

  char *desc = beenet_model_describe (m);
  ck_assert_ptr_nonnull (desc);
  ck_assert_ptr_nonnull (strstr (desc, "test-model"));
  ck_assert_ptr_nonnull (strstr (desc, "class3"));
  ck_assert_ptr_nonnull (strstr (desc, "bconv2d"));
  ck_assert_ptr_nonnull (strstr (desc, "exit 3"));
  free (desc);

  /* Reference counting: a session keeps the model alive. */
  BeenetSession *s;
  ck_assert_ptr_eq (beenet_model_ref (m), m);
  beenet_model_unref (m);
  ck_assert_int_eq (beenet_session_new (m, &s, NULL), BEENET_OK);
  beenet_model_unref (m);
  ck_assert_ptr_eq (beenet_session_model (s), m);
  ck_assert_str_eq (beenet_model_label (beenet_session_model (s), 1), "class1");
  beenet_session_free (s);
  beenet_model_unref (NULL);
}
END_TEST

START_TEST (test_load_file)
{
  char path[] = "/tmp/beenet-test-XXXXXX";
  int fd = mkstemp (path);
  ck_assert_int_ge (fd, 0);
  size_t size;
  uint8_t *b = test_models_constant_exits (2, 3, logits3x4, &size);
  ck_assert_int_eq (write (fd, b, size), (ssize_t) size);
  close (fd);
  BeenetModel *m;
  BeenetError err;
  ck_assert_int_eq (beenet_model_load_file (path, &m, &err), BEENET_OK);
  ck_assert_uint_eq (beenet_model_num_exits (m), 2);
  beenet_model_unref (m);
  /* A truncated file names the path and the field. */
  ck_assert_int_eq (truncate (path, (off_t) size - 1), 0);
  ck_assert_int_eq (beenet_model_load_file (path, &m, &err),
      BEENET_ERROR_TRUNCATED);
  ck_assert_ptr_nonnull (strstr (err.message, path));
  unlink (path);
  free (b);

  /* Missing file: IO error naming the path and the reason. */
  ck_assert_int_eq (beenet_model_load_file ("/nonexistent/dir/model.gguf", &m,
          &err), BEENET_ERROR_IO);
  ck_assert_ptr_null (m);
  ck_assert_ptr_nonnull (strstr (err.message, "/nonexistent/dir/model.gguf"));
  ck_assert_ptr_nonnull (strstr (err.message, "No such file"));
  /* A directory opens but cannot be read. */
  ck_assert_int_eq (beenet_model_load_file ("/tmp", &m, &err), BEENET_ERROR_IO);
  ck_assert_ptr_nonnull (strstr (err.message, "/tmp"));
  /* Empty file. */
  char epath[] = "/tmp/beenet-empty-XXXXXX";
  fd = mkstemp (epath);
  close (fd);
  ck_assert_int_eq (beenet_model_load_file (epath, &m, &err), BEENET_ERROR_FORMAT);
  unlink (epath);
  ck_assert_int_eq (beenet_model_load_file (NULL, &m, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_model_load_memory (NULL, 10, &m, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_model_load_memory ("x", 1, NULL, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  /* err may be NULL. */
  ck_assert_int_eq (beenet_model_load_memory ("GGUF", 4, &m, NULL),
      BEENET_ERROR_TRUNCATED);
}
END_TEST

static void
check_truncations (const uint8_t *b, size_t size, size_t dense_until,
    size_t step)
{
  for (size_t len = 0; len < size; len += (len < dense_until ? 1 : step)) {
    BeenetModel *m = NULL;
    BeenetError err;
    BeenetStatus st = beenet_model_load_memory (b, len, &m, &err);
    BeenetStatus want = len < 4 ? BEENET_ERROR_FORMAT : BEENET_ERROR_TRUNCATED;
    ck_assert_msg (st == want, "length %zu/%zu: got %s (%s)", len, size,
        beenet_status_name (st), err.message);
    ck_assert_ptr_null (m);
    ck_assert (strlen (err.message) > 0);
  }
}

START_TEST (test_truncate_every_length)
{
  size_t size;
  uint8_t *b = test_models_constant_exits (3, 4, logits3x4, &size);
  check_truncations (b, size, size, 1);   /* every single length */
  free (b);
  /* Realistic model: every length through the metadata and 1/61 of the
   * (large) tensor data. */
  b = test_models_realistic (7, &size);
  check_truncations (b, size, 24000, 61);
  check_truncations (b, size, 0, 1 + size / 4000);
  BeenetModel *m;
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, NULL), BEENET_OK);
  beenet_model_unref (m);
  free (b);
}
END_TEST

START_TEST (test_corrupt_bytes)
{
  size_t size;
  uint8_t *orig = test_models_constant_exits (3, 4, logits3x4, &size);
  uint8_t *b = malloc (size);
  uint32_t seed = 0xC0FFEE;
  float *window = calloc (16000, sizeof (float));
  for (int i = 0; i < 16000; i++)
    window[i] = 0.25f * sinf ((float) i * 0.05f);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 6000; iter++) {
    memcpy (b, orig, size);
    /* 1-3 random bytes replaced with random values (mostly in the metadata
     * where parsing happens; some in tensor data). */
    int n = 1 + (int) (test_rand_u32 (&seed) % 3);
    for (int k = 0; k < n; k++) {
      size_t pos = test_rand_u32 (&seed) % (iter % 4 ? 2200 : size);
      b[pos] = (uint8_t) test_rand_u32 (&seed);
    }
    BeenetModel *m = NULL;
    BeenetError err;
    BeenetStatus st = beenet_model_load_memory (b, size, &m, &err);
    if (st != BEENET_OK) {
      ck_assert_msg (st >= BEENET_ERROR_FORMAT && st <= BEENET_ERROR_UNSUPPORTED,
          "iteration %d: unexpected status %s (%s)", iter,
          beenet_status_name (st), err.message);
      ck_assert_ptr_null (m);
      ck_assert (strlen (err.message) > 0);
      failed++;
      continue;
    }
    ok++;
    /* Still a valid model: it must run safely. */
    BeenetSession *s;
    ck_assert_int_eq (beenet_session_new (m, &s, &err), BEENET_OK);
    BeenetResult r;
    BeenetFrontendConfig fc;
    beenet_model_frontend_config (m, &fc);
    float *win = calloc (fc.window_samples, sizeof (float));
    for (uint32_t i = 0; i < fc.window_samples; i++)
      win[i] = window[i % 16000];
    st = beenet_session_classify (s, win, fc.window_samples,
        BEENET_POLICY_ENTROPY, 0.5f, &r, &err);
    ck_assert (st == BEENET_OK || st == BEENET_ERROR_NONFINITE);
    if (st == BEENET_OK) {
      double sum = 0;
      for (uint32_t k = 0; k < r.num_classes; k++)
        sum += r.probabilities[k];
      ck_assert (fabs (sum - 1.0) < 1e-4);
      ck_assert (r.exit_index >= 1 && r.exit_index <= r.num_exits);
    }
    free (win);
    char *d = beenet_model_describe (m);
    ck_assert_ptr_nonnull (d);
    free (d);
    beenet_session_free (s);
    beenet_model_unref (m);
  }
  /* Both outcomes must have been exercised. */
  ck_assert_int_gt (ok, 100);
  ck_assert_int_gt (failed, 100);
  free (b);
  free (orig);
  free (window);
}
END_TEST

/* Offset just after the tensor-info name `name` in a serialised file. */
static size_t
tinfo_after_name (const uint8_t *b, size_t size, const char *name)
{
  const size_t n = strlen (name);
  /* The info entry is u64 length + name; skip the key-value section
   * occurrence-free names: tensor names only appear in tensor infos. */
  const uint8_t *p = memmem (b, size, name, n);
  ck_assert_ptr_nonnull (p);
  return (size_t) (p - b) + n;
}

static void
put_u32 (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static void
put_u64 (uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static BeenetStatus
load_bytes (const uint8_t *b, size_t size, BeenetError *err)
{
  BeenetModel *m = NULL;
  BeenetStatus st = beenet_model_load_memory (b, size, &m, err);
  if (m)
    beenet_model_unref (m);
  return st;
}

START_TEST (test_header_and_counts)
{
  size_t size;
  uint8_t *orig = test_models_constant_exits (3, 4, logits3x4, &size);
  uint8_t *b = malloc (size);
  BeenetError err;

  ck_assert_int_eq (load_bytes (orig, size, &err), BEENET_OK);
#define RESET() memcpy (b, orig, size)
  RESET (); b[0] = 'X';
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_FORMAT);
  ck_assert_ptr_nonnull (strstr (err.message, "magic"));
  RESET (); put_u32 (b + 4, 2);
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_UNSUPPORTED);
  ck_assert_ptr_nonnull (strstr (err.message, "version"));
  RESET (); put_u32 (b + 4, 4);
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_UNSUPPORTED);
  RESET (); put_u64 (b + 8, 1ull << 40);             /* tensor_count */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "tensor_count"));
  RESET (); put_u64 (b + 16, 65537);                 /* kv_count */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "kv_count"));
  RESET (); put_u64 (b + 16, 60000);   /* in range but cannot fit */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_TRUNCATED);
  RESET (); put_u64 (b + 24, ~0ull);                 /* first key length */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "key #0"));
  RESET (); put_u64 (b + 24, 65536);   /* allowed length, runs past end */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_TRUNCATED);
  RESET (); put_u64 (b + 24, 0);       /* empty key */
  ck_assert_int_ne (load_bytes (b, size, &err), BEENET_OK);

  /* Tensor infos. */
  size_t t = tinfo_after_name (orig, size, "frontend.inv_std");
  RESET (); put_u32 (b + t, 5);                      /* n_dims */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "frontend.inv_std"));
  RESET (); put_u32 (b + t, 0);
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_CORRUPT);
  RESET (); put_u64 (b + t + 4, 1ull << 40);         /* ne[0] */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "ne[0]"));
  RESET (); put_u64 (b + t + 4, 0);
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_CORRUPT);
  RESET (); put_u32 (b + t + 12, 1);                 /* type F16 */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_UNSUPPORTED);
  ck_assert_ptr_nonnull (strstr (err.message, "type"));
  RESET (); put_u64 (b + t + 16, 4);                 /* misaligned offset */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "offset"));
  RESET (); put_u64 (b + t + 16, 1ull << 60);        /* offset past end */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_TRUNCATED);
  RESET (); put_u64 (b + t + 4, 1u << 20);           /* data past end */
  ck_assert_int_eq (load_bytes (b, size, &err), BEENET_ERROR_TRUNCATED);
#undef RESET
  free (b);
  free (orig);
}
END_TEST

START_TEST (test_bad_values)
{
  GgufWriter *w;
  uint8_t raw[16];

  /* Huge array count (TRUNCATED: runs past the end). */
  w = base_writer ();
  put_u32 (raw, 4);
  put_u64 (raw + 4, 1ull << 61);
  gguf_writer_add_raw (w, "beenet.training.x", 9, raw, 12);
  EXPECT (w, BEENET_ERROR_TRUNCATED, "beenet.training.x");
  /* Nested array. */
  w = base_writer ();
  put_u32 (raw, 9);
  put_u64 (raw + 4, 0);
  gguf_writer_add_raw (w, "beenet.training.nested", 9, raw, 12);
  EXPECT (w, BEENET_ERROR_UNSUPPORTED, "nested");
  /* Invalid value type. */
  w = base_writer ();
  gguf_writer_add_raw (w, "beenet.training.bad", 13, raw, 4);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.training.bad");
  /* Bool must be 0/1. */
  w = base_writer ();
  raw[0] = 7;
  gguf_writer_add_raw (w, "beenet.training.flag", 7, raw, 1);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.training.flag");
  /* Optional unknown keys of every type are ignored. */
  w = base_writer ();
  gguf_writer_add_bool (w, "beenet.training.flag", 1);
  gguf_writer_add_u64 (w, "beenet.training.seed", 1234);
  gguf_writer_add_i32 (w, "beenet.training.epochs", -3);
  const float accs[2] = { 0.9f, 0.95f };
  gguf_writer_add_array_f32 (w, "beenet.training.accuracy", accs, 2);
  EXPECT (w, BEENET_OK, NULL);

  /* Duplicate keys and tensor names. */
  w = base_writer ();
  gguf_writer_add_u32 (w, "beenet.node_count", 12);
  EXPECT (w, BEENET_ERROR_CORRUPT, "duplicate key 'beenet.node_count'");
  w = base_writer ();
  const uint64_t ne[1] = { 64 };
  gguf_writer_add_tensor_f32 (w, "frontend.mean", 1, ne, NULL);
  EXPECT (w, BEENET_ERROR_CORRUPT, "duplicate tensor name 'frontend.mean'");

  /* Alignment. */
  w = base_writer ();
  gguf_writer_add_u32 (w, "general.alignment", 48);
  EXPECT (w, BEENET_ERROR_CORRUPT, "general.alignment");
  w = base_writer ();
  gguf_writer_add_u32 (w, "general.alignment", 8192);
  EXPECT (w, BEENET_ERROR_CORRUPT, "general.alignment");
  w = base_writer ();
  gguf_writer_add_string (w, "general.alignment", "32");
  EXPECT (w, BEENET_ERROR_CORRUPT, "general.alignment");
  w = base_writer ();
  gguf_writer_add_u32 (w, "general.alignment", 64);
  gguf_writer_set_alignment (w, 64);
  EXPECT (w, BEENET_OK, NULL);
  w = base_writer ();
  gguf_writer_add_u32 (w, "general.alignment", 8);
  gguf_writer_set_alignment (w, 8);
  EXPECT (w, BEENET_OK, NULL);
}
END_TEST

START_TEST (test_missing_keys)
{
  static const char *const required[] = {
    "general.name", "beenet.format_version", "beenet.labels",
    "beenet.frontend.sample_rate", "beenet.frontend.window_samples",
    "beenet.frontend.frame_length", "beenet.frontend.hop_length",
    "beenet.frontend.fft_size", "beenet.frontend.n_mels",
    "beenet.frontend.n_frames", "beenet.frontend.fmin",
    "beenet.frontend.fmax", "beenet.frontend.log_floor", "beenet.policy",
    "beenet.threshold", "beenet.node_count", "beenet.exit_count",
    "beenet.node.0.op", "beenet.node.0.inputs", "beenet.node.0.kernel",
    "beenet.node.0.stride", "beenet.node.0.padding", "beenet.node.0.groups",
    "beenet.node.0.out_channels", "beenet.node.0.activation",
    "beenet.node.2.out_channels", "beenet.node.2.activation",
    "beenet.node.3.inputs", "beenet.node.4.kernel",
  };
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    GgufWriter *w = base_writer ();
    ck_assert_int_eq (gguf_writer_remove (w, required[i]), 1);
    EXPECT (w, BEENET_ERROR_CORRUPT, required[i]);
  }
  /* Optional keys. */
  GgufWriter *w = base_writer ();
  ck_assert_int_eq (gguf_writer_remove (w, "general.description"), 1);
  ck_assert_int_eq (gguf_writer_remove (w, "beenet.node.4.groups"), 1);
  EXPECT (w, BEENET_OK, NULL);
  /* Not a beenet file at all. */
  w = base_writer ();
  gguf_writer_remove (w, "general.architecture");
  EXPECT (w, BEENET_ERROR_FORMAT, "general.architecture");
  w = base_writer ();
  gguf_writer_replace_string (w, "general.architecture", "llama");
  EXPECT (w, BEENET_ERROR_FORMAT, "general.architecture");
  /* Missing tensors. */
  static const char *const tensors[] = { "frontend.mean", "frontend.inv_std",
    "node.0.weight", "node.0.scale", "node.0.bias", "node.4.weight" };
  for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++) {
    w = base_writer ();
    ck_assert_int_eq (gguf_writer_remove_tensor (w, tensors[i]), 1);
    EXPECT (w, BEENET_ERROR_CORRUPT, tensors[i]);
  }
}
END_TEST

/* What the model is for and its family (beenet.task, beenet.architecture):
 * optional; beenet.task falls back to beenet.training.task (older
 * trainers); shown by describe; malformed values are CORRUPT. */
static void
expect_identity (GgufWriter *w, const char *task, const char *arch)
{
  BeenetModel *m = writer_load_ok (w);
  char *desc = beenet_model_describe (m), line[96];
  if (task)
    ck_assert_str_eq (beenet_model_task (m), task);
  else
    ck_assert_ptr_null (beenet_model_task (m));
  if (arch)
    ck_assert_str_eq (beenet_model_architecture (m), arch);
  else
    ck_assert_ptr_null (beenet_model_architecture (m));
  snprintf (line, sizeof line, "task: %s\narchitecture: %s\n",
      task ? task : "(not stated)", arch ? arch : "(not stated)");
  ck_assert_msg (strstr (desc, line), "describe lacks '%s':\n%s", line, desc);
  free (desc);
  beenet_model_unref (m);
}

START_TEST (test_task_architecture)
{
  GgufWriter *w = base_writer ();
  expect_identity (w, NULL, NULL);
  w = base_writer ();
  gguf_writer_add_string (w, "beenet.training.task", "kws12");
  expect_identity (w, "kws12", NULL);
  w = base_writer ();
  gguf_writer_add_string (w, "beenet.training.task", "kws12");
  gguf_writer_add_string (w, "beenet.task", "lid6");
  gguf_writer_add_string (w, "beenet.architecture", "birealnet");
  expect_identity (w, "lid6", "birealnet");
  ck_assert_ptr_null (beenet_model_task (NULL));
  ck_assert_ptr_null (beenet_model_architecture (NULL));
  w = base_writer ();
  gguf_writer_add_string (w, "beenet.task", "kws\xff");
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.task");
  w = base_writer ();
  gguf_writer_add_u32 (w, "beenet.architecture", 3);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.architecture");
}
END_TEST

START_TEST (test_bad_keys)
{
  GgufWriter *w;
  /* Versions. */
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.format_version",
      BEENET_FORMAT_VERSION + 1);
  EXPECT (w, BEENET_ERROR_UNSUPPORTED, "format_version");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.format_version", 0);
  EXPECT (w, BEENET_ERROR_CORRUPT, "format_version");
  /* Wrong types. */
  w = base_writer ();
  gguf_writer_remove (w, "beenet.node_count");
  gguf_writer_add_i32 (w, "beenet.node_count", 12);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.node_count");
  w = base_writer ();
  gguf_writer_remove (w, "beenet.threshold");
  gguf_writer_add_u32 (w, "beenet.threshold", 1);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.threshold");
  w = base_writer ();
  gguf_writer_remove (w, "beenet.node.0.inputs");
  const uint32_t zero = 0;
  gguf_writer_add_array_u32 (w, "beenet.node.0.inputs", &zero, 1);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.node.0.inputs");
  /* Labels. */
  w = base_writer ();
  gguf_writer_remove (w, "beenet.labels");
  const char *one[] = { "only" };
  gguf_writer_add_array_string (w, "beenet.labels", one, 1);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.labels");
  w = base_writer ();
  gguf_writer_remove (w, "beenet.labels");
  const char *five[] = { "a", "b", "c", "d", "e" };  /* exits have 4 */
  gguf_writer_add_array_string (w, "beenet.labels", five, 5);
  EXPECT (w, BEENET_ERROR_CORRUPT, "exit");
  w = base_writer ();
  gguf_writer_remove (w, "beenet.labels");
  const char *empty[] = { "a", "", "c", "d" };
  gguf_writer_add_array_string (w, "beenet.labels", empty, 4);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.labels[1]");
  w = base_writer ();
  gguf_writer_remove (w, "beenet.labels");
  const char *bad_utf8[] = { "a", "b", "\xff\xfe", "d" };
  gguf_writer_add_array_string (w, "beenet.labels", bad_utf8, 4);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.labels[2]");
  w = base_writer ();
  gguf_writer_remove (w, "beenet.labels");
  const char *utf8[] = { "ja", "n\xc3\xa4in", "\xe2\x82\xac", "d" };
  gguf_writer_add_array_string (w, "beenet.labels", utf8, 4);
  EXPECT (w, BEENET_OK, NULL);
  /* Front-end ranges. */
  w = base_writer ();
  gguf_writer_replace_f32 (w, "beenet.frontend.fmax", 9000.0f);
  EXPECT (w, BEENET_ERROR_CORRUPT, "fmax");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.frontend.fft_size", 500);
  EXPECT (w, BEENET_ERROR_CORRUPT, "fft_size");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.frontend.n_frames", 99);
  EXPECT (w, BEENET_ERROR_CORRUPT, "n_frames");
  w = base_writer ();
  gguf_writer_replace_f32 (w, "beenet.frontend.log_floor", NAN);
  EXPECT (w, BEENET_ERROR_CORRUPT, "log_floor");
  w = base_writer ();   /* n_mels must match frontend.mean etc. */
  gguf_writer_replace_u32 (w, "beenet.frontend.n_mels", 40);
  EXPECT (w, BEENET_ERROR_CORRUPT, "frontend.mean");
  /* Policy / threshold. */
  w = base_writer ();
  gguf_writer_replace_string (w, "beenet.policy", "fastest");
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.policy");
  w = base_writer ();
  gguf_writer_replace_string (w, "beenet.policy", "max-probability");
  gguf_writer_replace_f32 (w, "beenet.threshold", 1.5f);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.threshold");
  w = base_writer ();
  gguf_writer_replace_f32 (w, "beenet.threshold", INFINITY);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.threshold");
  /* Counts. */
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.node_count", 0);
  EXPECT (w, BEENET_ERROR_CORRUPT, "node_count");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.node_count", 5000);
  EXPECT (w, BEENET_ERROR_CORRUPT, "node_count");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.node_count", 13);   /* node 12 absent */
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.node.12.op");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.node_count", 11);   /* last = dense */
  EXPECT (w, BEENET_ERROR_CORRUPT, "must be an exit");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.exit_count", 2);
  EXPECT (w, BEENET_ERROR_CORRUPT, "exit_count");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.exit_count", 4);
  EXPECT (w, BEENET_ERROR_CORRUPT, "exit_count");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.exit_count", 0);
  EXPECT (w, BEENET_ERROR_CORRUPT, "exit_count");
}
END_TEST

static void
replace_labels (GgufWriter *w, const char *const *labels)
{
  gguf_writer_remove (w, "beenet.labels");
  gguf_writer_add_array_string (w, "beenet.labels", labels, 4);
}

static void
expect_keywords (BeenetModel *m, int k0, int k1, int k2, int k3)
{
  const int want[4] = { k0, k1, k2, k3 };
  for (size_t i = 0; i < 4; i++)
    ck_assert_msg (beenet_model_is_keyword (m, i) == want[i],
        "class %zu: is_keyword %d, expected %d", i,
        beenet_model_is_keyword (m, i), want[i]);
  ck_assert_int_eq (beenet_model_is_keyword (m, 4), 0);
  beenet_model_unref (m);
}

/* beenet.keywords and beenet.detection.*: optional, defaults when absent,
 * strictly validated when present. */
START_TEST (test_detection_keys)
{
  static const char *const kws[4] = { "_silence_", "_unknown_", "yes", "no" };
  BeenetDetectorParams p;
  BeenetModel *m;
  GgufWriter *w;

  /* No keys (every model before them): labels decide, built-in params. */
  m = writer_load_ok (base_writer ());
  beenet_detector_params_default (m, &p);
  ck_assert (p.threshold == BEENET_DETECTOR_DEFAULT_THRESHOLD);
  ck_assert (p.smoothing_ms == BEENET_DETECTOR_DEFAULT_SMOOTHING_MS);
  ck_assert (p.refractory_ms == BEENET_DETECTOR_DEFAULT_REFRACTORY_MS);
  ck_assert_uint_eq (p.min_windows, BEENET_DETECTOR_DEFAULT_MIN_WINDOWS);
  ck_assert (0.7 == BEENET_DETECTOR_DEFAULT_THRESHOLD);
  ck_assert (500.0 == BEENET_DETECTOR_DEFAULT_SMOOTHING_MS);
  ck_assert (1000.0 == BEENET_DETECTOR_DEFAULT_REFRACTORY_MS);
  char *desc = beenet_model_describe (m);
  ck_assert_ptr_nonnull (strstr (desc, "keywords: class0, class1, class2, "
          "class3\n"));
  ck_assert_ptr_nonnull (strstr (desc, "detection: threshold 0.7, "
          "smoothing 500 ms, refractory 1000 ms, min windows 1, a window "
          "every 500 ms\n"));
  ck_assert (beenet_model_interval_ms (m) == BEENET_DEFAULT_INTERVAL_MS);
  ck_assert (500.0 == BEENET_DEFAULT_INTERVAL_MS);
  ck_assert (beenet_model_interval_ms (NULL) == 0.0);
  /* no refined windows unless the model says */
  ck_assert (beenet_model_refine_level (m) == BEENET_REFINE_OFF);
  ck_assert (beenet_model_refine_level (NULL) == BEENET_REFINE_OFF);
  ck_assert_ptr_null (strstr (desc, "refined windows"));
  const float probs[4] = { 0.1f, 0.6f, 0.25f, 0.05f };
  ck_assert (beenet_model_keyword_peak (m, probs, 4) == 0.6f);
  ck_assert (beenet_model_keyword_peak (NULL, probs, 4) == 0.0);
  ck_assert (beenet_model_keyword_peak (m, NULL, 4) == 0.0);
  free (desc);
  expect_keywords (m, 1, 1, 1, 1);
  BeenetDetectorParams q;
  beenet_detector_params_default (NULL, &q);
  ck_assert (p.threshold == q.threshold && p.smoothing_ms == q.smoothing_ms
      && p.refractory_ms == q.refractory_ms
      && p.min_windows == q.min_windows);
  ck_assert_int_eq (beenet_model_is_keyword (NULL, 0), 0);

  w = base_writer ();
  replace_labels (w, kws);
  m = writer_load_ok (w);
  /* the peak is over keyword classes only (2 and 3 here) */
  ck_assert (beenet_model_keyword_peak (m, probs, 4) == 0.25f);
  expect_keywords (m, 0, 0, 1, 1);

  /* Explicit list wins over the labels, even for '_' labels. */
  w = base_writer ();
  replace_labels (w, kws);
  const uint32_t list[2] = { 3, 1 };
  gguf_writer_add_array_u32 (w, "beenet.keywords", list, 2);
  expect_keywords (writer_load_ok (w), 0, 1, 0, 1);
  w = base_writer ();
  gguf_writer_add_array_u32 (w, "beenet.keywords", list, 0);
  expect_keywords (writer_load_ok (w), 0, 0, 0, 0);

  /* Detection defaults from the model (f32 keys). */
  w = base_writer ();
  gguf_writer_add_f32 (w, "beenet.detection.threshold", 0.625f);
  gguf_writer_add_f32 (w, "beenet.detection.smoothing_ms", 250.0f);
  gguf_writer_add_f32 (w, "beenet.detection.refractory_ms", 1500.5f);
  gguf_writer_add_u32 (w, "beenet.detection.min_windows", 3);
  gguf_writer_add_f32 (w, "beenet.detection.interval_ms", 250.0f);
  gguf_writer_add_f32 (w, "beenet.detection.refine_level", 0.25f);
  m = writer_load_ok (w);
  ck_assert (beenet_model_interval_ms (m) == 250.0);
  ck_assert (beenet_model_refine_level (m) == 0.25);
  desc = beenet_model_describe (m);
  ck_assert_ptr_nonnull (strstr (desc, ", a window every 250 ms\n"));
  ck_assert_ptr_nonnull (strstr (desc, "refined windows: one more half an "
          "interval after a window whose likeliest keyword has probability "
          "> 0.25\n"));
  free (desc);
  beenet_detector_params_default (m, &p);
  ck_assert (p.threshold == 0.625);
  ck_assert (p.smoothing_ms == 250.0);
  ck_assert (p.refractory_ms == 1500.5);
  ck_assert_uint_eq (p.min_windows, 3);
  beenet_model_unref (m);
  /* One key only: the others keep the built-in defaults; range ends. */
  w = base_writer ();
  gguf_writer_add_f32 (w, "beenet.detection.threshold", 1.0f);
  gguf_writer_add_f32 (w, "beenet.detection.smoothing_ms", 0.0f);
  m = writer_load_ok (w);
  beenet_detector_params_default (m, &p);
  ck_assert (p.threshold == 1.0 && p.smoothing_ms == 0.0);
  ck_assert (p.refractory_ms == BEENET_DETECTOR_DEFAULT_REFRACTORY_MS);
  beenet_model_unref (m);

  /* Bad keywords. */
  w = base_writer ();
  const int32_t ilist[1] = { 2 };
  gguf_writer_add_array_i32 (w, "beenet.keywords", ilist, 1);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.keywords");
  w = base_writer ();
  gguf_writer_add_u32 (w, "beenet.keywords", 2);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.keywords");
  w = base_writer ();
  const uint32_t out_of_range[2] = { 0, 4 };
  gguf_writer_add_array_u32 (w, "beenet.keywords", out_of_range, 2);
  EXPECT (w, BEENET_ERROR_CORRUPT, "class 4 out of range");
  w = base_writer ();
  const uint32_t twice[3] = { 1, 2, 1 };
  gguf_writer_add_array_u32 (w, "beenet.keywords", twice, 3);
  EXPECT (w, BEENET_ERROR_CORRUPT, "class 1 listed twice");
  w = base_writer ();
  const uint32_t five[5] = { 0, 1, 2, 3, 0 };
  gguf_writer_add_array_u32 (w, "beenet.keywords", five, 5);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.keywords");

  /* Bad detection values: type, range, NaN. */
  static const struct {
    const char *key;
    float v;
    const char *needle;
  } bad_f32[] = {
    { "beenet.detection.threshold", 0.0f, "beenet.detection.threshold = 0" },
    { "beenet.detection.threshold", 1.5f, "beenet.detection.threshold" },
    { "beenet.detection.threshold", -0.5f, "beenet.detection.threshold" },
    { "beenet.detection.threshold", NAN, "not finite" },
    { "beenet.detection.smoothing_ms", -1.0f, "beenet.detection.smoothing_ms" },
    { "beenet.detection.smoothing_ms", 10001.0f, "out of range [0, 10000]" },
    { "beenet.detection.smoothing_ms", INFINITY, "not finite" },
    { "beenet.detection.interval_ms", 9.5f, "outside [10, 10000]" },
    { "beenet.detection.interval_ms", 10001.0f, "beenet.detection.interval_ms" },
    { "beenet.detection.interval_ms", NAN, "not finite" },
    { "beenet.detection.refine_level", -0.5f, "refine_level -0.5 is outside [0, 1]" },
    { "beenet.detection.refine_level", 1.5f, "beenet.detection.refine_level" },
    { "beenet.detection.refine_level", NAN, "not finite" },
    { "beenet.detection.refractory_ms", 60001.0f, "beenet.detection.refractory_ms" },
    { "beenet.detection.refractory_ms", -0.5f, "beenet.detection.refractory_ms" },
  };
  for (size_t i = 0; i < sizeof bad_f32 / sizeof bad_f32[0]; i++) {
    w = base_writer ();
    gguf_writer_add_f32 (w, bad_f32[i].key, bad_f32[i].v);
    EXPECT (w, BEENET_ERROR_CORRUPT, bad_f32[i].needle);
  }
  w = base_writer ();
  gguf_writer_add_u32 (w, "beenet.detection.threshold", 1);
  EXPECT (w, BEENET_ERROR_CORRUPT, "key 'beenet.detection.threshold' has type");
  w = base_writer ();
  gguf_writer_add_u32 (w, "beenet.detection.min_windows", 0);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.detection.min_windows = 0");
  w = base_writer ();
  gguf_writer_add_u32 (w, "beenet.detection.min_windows", 1025);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.detection.min_windows");
  w = base_writer ();
  gguf_writer_add_f32 (w, "beenet.detection.min_windows", 2.0f);
  EXPECT (w, BEENET_ERROR_CORRUPT, "key 'beenet.detection.min_windows' has type");
}
END_TEST

START_TEST (test_bad_graph)
{
  GgufWriter *w;
  /* Ops. */
  w = base_writer ();
  gguf_writer_replace_string (w, "beenet.node.1.op", "softmax2d");
  EXPECT (w, BEENET_ERROR_UNSUPPORTED, "unknown op 'softmax2d'");
  w = base_writer ();
  gguf_writer_replace_string (w, "beenet.node.1.op", "global_maxpool");
  EXPECT (w, BEENET_ERROR_UNSUPPORTED, "reserved op 'global_maxpool'");
  /* Version-2 ops and grouped bconv2d in a version-1 file. */
  w = base_writer ();
  gguf_writer_replace_string (w, "beenet.node.1.op", "concat");
  EXPECT (w, BEENET_ERROR_UNSUPPORTED, "'concat' needs format version 2");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.node.4.groups", 2);
  EXPECT (w, BEENET_ERROR_UNSUPPORTED, "beenet.node.4.groups");
  w = base_writer ();
  gguf_writer_replace_string (w, "beenet.node.0.activation", "gelu");
  EXPECT (w, BEENET_ERROR_UNSUPPORTED, "beenet.node.0.activation");
  /* Inputs: forward reference, negative, wrong arity. */
  int32_t in[2] = { 5, 0 };
  w = base_writer ();
  gguf_writer_remove (w, "beenet.node.4.inputs");
  gguf_writer_add_array_i32 (w, "beenet.node.4.inputs", in, 1);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.node.4.inputs");
  in[0] = -1;
  w = base_writer ();
  gguf_writer_remove (w, "beenet.node.4.inputs");
  gguf_writer_add_array_i32 (w, "beenet.node.4.inputs", in, 1);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.node.4.inputs");
  in[0] = 1; in[1] = 1;
  w = base_writer ();
  gguf_writer_remove (w, "beenet.node.4.inputs");
  gguf_writer_add_array_i32 (w, "beenet.node.4.inputs", in, 2);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.node.4.inputs");
  /* Window parameters. */
  uint32_t two[2] = { 0, 3 };
  w = base_writer ();
  gguf_writer_remove (w, "beenet.node.0.stride");
  gguf_writer_add_array_u32 (w, "beenet.node.0.stride", two, 2);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.node.0.stride");
  w = base_writer ();
  gguf_writer_remove (w, "beenet.node.0.kernel");
  gguf_writer_add_array_u32 (w, "beenet.node.0.kernel", two + 1, 1);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.node.0.kernel");
  two[0] = 200; two[1] = 3;     /* kernel taller than the padded input */
  w = base_writer ();
  gguf_writer_remove (w, "beenet.node.0.kernel");
  gguf_writer_add_array_u32 (w, "beenet.node.0.kernel", two, 2);
  EXPECT (w, BEENET_ERROR_CORRUPT, "kernel");
  two[0] = 1u << 30; two[1] = 1;
  w = base_writer ();
  gguf_writer_remove (w, "beenet.node.0.padding");
  gguf_writer_add_array_u32 (w, "beenet.node.0.padding", two, 2);
  EXPECT (w, BEENET_ERROR_CORRUPT, "beenet.node.0.padding");
  /* Exit fed by a non-logits activation. */
  in[0] = 1;
  w = base_writer ();
  gguf_writer_remove (w, "beenet.node.3.inputs");
  gguf_writer_add_array_i32 (w, "beenet.node.3.inputs", in, 1);
  EXPECT (w, BEENET_ERROR_CORRUPT, "exit");
  /* Groups must divide channels; out_channels must match weights. */
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.node.0.groups", 3);
  EXPECT (w, BEENET_ERROR_CORRUPT, "groups");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.node.0.out_channels", 9);
  EXPECT (w, BEENET_ERROR_CORRUPT, "node.0.weight");
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.node.2.out_channels", 0);
  EXPECT (w, BEENET_ERROR_CORRUPT, "out_channels");
  /* Huge output: activation size limit. */
  w = base_writer ();
  gguf_writer_replace_u32 (w, "beenet.node.0.out_channels", 60000);
  EXPECT (w, BEENET_ERROR_CORRUPT, "output shape");

  /* Tensors: shape, type, values, tail bits. */
  w = base_writer ();
  {
    const uint64_t ne[4] = { 1, 3, 3, 8 };
    gguf_writer_remove_tensor (w, "node.0.weight");
    gguf_writer_add_tensor (w, "node.0.weight", 26, 4, ne, NULL);
  }
  EXPECT (w, BEENET_ERROR_CORRUPT, "'node.0.weight' has type I32");
  w = base_writer ();
  {
    const uint64_t ne[4] = { 1, 3, 3, 7 };
    gguf_writer_remove_tensor (w, "node.0.weight");
    gguf_writer_add_tensor_f32 (w, "node.0.weight", 4, ne, NULL);
  }
  EXPECT (w, BEENET_ERROR_CORRUPT, "'node.0.weight' has shape");
  w = base_writer ();
  {
    const uint64_t ne[2] = { 8, 4 };   /* transposed dims of a 1x8 */
    gguf_writer_remove_tensor (w, "node.4.scale");
    gguf_writer_add_tensor_f32 (w, "node.4.scale", 2, ne, NULL);
  }
  EXPECT (w, BEENET_ERROR_CORRUPT, "node.4.scale");
  w = base_writer ();
  {
    uint64_t n;
    float *sc = gguf_writer_tensor_data (w, "node.2.scale", &n);
    sc[1] = NAN;
  }
  EXPECT (w, BEENET_ERROR_CORRUPT, "node.2.scale");
  w = base_writer ();
  {
    uint64_t n;
    float *mean = gguf_writer_tensor_data (w, "frontend.inv_std", &n);
    mean[63] = INFINITY;
  }
  EXPECT (w, BEENET_ERROR_CORRUPT, "frontend.inv_std");
  /* bconv2d 8 -> 8: bits 8..31 of every word must be zero. */
  for (int bit = 8; bit < 32; bit += 23) {
    w = base_writer ();
    uint64_t n;
    uint32_t *wb = gguf_writer_tensor_data (w, "node.4.weight", &n);
    ck_assert_uint_eq (n, 9 * 8);
    wb[n - 1] |= 1u << bit;
    EXPECT (w, BEENET_ERROR_CORRUPT, "node.4.weight");
  }
  w = base_writer ();   /* a used bit may be anything */
  {
    uint64_t n;
    uint32_t *wb = gguf_writer_tensor_data (w, "node.4.weight", &n);
    wb[5] ^= 0x80u;
  }
  EXPECT (w, BEENET_OK, NULL);
}
END_TEST

START_TEST (test_binary_tail_bdense)
{
  /* bdense tail bits: Cin = 8 (global pool of 8 channels) -> 1 word. */
  TestModel *m = test_model_new (3);
  int x = test_model_conv2d (m, 0, 3, 3, 2, 2, 1, 1, 1, 8, 1, NULL, NULL, NULL);
  int g = test_model_global_avgpool (m, x);
  int d = test_model_bdense (m, g, 3, 0, NULL, NULL, NULL);
  test_model_exit (m, d);
  GgufWriter *w = test_model_finish (m);
  uint64_t n;
  uint32_t *wb = gguf_writer_tensor_data (w, "node.2.weight", &n);
  ck_assert_uint_eq (n, 3);
  wb[2] |= 1u << 8;
  EXPECT (w, BEENET_ERROR_CORRUPT, "node.2.weight");
}
END_TEST

static Suite *
load_suite (void)
{
  Suite *s = suite_create ("model-load");
  TCase *tc = tcase_create ("core");
  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_valid_metadata);
  tcase_add_test (tc, test_load_file);
  tcase_add_test (tc, test_truncate_every_length);
  tcase_add_test (tc, test_corrupt_bytes);
  tcase_add_test (tc, test_header_and_counts);
  tcase_add_test (tc, test_bad_values);
  tcase_add_test (tc, test_missing_keys);
  tcase_add_test (tc, test_bad_keys);
  tcase_add_test (tc, test_task_architecture);
  tcase_add_test (tc, test_detection_keys);
  tcase_add_test (tc, test_bad_graph);
  tcase_add_test (tc, test_binary_tail_bdense);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return check_run_suite (load_suite ());
}
