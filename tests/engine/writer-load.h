/* Loading a hand-built model writer in an engine test: serialise, load from
 * memory, fail the running Check test on error.  Internal to tests/engine. */
#ifndef BEENET_TEST_WRITER_LOAD_H
#define BEENET_TEST_WRITER_LOAD_H

#include "beenet.h"
#include "gguf-writer.h"

#include <check.h>
#include <stdlib.h>

/* The model w describes (w is freed); the test fails if it does not load. */
static inline BeenetModel *
writer_load_ok (GgufWriter *w)
{
  size_t size;
  uint8_t *b = gguf_writer_serialize (w, &size);
  gguf_writer_free (w);
  BeenetModel *m = NULL;
  BeenetError e;
  ck_assert_msg (beenet_model_load_memory (b, size, &m, &e) == BEENET_OK,
      "%s", e.message);
  free (b);
  return m;
}

#endif
