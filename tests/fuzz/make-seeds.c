/* Writes the seed corpora of the fuzz harnesses (tests/fuzz/run.sh):
 *   OUTDIR/model/  small models from tests/common (every op type, both
 *                  policies, detection keys, small feature maps)
 *   OUTDIR/wav/    small WAV files (PCM16 / float32, mono / stereo,
 *                  WAVE_FORMAT_EXTENSIBLE, extra chunks, truncated data)
 *   OUTDIR/element/ action scripts of fuzz-element
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf-writer.h"
#include "test-models.h"

static int
write_file (const char *dir, const char *sub, const char *name,
    const void *bytes, size_t size)
{
  char path[4096];
  FILE *f;

  snprintf (path, sizeof path, "%s/%s/%s", dir, sub, name);
  f = fopen (path, "wb");
  if (f == NULL || fwrite (bytes, 1, size, f) != size || fclose (f) != 0) {
    perror (path);
    return -1;
  }
  return 0;
}

static int
write_model (const char *dir, const char *name, uint8_t * bytes, size_t size)
{
  int rc = bytes ? write_file (dir, "model", name, bytes, size) : -1;

  free (bytes);
  return rc;
}

/* Every op type on a small (20 x 16) feature map, two exits. */
static uint8_t *
ops_model (size_t *size)
{
  TestModel *m = test_model_new_with_shape (3, 20, 16);
  int a, b, c, e;

  a = test_model_conv2d (m, 0, 3, 3, 2, 2, 1, 1, 1, 8, 1, NULL, NULL, NULL);
  b = test_model_bconv2d (m, a, 3, 3, 1, 1, 1, 1, 8, 0, NULL, NULL, NULL);
  c = test_model_add (m, a, b, 1);
  e = test_model_exit (m, test_model_dense (m,
          test_model_global_avgpool (m, c), 3, 0, NULL, NULL, NULL));
  a = test_model_maxpool (m, c, 2, 2, 2, 2, 0, 0);
  a = test_model_avgpool (m, a, 2, 2, 1, 1, 0, 0);
  a = test_model_conv2d (m, a, 1, 1, 1, 1, 0, 0, 8, 8, 0, NULL, NULL, NULL);
  a = test_model_bdense (m, test_model_global_avgpool (m, a), 3, 0, NULL,
      NULL, NULL);
  if (e < 0 || test_model_exit (m, a) < 0) {
    test_model_free (m);
    return NULL;
  }
  test_model_set_policy (m, "max-probability", 0.9f);
  return test_model_finish_bytes (m, size);
}

static uint8_t *
detection_model (size_t *size)
{
  static const char *const labels[] = { "_silence", "yes", "no", "_noise" };
  GgufWriter *w = test_models_level_writer (labels);
  uint8_t *bytes;

  gguf_writer_add_f32 (w, "beenet.detection.threshold", 0.8f);
  gguf_writer_add_f32 (w, "beenet.detection.smoothing_ms", 300.f);
  gguf_writer_add_f32 (w, "beenet.detection.refractory_ms", 700.f);
  gguf_writer_add_u32 (w, "beenet.detection.min_windows", 2);
  bytes = gguf_writer_serialize (w, size);
  gguf_writer_free (w);
  return bytes;
}

static int
write_models (const char *dir)
{
  static const float logits1[] = { 0.f, 1.f };
  static const float logits3[] = { 0.f, 1.f, 2.f, 5.f, 0.f, 0.f, 0.f, 0.f,
    9.f
  };
  size_t size = 0;
  int rc = 0;

  rc |= write_model (dir, "constant-1x2.gguf",
      test_models_constant_exits (1, 2, logits1, &size), size);
  rc |= write_model (dir, "constant-3x3.gguf",
      test_models_constant_exits (3, 3, logits3, &size), size);
  rc |= write_model (dir, "ops.gguf", ops_model (&size), size);
  rc |= write_model (dir, "detection.gguf", detection_model (&size), size);
  return rc;
}

static size_t
put32 (uint8_t * p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (8 * i));
  return 4;
}

static size_t
put16 (uint8_t * p, uint16_t v)
{
  p[0] = (uint8_t) v;
  p[1] = (uint8_t) (v >> 8);
  return 2;
}

/* A WAV of `frames` frames; `extensible` writes a 40-byte fmt chunk, `junk`
 * a LIST chunk of odd size before the data, `claim` > 0 overrides the data
 * size field (a streamed WAV claims more than it holds). */
static size_t
make_wav (uint8_t * buf, uint16_t tag, uint16_t channels, uint16_t bits,
    uint32_t frames, int extensible, int junk, uint32_t claim)
{
  uint16_t align = (uint16_t) (channels * bits / 8);
  uint32_t data = frames * align;
  size_t o = 0;

  memcpy (buf + o, "RIFF", 4), o += 4;
  o += put32 (buf + o, 0);      /* patched below */
  memcpy (buf + o, "WAVEfmt ", 8), o += 8;
  o += put32 (buf + o, extensible ? 40 : 16);
  o += put16 (buf + o, extensible ? 0xFFFE : tag);
  o += put16 (buf + o, channels);
  o += put32 (buf + o, 16000);
  o += put32 (buf + o, 16000u * align);
  o += put16 (buf + o, align);
  o += put16 (buf + o, bits);
  if (extensible) {
    o += put16 (buf + o, 22);
    o += put16 (buf + o, bits);
    o += put32 (buf + o, channels == 1 ? 4 : 3);
    o += put16 (buf + o, tag);
    memcpy (buf + o, "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b"
        "\x71", 14), o += 14;
  }
  if (junk) {
    memcpy (buf + o, "LIST", 4), o += 4;
    o += put32 (buf + o, 5);
    memcpy (buf + o, "INFOx\0", 6), o += 6;
  }
  memcpy (buf + o, "data", 4), o += 4;
  o += put32 (buf + o, claim ? claim : data);
  for (uint32_t i = 0; i < data; i++)
    buf[o++] = (uint8_t) (i * 37u + 11u);
  put32 (buf + 4, (uint32_t) (o - 8));
  return o;
}

static int
write_wavs (const char *dir)
{
  static uint8_t buf[4096];
  int rc = 0;

  rc |= write_file (dir, "wav", "s16-mono.wav", buf,
      make_wav (buf, 1, 1, 16, 64, 0, 0, 0));
  rc |= write_file (dir, "wav", "f32-stereo.wav", buf,
      make_wav (buf, 3, 2, 32, 32, 0, 0, 0));
  rc |= write_file (dir, "wav", "ext-s16-3ch.wav", buf,
      make_wav (buf, 1, 3, 16, 16, 1, 0, 0));
  rc |= write_file (dir, "wav", "list-f32.wav", buf,
      make_wav (buf, 3, 1, 32, 16, 0, 1, 0));
  rc |= write_file (dir, "wav", "streamed-s16.wav", buf,
      make_wav (buf, 1, 2, 16, 8, 0, 0, 0xFFFFFFFFu));
  return rc;
}

/* Action scripts of fuzz-element: a caps byte, then actions (see
 * fuzz-element.c): buffers of 8000 bytes (a 0.25 s S16 mono chunk) with
 * timestamps and flags, a property change, a flush, an EOS. */
static int
write_element_scripts (const char *dir)
{
  static const uint8_t pushes[] = { 0x00,
    0x00, 0x01, 0x1f, 0x40, 0x00, 0x00, 0x00,
    0x00, 0x03, 0x1f, 0x40, 0x00, 0x00, 0x10,
    0x02, 0x04, 0x10, 0x00, 0x04, 0x1f, 0x40, 0x03, 0x03
  };
  static const uint8_t f32_stereo[] = { 0x11,
    0x01, 0x00, 0x1f, 0x40, 0x03, 0x00, 0x00, 0x1f, 0x40,
    0x02, 0x02, 0x80, 0x00, 0x00, 0x1f, 0x40, 0x03, 0x01, 0x00, 0x10, 0x05
  };
  static const uint8_t refused[] = { 0x04, 0x00, 0x00, 0x00, 0x40, 0x03,
    0x04, 0x01, 0x00, 0x00, 0x1f, 0x40
  };
  int rc = 0;

  rc |= write_file (dir, "element", "pushes", pushes, sizeof pushes);
  rc |= write_file (dir, "element", "f32-stereo", f32_stereo,
      sizeof f32_stereo);
  rc |= write_file (dir, "element", "refused", refused, sizeof refused);
  return rc;
}

int
main (int argc, char **argv)
{
  if (argc != 2) {
    fprintf (stderr, "usage: %s OUTDIR (with OUTDIR/model, OUTDIR/wav and "
        "OUTDIR/element)\n", argv[0]);
    return 2;
  }
  return (write_models (argv[1]) | write_wavs (argv[1])
      | write_element_scripts (argv[1])) ? 1 : 0;
}
