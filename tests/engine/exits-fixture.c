/* Shared set-up of the policy tests (see exits-fixture.h). */
#include "check-main.h"
#include "exits-fixture.h"
#include "gguf-writer.h"
#include "test-models.h"

#include <stdlib.h>
#include <string.h>

BeenetStatus
exits_model_load_with (const float *logits, unsigned n_exits,
    unsigned n_classes, const float *factors, const char *policy,
    ExitsExtraKeys extra, const void *data, BeenetModel **out,
    BeenetError *err)
{
  GgufWriter *w = test_models_constant_exits_writer (n_exits, n_classes,
      logits);
  ck_assert_ptr_nonnull (w);
  if (factors)
    gguf_writer_add_array_f32 (w, EXITS_FACTORS_KEY, factors, n_exits);
  if (extra)
    extra (w, data);
  if (policy) {
    gguf_writer_replace_string (w, "beenet.policy", policy);
    gguf_writer_replace_f32 (w, "beenet.threshold", 1.0f);
  }
  size_t size;
  uint8_t *b = gguf_writer_serialize (w, &size);
  BeenetStatus st = beenet_model_load_memory (b, size, out, err);
  free (b);
  gguf_writer_free (w);
  return st;
}

BeenetStatus
exits_model_load (const float *logits, unsigned n_exits, unsigned n_classes,
    const float *factors, const char *policy, BeenetModel **out,
    BeenetError *err)
{
  return exits_model_load_with (logits, n_exits, n_classes, factors, policy,
      NULL, NULL, out, err);
}

Fixture
exits_fixture_with (const float *logits, unsigned n_exits,
    unsigned n_classes, const float *factors, ExitsExtraKeys extra,
    const void *data)
{
  Fixture f;
  BeenetError err;
  ck_assert_msg (exits_model_load_with (logits, n_exits, n_classes, factors,
          NULL, extra, data, &f.model, &err) == BEENET_OK, "%s", err.message);
  ck_assert_int_eq (beenet_session_new (f.model, &f.session, &err), BEENET_OK);
  f.features = calloc (98 * 64, sizeof (float));
  return f;
}

Fixture
exits_fixture (const float *logits, unsigned n_exits, unsigned n_classes,
    const float *factors)
{
  return exits_fixture_with (logits, n_exits, n_classes, factors, NULL, NULL);
}

void
fixture_free (Fixture *f)
{
  beenet_session_free (f->session);
  beenet_model_unref (f->model);
  free (f->features);
}

BeenetResult
fixture_run (Fixture *f, const BeenetPolicyParams *p)
{
  BeenetResult r;
  BeenetError err;
  memset (&r, 0, sizeof r);
  ck_assert_msg (beenet_session_classify_features_params (f->session,
          f->features, p, &r, &err) == BEENET_OK, "%s", err.message);
  return r;
}

int
exits_run_suite (Suite *s)
{
  return check_run_suite (s);
}
