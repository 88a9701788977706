/* Shared set-up of the policy tests (test-policy.c, test-class-exclusion.c,
 * test-eenet.c):
 * a session on a hand-made network whose exits output fixed logits
 * (test_models_constant_exits_writer), and a Check main.  Every helper fails
 * the running Check test on error.  Internal to tests/engine. */
#ifndef BEENET_TEST_EXITS_FIXTURE_H
#define BEENET_TEST_EXITS_FIXTURE_H

#include "beenet.h"
#include "gguf-writer.h"

#include <check.h>

#define EXITS_FACTORS_KEY "beenet.class_exclusion.factors"

typedef struct {
  BeenetModel *model;
  BeenetSession *session;
  float *features;              /* one window of zero features */
} Fixture;

/* Loads the network of n_exits x n_classes logits.  factors: the
 * class-exclusion factors key (one per exit), NULL for none; policy: the
 * file's default policy with threshold 1, NULL to keep the writer's. */
BeenetStatus exits_model_load (const float *logits, unsigned n_exits,
    unsigned n_classes, const float *factors, const char *policy,
    BeenetModel **out, BeenetError *err);
/* Adds metadata keys of a test's own to the network's writer (data is the
 * test's, passed through). */
typedef void (*ExitsExtraKeys) (GgufWriter *w, const void *data);
/* The same with extra (data) adding keys after the factors; extra may be
 * NULL. */
BeenetStatus exits_model_load_with (const float *logits, unsigned n_exits,
    unsigned n_classes, const float *factors, const char *policy,
    ExitsExtraKeys extra, const void *data, BeenetModel **out,
    BeenetError *err);
/* That network (no policy key change) with a session on it. */
Fixture exits_fixture (const float *logits, unsigned n_exits,
    unsigned n_classes, const float *factors);
/* The same with extra (data) adding keys after the factors; extra may be
 * NULL. */
Fixture exits_fixture_with (const float *logits, unsigned n_exits,
    unsigned n_classes, const float *factors, ExitsExtraKeys extra,
    const void *data);
void fixture_free (Fixture *f);
/* Classifies the fixture's features with p (must succeed). */
BeenetResult fixture_run (Fixture *f, const BeenetPolicyParams *p);
/* Runs the suite, returns main's exit status. */
int exits_run_suite (Suite *s);

#endif
