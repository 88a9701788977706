/* libFuzzer harness of beenet-classify's WAV reader (tools/beenet-wav.c):
 * bytes -> beenet_wav_parse -> beenet_wav_to_mono.
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
  volatile gfloat sink = 0.f;

  if (!beenet_wav_parse (data, size, &info, &why)) {
    g_free (why);
    return 0;
  }
  mono = beenet_wav_to_mono (&info);
  for (gsize i = 0; i < info.frames; i++)
    sink += mono[i];
  (void) sink;
  g_free (mono);
  return 0;
}
