/* Writes the constant-exit test model (3 exits, 2 classes) to argv[1], for
 * the shell-level tests.  SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "test-models.h"

int
main (int argc, char **argv)
{
  static const float logits[] = { 0.f, 1.f, 10.f, 0.f, 0.f, 3.f };
  size_t size = 0;
  unsigned char *bytes;
  FILE *f;

  if (argc != 2) {
    fprintf (stderr, "usage: %s OUT.gguf\n", argv[0]);
    return 2;
  }
  bytes = test_models_constant_exits (3, 2, logits, &size);
  f = fopen (argv[1], "wb");
  if (bytes == NULL || f == NULL || fwrite (bytes, 1, size, f) != size ||
      fclose (f) != 0) {
    perror (argv[1]);
    return 1;
  }
  free (bytes);
  return 0;
}
