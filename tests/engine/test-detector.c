/* Keyword detector (beenet_detector_*): synthetic posterior sequences with
 * hand-computed smoothed scores, detection times, threshold edges,
 * re-arming, the refractory period, reset, live parameter changes and
 * argument checks.  Plain C, public API only.
 *
 * Model: 4 classes labelled _silence_, _unknown_, yes, no (keywords: yes
 * and no, from the labels); its network is never run. */
#include "beenet.h"
#include "check-main.h"
#include "gguf-writer.h"
#include "test-models.h"
#include "writer-load.h"

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MS INT64_C (1000000)
enum { SIL = 0, UNK = 1, YES = 2, NO = 3, NC = 4 };

static const float zero_logits[NC] = { 0, 0, 0, 0 };

/* The 4-class model; extra keys are added by `extra` when non-NULL. */
static BeenetModel *
make_model (void (*extra) (GgufWriter *w))
{
  static const char *const labels[NC] = { "_silence_", "_unknown_", "yes",
    "no"
  };
  GgufWriter *w = test_models_constant_exits_writer (1, NC, zero_logits);
  gguf_writer_remove (w, "beenet.labels");
  gguf_writer_add_array_string (w, "beenet.labels", labels, NC);
  if (extra)
    extra (w);
  return writer_load_ok (w);
}

static BeenetDetector *
make_detector (BeenetModel *m, double threshold, double smoothing_ms,
    double refractory_ms, uint32_t min_windows)
{
  BeenetDetectorParams p = { threshold, smoothing_ms, refractory_ms,
    min_windows
  };
  BeenetDetector *d = NULL;
  BeenetError e;
  ck_assert_msg (beenet_detector_new (m, &p, &d, &e) == BEENET_OK, "%s",
      e.message);
  return d;
}

/* Posteriors with probability v for class c, the rest on _silence_. */
static void
posteriors (float *p, int c, float v)
{
  memset (p, 0, NC * sizeof (float));
  p[c] = v;
  if (c != SIL)
    p[SIL] = 1.0f - v;
}

/* The 4-class model of most tests (a checked fixture: made before each
 * test, released after it). */
static BeenetModel *model;

static void
model_setup (void)
{
  model = make_model (NULL);
}

static void
model_teardown (void)
{
  beenet_model_unref (model);
  model = NULL;
}

/* Pushes one window; returns 1 (and *det) on detection. */
static int
push (BeenetDetector *d, int64_t t, int c, float v, BeenetDetection *det)
{
  float p[NC];
  int detected = -1;
  BeenetError e;
  posteriors (p, c, v);
  ck_assert_msg (beenet_detector_push (d, t, p, NC, det, &detected, &e)
      == BEENET_OK, "%s", e.message);
  ck_assert (detected == 0 || detected == 1);
  return detected;
}

/* One window of a sequence: class c with probability v at time t, and
 * whether it must fire a detection. */
typedef struct
{
  int64_t t;
  int c;
  float v;
  int fires;
} Step;

/* Pushes the steps in order, each must fire or not as it says; *det holds
 * the last detection. */
static void
push_steps (BeenetDetector *d, const Step *steps, size_t n,
    BeenetDetection *det)
{
  for (size_t i = 0; i < n; i++)
    ck_assert_msg (push (d, steps[i].t, steps[i].c, steps[i].v, det)
        == steps[i].fires, "step %zu (class %d, %g at %" PRId64 " ns)", i,
        steps[i].c, steps[i].v, steps[i].t);
}

#define PUSH_STEPS(d, det, ...) do {                                    \
    const Step steps_[] = { __VA_ARGS__ };                              \
    push_steps ((d), steps_, sizeof steps_ / sizeof steps_[0], (det));  \
  } while (0)

/* One detection per keyword burst, at the first window of the burst, with
 * its exact time, and nothing in between. */
START_TEST (test_one_detection_per_burst)
{
  BeenetDetector *d = make_detector (model, 0.7, 0.0, 1000.0, 1);
  BeenetDetection det;
  /* 500 ms windows: silence, "yes" x3, silence x3, "no" x2, silence,
   * "yes" x4. */
  static const struct { int c; float v; } seq[] = {
    { SIL, 1.f }, { YES, .9f }, { YES, .95f }, { YES, .8f }, { SIL, 1.f },
    { SIL, 1.f }, { SIL, 1.f }, { NO, .75f }, { NO, .9f }, { SIL, 1.f },
    { YES, .85f }, { YES, .9f }, { YES, .9f }, { YES, .9f },
  };
  const int64_t base = 12345 * MS + 7;    /* arbitrary, not ms-aligned */
  int fired_at[3] = { -1, -1, -1 }, n = 0;
  for (int i = 0; i < (int) (sizeof seq / sizeof seq[0]); i++) {
    memset (&det, 0xab, sizeof det);
    if (push (d, base + i * 500 * MS, seq[i].c, seq[i].v, &det)) {
      ck_assert_int_lt (n, 3);
      fired_at[n++] = i;
      ck_assert_int_eq (det.time_ns, base + i * 500 * MS);
      ck_assert_uint_eq (det.class_index, (uint32_t) seq[i].c);
      ck_assert_str_eq (det.label, seq[i].c == YES ? "yes" : "no");
      ck_assert (det.score == seq[i].v);
      ck_assert_uint_eq (det.num_windows, 1);
    }
  }
  ck_assert_int_eq (n, 3);
  ck_assert_int_eq (fired_at[0], 1);
  ck_assert_int_eq (fired_at[1], 7);
  ck_assert_int_eq (fired_at[2], 10);
  beenet_detector_free (d);
}
END_TEST

/* _silence_ and _unknown_ are never keywords, whatever their score. */
START_TEST (test_not_keywords)
{
  BeenetDetector *d = make_detector (model, 0.5, 0.0, 0.0, 1);
  BeenetDetection det;
  ck_assert_int_eq (beenet_model_is_keyword (model, SIL), 0);
  ck_assert_int_eq (beenet_model_is_keyword (model, UNK), 0);
  ck_assert_int_eq (beenet_model_is_keyword (model, YES), 1);
  ck_assert_int_eq (beenet_model_is_keyword (model, NO), 1);
  for (int i = 0; i < 20; i++) {
    ck_assert_int_eq (push (d, i * 500 * MS, SIL, 1.0f, &det), 0);
    ck_assert_int_eq (push (d, i * 500 * MS + 250 * MS, UNK, 1.0f, &det), 0);
  }
  /* a keyword still fires afterwards */
  ck_assert_int_eq (push (d, 20 * 500 * MS, NO, 0.5f, &det), 1);
  ck_assert_uint_eq (det.class_index, NO);
  beenet_detector_free (d);
}
END_TEST

static void
keywords_silence_and_no (GgufWriter *w)
{
  const uint32_t k[2] = { SIL, NO };
  gguf_writer_add_array_u32 (w, "beenet.keywords", k, 2);
}

/* beenet.keywords decides over the labels. */
START_TEST (test_model_keyword_list)
{
  BeenetModel *m = make_model (keywords_silence_and_no);
  BeenetDetector *d = make_detector (m, 0.5, 0.0, 0.0, 1);
  BeenetDetection det;
  PUSH_STEPS (d, &det, { 0, YES, 1.0f, 0 }, { 500 * MS, SIL, 1.0f, 1 });
  ck_assert_str_eq (det.label, "_silence_");
  PUSH_STEPS (d, &det, { 1000 * MS, NO, 1.0f, 1 });
  ck_assert_str_eq (det.label, "no");
  beenet_detector_free (d);
  beenet_model_unref (m);
}
END_TEST

/* Smoothed score = mean over the windows with now - t <= smoothing,
 * computed exactly (values exact in binary): each case's last step fires
 * with that score over that many windows. */
static const struct
{
  double threshold, smoothing_ms;
  uint32_t min_windows;
  Step steps[3];
  size_t n;
  float score;
  uint32_t num_windows;
} SMOOTHING_CASES[] = {
  /* t = 0, 0.5, 1 s: means 0.5, (0.5+0.75)/2 = 0.625, (0.5+0.75+1)/3 = 0.75
   * (the window exactly 1000 ms old is included). */
  { 0.75, 1000.0, 1, { { 0, YES, 0.5f, 0 }, { 500 * MS, YES, 0.75f, 0 },
          { 1000 * MS, YES, 1.0f, 1 } }, 3, 0.75f, 3 },
  /* One nanosecond later the first window is out of the span: mean of
   * 0.625 and 1 = 0.8125 over 2 windows. */
  { 0.75, 1000.0, 1, { { 0, YES, 0.5f, 0 }, { 500 * MS, YES, 0.625f, 0 },
          { 1000 * MS + 1, YES, 1.0f, 1 } }, 3, 0.8125f, 2 },
  /* Thirds: (0.25 + 0.5 + 1) / 3 = 0.58333..., rounded once to float. */
  { 0.5, 2000.0, 3, { { 0, YES, 0.25f, 0 }, { 500 * MS, YES, 0.5f, 0 },
          { 1000 * MS, YES, 1.0f, 1 } }, 3, (float) (1.75 / 3.0), 3 },
  /* smoothing 0: the latest window only. */
  { 0.75, 0.0, 1, { { 0, YES, 0.0f, 0 }, { 1, YES, 0.75f, 1 } }, 2, 0.75f,
      1 },
};

START_TEST (test_smoothing_arithmetic)
{
  BeenetDetection det;
  for (size_t i = 0; i < sizeof SMOOTHING_CASES / sizeof SMOOTHING_CASES[0];
      i++) {
    BeenetDetector *d = make_detector (model, SMOOTHING_CASES[i].threshold,
        SMOOTHING_CASES[i].smoothing_ms, 0.0, SMOOTHING_CASES[i].min_windows);
    push_steps (d, SMOOTHING_CASES[i].steps, SMOOTHING_CASES[i].n, &det);
    ck_assert_msg (det.score == SMOOTHING_CASES[i].score, "case %zu: %.9g",
        i, det.score);
    ck_assert_uint_eq (det.num_windows, SMOOTHING_CASES[i].num_windows);
    ck_assert_int_eq (det.time_ns,
        SMOOTHING_CASES[i].steps[SMOOTHING_CASES[i].n - 1].t);
    beenet_detector_free (d);
  }
}
END_TEST

/* min_windows: nothing fires until that many windows are averaged. */
START_TEST (test_min_windows)
{
  BeenetDetector *d = make_detector (model, 0.5, 1000.0, 0.0, 3);
  BeenetDetection det;
  PUSH_STEPS (d, &det, { 0, YES, 1.0f, 0 }, { 500 * MS, YES, 1.0f, 0 },
      { 1000 * MS, YES, 1.0f, 1 });
  ck_assert_uint_eq (det.num_windows, 3);
  /* a gap longer than the span: only 1 window averaged again */
  beenet_detector_reset (d);
  PUSH_STEPS (d, &det, { 0, YES, 1.0f, 0 }, { 5000 * MS, YES, 1.0f, 0 });
  beenet_detector_free (d);
}
END_TEST

/* score >= threshold fires, the next float below does not; the comparison
 * is in single precision (0.7f reaches 0.7). */
START_TEST (test_threshold_edge)
{
  static const struct
  {
    double threshold;
    int c;
    float at;
  } edges[] = { { 0.75, YES, 0.75f }, { 0.7, NO, 0.7f }, { 1.0, NO, 1.0f } };
  BeenetDetection det;
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    BeenetDetector *d = make_detector (model, edges[i].threshold, 0.0, 0.0, 1);
    PUSH_STEPS (d, &det, { 0, edges[i].c, nextafterf (edges[i].at, 0.0f), 0 },
        { 1, edges[i].c, edges[i].at, 1 });
    ck_assert (det.score == edges[i].at);
    beenet_detector_free (d);
  }
}
END_TEST

/* A keyword that stays above the threshold fires once; it re-arms when its
 * score falls strictly below the threshold (equal is not below). */
START_TEST (test_rearm)
{
  BeenetDetector *d = make_detector (model, 0.75, 0.0, 1000.0, 1);
  BeenetDetection det;
  int64_t t = 0;
  ck_assert_int_eq (push (d, t, YES, 0.9f, &det), 1);
  /* 10 s above the threshold, far beyond the refractory period */
  for (int i = 0; i < 20; i++)
    ck_assert_int_eq (push (d, t += 500 * MS, YES, i % 2 ? 0.75f : 1.0f,
            &det), 0);
  /* re-armed by one window below, fires at the next one above */
  ck_assert_int_eq (push (d, t += 500 * MS, YES, 0.5f, &det), 0);
  ck_assert_int_eq (push (d, t += 500 * MS, YES, 0.8f, &det), 1);
  ck_assert_int_eq (det.time_ns, t);
  /* re-armed inside the refractory period: waits for its end (fires at
   * exactly refractory_ms after the last detection) */
  const int64_t last = t;
  ck_assert_int_eq (push (d, t += 100 * MS, YES, 0.1f, &det), 0);
  ck_assert_int_eq (push (d, t += 100 * MS, YES, 0.9f, &det), 0);
  ck_assert_int_eq (push (d, last + 1000 * MS - 1, YES, 0.9f, &det), 0);
  ck_assert_int_eq (push (d, last + 1000 * MS, YES, 0.9f, &det), 1);
  ck_assert_int_eq (det.time_ns, last + 1000 * MS);
  beenet_detector_free (d);
}
END_TEST

/* No detection of any keyword within the refractory period of another;
 * a keyword that is still above the threshold when it ends fires then. */
START_TEST (test_refractory)
{
  BeenetDetector *d = make_detector (model, 0.6, 0.0, 1500.0, 1);
  BeenetDetection det;
  PUSH_STEPS (d, &det, { 0, YES, 0.9f, 1 }, { 500 * MS, NO, 0.9f, 0 },
      { 1000 * MS, YES, 0.1f, 0 },      /* re-arms */
      { 1250 * MS, YES, 0.95f, 0 }, { 1499 * MS, NO, 0.9f, 0 },
      /* refractory over: "no" is armed (it never fired) and above */
      { 1500 * MS, NO, 0.9f, 1 });
  ck_assert_uint_eq (det.class_index, NO);
  ck_assert_int_eq (det.time_ns, 1500 * MS);
  /* "yes" (armed, above) waits for the end of the new period */
  PUSH_STEPS (d, &det, { 2000 * MS, YES, 0.9f, 0 },
      { 3000 * MS, YES, 0.9f, 1 });
  ck_assert_uint_eq (det.class_index, YES);
  beenet_detector_free (d);

  /* refractory 0: another keyword may fire at the very next window */
  d = make_detector (model, 0.6, 0.0, 0.0, 1);
  PUSH_STEPS (d, &det, { 0, YES, 0.9f, 1 }, { 1, NO, 0.9f, 1 },
      { 2, NO, 0.9f, 0 });
  beenet_detector_free (d);
}
END_TEST

/* Several keywords above the threshold: the highest score fires, the
 * lowest class index on ties. */
START_TEST (test_best_keyword)
{
  BeenetDetector *d = make_detector (model, 0.25, 0.0, 0.0, 1);
  BeenetDetection det;
  float p[NC] = { 0.0f, 0.2f, 0.375f, 0.425f };
  int detected;
  ck_assert_int_eq (beenet_detector_push (d, 0, p, NC, &det, &detected,
          NULL), BEENET_OK);
  ck_assert_int_eq (detected, 1);
  ck_assert_uint_eq (det.class_index, NO);
  /* "no" is disarmed: "yes" (still above, armed) fires next */
  ck_assert_int_eq (beenet_detector_push (d, 1, p, NC, &det, &detected,
          NULL), BEENET_OK);
  ck_assert_int_eq (detected, 1);
  ck_assert_uint_eq (det.class_index, YES);
  beenet_detector_reset (d);
  const float tie[NC] = { 0.0f, 0.0f, 0.5f, 0.5f };
  ck_assert_int_eq (beenet_detector_push (d, 0, tie, NC, &det, &detected,
          NULL), BEENET_OK);
  ck_assert_int_eq (detected, 1);
  ck_assert_uint_eq (det.class_index, YES);
  beenet_detector_free (d);
}
END_TEST

/* reset forgets history, refractory and arming; times may restart. */
START_TEST (test_reset)
{
  BeenetDetector *d = make_detector (model, 0.75, 1000.0, 5000.0, 1);
  BeenetDetection det;
  PUSH_STEPS (d, &det, { 10000 * MS, YES, 1.0f, 1 },
      { 10500 * MS, YES, 1.0f, 0 });
  beenet_detector_reset (d);
  /* earlier time accepted; the old windows no longer count: a score of
   * 0.75 from this window alone (averaged with the 1.0 windows it would
   * be 0.9) */
  ck_assert_int_eq (push (d, 0, YES, 0.75f, &det), 1);
  ck_assert (det.score == 0.75f);
  ck_assert_uint_eq (det.num_windows, 1);
  beenet_detector_free (d);
}
END_TEST

/* set_params takes effect at the next push and keeps the history. */
START_TEST (test_set_params_live)
{
  BeenetDetector *d = make_detector (model, 0.9, 0.0, 0.0, 1);
  BeenetDetectorParams p;
  BeenetDetection det;
  BeenetError e;
  PUSH_STEPS (d, &det, { 0, YES, 0.25f, 0 }, { 500 * MS, YES, 0.5f, 0 },
      { 1000 * MS, YES, 0.8f, 0 });
  /* longer smoothing, lower threshold: the remembered windows count */
  beenet_detector_get_params (d, &p);
  ck_assert (p.threshold == 0.9);
  p.threshold = 0.5;
  p.smoothing_ms = 1000.0;
  ck_assert_int_eq (beenet_detector_set_params (d, &p, &e), BEENET_OK);
  ck_assert_int_eq (push (d, 1500 * MS, YES, 0.9f, &det), 1);
  /* (0.5 + 0.8f + 0.9f) / 3, summed in double from the pushed floats */
  ck_assert (det.score == (float) ((0.5 + (double) 0.8f + (double) 0.9f)
          / 3.0));
  ck_assert (fabsf (det.score - 0.733333333f) < 1e-6f);
  ck_assert_uint_eq (det.num_windows, 3);
  /* refractory raised live */
  p.threshold = 0.1;
  p.refractory_ms = 2000.0;
  ck_assert_int_eq (beenet_detector_set_params (d, &p, &e), BEENET_OK);
  PUSH_STEPS (d, &det, { 2000 * MS, NO, 1.0f, 0 }, { 3500 * MS, NO, 1.0f, 1 });
  /* invalid parameters are refused and the old ones kept */
  BeenetDetectorParams bad = p;
  bad.threshold = 0.0;
  ck_assert_int_eq (beenet_detector_set_params (d, &bad, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (e.message, "threshold"));
  beenet_detector_get_params (d, &bad);
  ck_assert (bad.threshold == 0.1 && bad.refractory_ms == 2000.0);
  ck_assert_int_eq (beenet_detector_set_params (NULL, &p, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_detector_set_params (d, NULL, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  beenet_detector_free (d);
}
END_TEST

static void
detection_keys (GgufWriter *w)
{
  gguf_writer_add_f32 (w, "beenet.detection.threshold", 0.875f);
  gguf_writer_add_f32 (w, "beenet.detection.smoothing_ms", 0.0f);
  gguf_writer_add_f32 (w, "beenet.detection.refractory_ms", 250.0f);
}

/* params NULL: the model's values. */
START_TEST (test_model_defaults)
{
  BeenetModel *m = make_model (detection_keys);
  BeenetDetector *d = NULL;
  BeenetDetectorParams p;
  BeenetDetection det;
  ck_assert_int_eq (beenet_detector_new (m, NULL, &d, NULL), BEENET_OK);
  beenet_detector_get_params (d, &p);
  ck_assert (p.threshold == 0.875 && p.smoothing_ms == 0.0
      && p.refractory_ms == 250.0 && p.min_windows == 1);
  PUSH_STEPS (d, &det, { 0, YES, 0.85f, 0 }, { 100 * MS, YES, 0.875f, 1 },
      { 200 * MS, NO, 0.9f, 0 }, { 350 * MS, NO, 0.9f, 1 });
  beenet_detector_free (d);
  beenet_model_unref (m);
}
END_TEST

/* Per-keyword thresholds: yes at logit offset +ln 3, no at -ln 3, so at
 * threshold 0.5 (logit 0) they fire at 0.75 and 0.25. */
#define LN3 1.0986123f
static void
offset_keys (GgufWriter *w)
{
  const float off[NC] = { 0.0f, 0.0f, LN3, -LN3 };
  gguf_writer_add_array_f32 (w, "beenet.detection.class_offsets", off, NC);
}

START_TEST (test_class_offsets)
{
  BeenetModel *m = make_model (offset_keys);
  BeenetDetector *d = make_detector (m, 0.5, 0.0, 0.0, 1);
  BeenetDetection det;
  ck_assert_double_eq_tol (beenet_model_detection_class_offset (m, YES),
      LN3, 1e-7);
  ck_assert (beenet_model_detection_class_offset (m, NC) == 0.0);
  ck_assert (beenet_model_detection_class_offset (NULL, YES) == 0.0);
  ck_assert (beenet_detector_class_threshold (d, SIL) == 0.0);
  ck_assert (beenet_detector_class_threshold (d, NC) == 0.0);
  ck_assert (beenet_detector_class_threshold (NULL, YES) == 0.0);
  ck_assert_double_eq_tol (beenet_detector_class_threshold (d, YES), 0.75,
      1e-6);
  ck_assert_double_eq_tol (beenet_detector_class_threshold (d, NO), 0.25,
      1e-6);
  /* yes needs 0.75 (0.5 no longer does), no fires at 0.3 */
  PUSH_STEPS (d, &det, { 0, YES, 0.6f, 0 }, { 100 * MS, YES, 0.74f, 0 },
      { 200 * MS, YES, 0.76f, 1 }, { 300 * MS, SIL, 1.0f, 0 },
      { 400 * MS, NO, 0.3f, 1 });
  ck_assert_str_eq (det.label, "no");
  /* the one threshold still moves both: at 1 every keyword needs 1 */
  BeenetDetectorParams p;
  beenet_detector_get_params (d, &p);
  p.threshold = 1.0;
  ck_assert_int_eq (beenet_detector_set_params (d, &p, NULL), BEENET_OK);
  ck_assert (beenet_detector_class_threshold (d, YES) == 1.0);
  ck_assert (beenet_detector_class_threshold (d, NO) == 1.0);
  PUSH_STEPS (d, &det, { 500 * MS, NO, 0.99f, 0 }, { 600 * MS, NO, 1.0f,
          1 });
  char *desc = beenet_model_describe (m);
  ck_assert_msg (strstr (desc, "detection threshold offsets (logit): yes "
          "+1.1 no -1.1\n"), "%s", desc);
  free (desc);
  beenet_detector_free (d);
  beenet_model_unref (m);
  /* without offsets every keyword's threshold is the threshold itself */
  d = make_detector (model, 0.7, 0.0, 0.0, 1);
  ck_assert (beenet_detector_class_threshold (d, YES) == (float) 0.7);
  beenet_detector_free (d);
}
END_TEST

/* Offsets of the wrong count, not finite or too large: refused. */
START_TEST (test_class_offsets_refused)
{
  static const struct
  {
    float v[NC];
    uint32_t n;
    const char *needle;
  } bad[] = {
    { { 0, 0, 1, 1 }, NC - 1, "class_offsets" },
    { { 0, 0, NAN, 1 }, NC, "offset of class 2 ('yes') is nan" },
    { { 0, 0, 1, 17 }, NC, "offset of class 3 ('no') is 17, not within +-16" },
    { { -INFINITY, 0, 0, 0 }, NC, "offset of class 0" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    static const char *const labels[NC] = { "_silence_", "_unknown_", "yes",
      "no"
    };
    GgufWriter *w = test_models_constant_exits_writer (1, NC, zero_logits);
    gguf_writer_remove (w, "beenet.labels");
    gguf_writer_add_array_string (w, "beenet.labels", labels, NC);
    gguf_writer_add_array_f32 (w, "beenet.detection.class_offsets", bad[i].v,
        bad[i].n);
    size_t size;
    uint8_t *b = gguf_writer_serialize (w, &size);
    gguf_writer_free (w);
    BeenetModel *m = NULL;
    BeenetError e;
    ck_assert_int_eq (beenet_model_load_memory (b, size, &m, &e),
        BEENET_ERROR_CORRUPT);
    ck_assert_msg (strstr (e.message, bad[i].needle), "case %zu: %s", i,
        e.message);
    ck_assert_ptr_null (m);
    free (b);
  }
}
END_TEST

/* Argument checks: clear errors, state unchanged. */
START_TEST (test_invalid_args)
{
  BeenetDetector *d = make_detector (model, 0.5, 1000.0, 0.0, 1);
  BeenetDetection det;
  BeenetError e;
  float p[NC] = { 0.5f, 0.0f, 0.5f, 0.0f };
  int detected = 7;

  ck_assert_int_eq (beenet_detector_push (NULL, 0, p, NC, &det, &detected,
          &e), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (detected, 0);
  ck_assert_int_eq (beenet_detector_push (d, 0, NULL, NC, &det, &detected,
          &e), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_detector_push (d, 0, p, NC, NULL, &detected, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_detector_push (d, 0, p, NC, &det, NULL, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_detector_push (d, 0, p, NC - 1, &det, &detected,
          &e), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (e.message, "3 probabilities for a model of "
          "4 classes"));

  /* a NaN window is refused and not remembered */
  p[YES] = NAN;
  ck_assert_int_eq (beenet_detector_push (d, 0, p, NC, &det, &detected, &e),
      BEENET_ERROR_NONFINITE);
  ck_assert_int_eq (e.code, BEENET_ERROR_NONFINITE);
  ck_assert_ptr_nonnull (strstr (e.message, "class 2 is not finite"));
  p[YES] = INFINITY;
  ck_assert_int_eq (beenet_detector_push (d, 0, p, NC, &det, &detected, &e),
      BEENET_ERROR_NONFINITE);
  p[YES] = 1.5f;
  ck_assert_int_eq (beenet_detector_push (d, 0, p, NC, &det, &detected, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (e.message, "outside [0, 1]"));
  p[YES] = -0.25f;
  ck_assert_int_eq (beenet_detector_push (d, 0, p, NC, &det, &detected, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  p[YES] = 0.25f;
  ck_assert_int_eq (beenet_detector_push (d, 0, p, NC, &det, &detected, &e),
      BEENET_OK);
  ck_assert_int_eq (detected, 0);

  /* time must increase */
  ck_assert_int_eq (beenet_detector_push (d, 0, p, NC, &det, &detected, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (e.message, "not after the previous"));
  ck_assert_int_eq (beenet_detector_push (d, -5, p, NC, &det, &detected, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  /* the refused pushes left no trace: mean (0.25 + 0.75) / 2 = 0.5 */
  p[YES] = 0.75f;
  ck_assert_int_eq (beenet_detector_push (d, 1, p, NC, &det, &detected, &e),
      BEENET_OK);
  ck_assert_int_eq (detected, 1);
  ck_assert (det.score == 0.5f);
  ck_assert_uint_eq (det.num_windows, 2);

  /* creation and parameters */
  BeenetDetector *d2 = (BeenetDetector *) 0x1;
  ck_assert_int_eq (beenet_detector_new (NULL, NULL, &d2, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_detector_new (model, NULL, NULL, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  static const BeenetDetectorParams bad[] = {
    { 0.0, 0.0, 0.0, 1 }, { -0.1, 0.0, 0.0, 1 }, { 1.01, 0.0, 0.0, 1 },
    { NAN, 0.0, 0.0, 1 }, { 0.5, -1.0, 0.0, 1 }, { 0.5, 10000.5, 0.0, 1 },
    { 0.5, NAN, 0.0, 1 }, { 0.5, 0.0, -1.0, 1 }, { 0.5, 0.0, 60000.5, 1 },
    { 0.5, 0.0, INFINITY, 1 }, { 0.5, 0.0, 0.0, 0 }, { 0.5, 0.0, 0.0, 1025 },
  };
  static const char *const field[] = { "threshold", "threshold", "threshold",
    "threshold", "smoothing_ms", "smoothing_ms", "smoothing_ms",
    "refractory_ms", "refractory_ms", "refractory_ms", "min_windows",
    "min_windows"
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    d2 = (BeenetDetector *) 0x1;
    ck_assert_int_eq (beenet_detector_new (model, &bad[i], &d2, &e),
        BEENET_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null (d2);
    ck_assert_msg (strstr (e.message, field[i]) != NULL, "%zu: %s", i,
        e.message);
    ck_assert_int_eq (beenet_detector_params_validate (&bad[i], &e),
        BEENET_ERROR_INVALID_ARGUMENT);
  }
  static const BeenetDetectorParams edges = { 1.0, 10000.0, 60000.0, 1024 };
  ck_assert_int_eq (beenet_detector_params_validate (&edges, &e), BEENET_OK);
  ck_assert_int_eq (beenet_detector_params_validate (NULL, &e),
      BEENET_ERROR_INVALID_ARGUMENT);
  beenet_detector_free (NULL);
  beenet_detector_reset (NULL);
  beenet_detector_free (d);
}
END_TEST

/* The history holds the last BEENET_DETECTOR_HISTORY windows; extreme
 * times do not overflow. */
START_TEST (test_history_and_extreme_times)
{
  BeenetDetector *d = make_detector (model, 1.0, 10000.0, 0.0, 1);
  BeenetDetection det;
  int64_t t = 0;
  for (unsigned i = 0; i < BEENET_DETECTOR_HISTORY + 100; i++)
    ck_assert_int_eq (push (d, t += MS, YES, 1.0f, &det), i == 0);
  beenet_detector_reset (d);
  /* 1101 windows 1 ms apart, all inside the 10 s span: the first 77 (0.0)
   * are the ones forgotten, the mean is over the last 1024 (0.5) */
  for (unsigned i = 0; i < BEENET_DETECTOR_HISTORY + 76; i++)
    ck_assert_int_eq (push (d, t += MS, YES, i < 77 ? 0.0f : 0.5f, &det), 0);
  BeenetDetectorParams p = { 0.5, 10000.0, 0.0, BEENET_DETECTOR_HISTORY };
  ck_assert_int_eq (beenet_detector_set_params (d, &p, NULL), BEENET_OK);
  ck_assert_int_eq (push (d, t += MS, YES, 0.5f, &det), 1);
  ck_assert_uint_eq (det.num_windows, BEENET_DETECTOR_HISTORY);
  ck_assert (det.score == 0.5f);
  beenet_detector_free (d);

  d = make_detector (model, 0.75, 10000.0, 60000.0, 1);
  PUSH_STEPS (d, &det, { INT64_MIN, YES, 1.0f, 1 });
  ck_assert_int_eq (det.time_ns, INT64_MIN);
  PUSH_STEPS (d, &det, { INT64_MIN + 1, YES, 0.0f, 0 },
      { INT64_MAX - 1, YES, 1.0f, 1 });
  ck_assert_uint_eq (det.num_windows, 1);
  PUSH_STEPS (d, &det, { INT64_MAX, NO, 1.0f, 0 });
  beenet_detector_free (d);
}
END_TEST

#if defined(BEENET_TEST_WRAP_MALLOC)
#include "alloc-count.h"

/* Creation allocates, push / set_params / reset do not. */
START_TEST (test_no_allocation_per_push)
{
  BeenetDetector *d;
  BeenetDetectorParams p = { 0.5, 0.0, 100.0, 1 };
  BeenetDetection det;
  counting = 1;
  n_allocs = 0;
  BeenetStatus st = beenet_detector_new (model, &p, &d, NULL);
  counting = 0;
  ck_assert_int_eq (st, BEENET_OK);
  ck_assert_int_gt (n_allocs, 0);
  float probs[NC];
  int detected, bad = 0, fired = 0;
  counting = 1;
  n_allocs = 0;
  for (int i = 0; i < 2000; i++) {
    posteriors (probs, i % 7 < 3 ? YES : SIL, 0.9f);
    bad |= beenet_detector_push (d, (int64_t) i * 10 * MS, probs, NC, &det,
        &detected, NULL);
    fired += detected;
    if (i == 1000) {
      bad |= beenet_detector_set_params (d, &p, NULL);
      beenet_detector_reset (d);
    }
  }
  counting = 0;
  ck_assert_int_eq (bad, 0);
  ck_assert_int_gt (fired, 10);
  ck_assert_int_eq (n_allocs, 0);
  beenet_detector_free (d);
}
END_TEST
#endif

static Suite *
detector_suite (void)
{
  Suite *s = suite_create ("detector");
  TCase *tc = tcase_create ("core");
  tcase_add_checked_fixture (tc, model_setup, model_teardown);
  tcase_add_test (tc, test_one_detection_per_burst);
  tcase_add_test (tc, test_not_keywords);
  tcase_add_test (tc, test_model_keyword_list);
  tcase_add_test (tc, test_smoothing_arithmetic);
  tcase_add_test (tc, test_min_windows);
  tcase_add_test (tc, test_threshold_edge);
  tcase_add_test (tc, test_rearm);
  tcase_add_test (tc, test_refractory);
  tcase_add_test (tc, test_best_keyword);
  tcase_add_test (tc, test_reset);
  tcase_add_test (tc, test_set_params_live);
  tcase_add_test (tc, test_model_defaults);
  tcase_add_test (tc, test_class_offsets);
  tcase_add_test (tc, test_class_offsets_refused);
  tcase_add_test (tc, test_invalid_args);
  tcase_add_test (tc, test_history_and_extreme_times);
#if defined(BEENET_TEST_WRAP_MALLOC)
  tcase_add_test (tc, test_no_allocation_per_push);
#endif
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return check_run_suite (detector_suite ());
}
