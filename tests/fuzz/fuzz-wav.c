/* libFuzzer harness of beenet-classify's WAV reader (tools/beenet-wav.c):
 * bytes -> beenet_wav_parse -> beenet_wav_read_mono (GstAudioConverter to
 * 16 kHz mono).
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#include <stdint.h>

#include "beenet-wav.h"

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  BeenetWavInfo info;
  gchar *why = NULL;
  gfloat *mono;
  gsize n = 0;
  volatile gfloat sink = 0.f;

  if (!beenet_wav_parse (data, size, &info, &why)) {
    g_free (why);
    return 0;
  }
  mono = beenet_wav_read_mono (&info, 16000, &n, &why);
  if (mono == NULL) {
    g_free (why);
    return 0;
  }
  for (gsize i = 0; i < n; i++)
    sink += mono[i];
  (void) sink;
  g_free (mono);
  return 0;
}
