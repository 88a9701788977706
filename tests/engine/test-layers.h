/* Helpers shared by the engine tests: run layers through the public API
 * and read an activation back exactly.
 *
 * A layer test model is: activation 0 = features (H x W x 1; normalisation
 * mean 0 / inv_std 1, so activation 0 equals the features bit for bit) ->
 * the nodes under test -> dense with an identity weight matrix (scale 1,
 * bias 0: every product is 0*x or 1*x, so the copy is exact) -> exit.
 * run_all_exits() then returns the activation as the exit's logits. */
#ifndef TEST_LAYERS_H
#define TEST_LAYERS_H

#include "beenet.h"
#include "test-models.h"

#include <check.h>
#include <stdlib.h>

/* Append identity dense + exit reading `act`, finish m (consumed), load it,
 * run `features` and copy the activation (h*w*c values) into out.  Returns
 * the number of values. */
static inline size_t
layer_run (TestModel *m, int act, const float *features, float *out)
{
  unsigned h, w, c;
  ck_assert_int_ge (act, 0);
  ck_assert_int_eq (test_model_shape (m, act, &h, &w, &c), 0);
  const size_t k = (size_t) h * w * c;
  ck_assert_msg (k >= 2 && k <= 1024, "layer output size %zu not in 2..1024", k);
  ck_assert_int_eq (test_model_set_num_classes (m, (unsigned) k), 0);
  float *eye = calloc (k * k, sizeof (float));
  float *ones = malloc (k * sizeof (float));
  float *zeros = calloc (k, sizeof (float));
  for (size_t i = 0; i < k; i++) {
    eye[i * k + i] = 1.0f;
    ones[i] = 1.0f;
  }
  int d = test_model_dense (m, act, (unsigned) k, 0, eye, ones, zeros);
  ck_assert_int_ge (d, 0);
  ck_assert_int_ge (test_model_exit (m, d), 0);
  free (eye); free (ones); free (zeros);

  size_t size;
  uint8_t *bytes = test_model_finish_bytes (m, &size);
  BeenetModel *model = NULL;
  BeenetSession *s = NULL;
  BeenetError err;
  ck_assert_msg (beenet_model_load_memory (bytes, size, &model, &err) == BEENET_OK,
      "load failed: %s", err.message);
  free (bytes);
  ck_assert_uint_eq (beenet_model_num_classes (model), k);
  ck_assert_int_eq (beenet_session_new (model, &s, &err), BEENET_OK);
  ck_assert_msg (beenet_session_run_all_exits (s, features, out, &err) == BEENET_OK,
      "run failed: %s", err.message);
  beenet_session_free (s);
  beenet_model_unref (model);
  return k;
}

#endif
