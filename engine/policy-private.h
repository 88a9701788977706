/* The exit-policy table (engine/policy.c), shared by the session and the
 * model loader.  Not installed. */
#ifndef BEENET_POLICY_PRIVATE_H
#define BEENET_POLICY_PRIVATE_H

#include "model-private.h"

#include <stdio.h>

/* What a policy sees of one exit.  A policy's restrict hook may narrow it
 * to the classes it still considers (probs, best and entropy rewritten). */
typedef struct {
  const float *logits;   /* n_classes values */
  float *probs;          /* softmax, n_classes values (session scratch) */
  uint32_t n_classes;
  uint32_t best;         /* argmax (lowest index on ties) */
  float entropy;         /* nats */
  uint32_t exit_number;  /* 1-based */
} BeenetExitView;

/* Per-window state of a policy across the exits of one window.  Lives in
 * the session (no allocation per window); reset before each window.  A
 * policy that needs more state adds fields here. */
typedef struct {
  uint32_t last_class;   /* patience: argmax of the previous exit */
  uint32_t run;          /* patience: consecutive exits with last_class */
  /* Candidate classes (every policy reports n_remaining per exit; only
   * class-exclusion narrows them).  The bitmask is session memory
   * (n_words = ceil(n_classes / 64)), set up once at session creation. */
  uint32_t n_classes;
  uint32_t n_remaining;
  uint64_t *remaining;   /* bit k = class k still a candidate */
  uint32_t n_words;
  const struct BeenetExclusionScore *score; /* class-exclusion: what the
                            margin compares (the model's), set by the
                            session before reset */
  const float *factors;  /* class-exclusion: per-exit factors in force for
                            this window (params or model), set by the
                            session before reset */
  const BeenetEENet *eenet; /* eenet: the model's scheduler (or NULL), set
                            by the session before reset */
  uint32_t *exit_best;   /* eenet: argmax of each exit reached (n_exits,
                            session memory) */
} BeenetPolicyState;

typedef struct {
  const char *name;         /* nick: model files, enum, options */
  const char *description;  /* one line, for help texts and the enum */
  BeenetPolicyParams defaults;
  bool uses_threshold;
  float threshold_min, threshold_max;  /* accepted in model files */
  /* extra checks of the policy's own fields (NULL: none) */
  BeenetStatus (*validate) (const BeenetPolicyParams *p, BeenetError *err);
  /* checks against the model the window runs on (NULL: none) */
  BeenetStatus (*check_model) (const BeenetPolicyParams *p,
      const BeenetModel *model, BeenetError *err);
  void (*reset) (BeenetPolicyState *state);
  /* called at every exit the window reaches, the last included, before
   * should_stop (NULL: none): narrows the view to the policy's candidates */
  void (*restrict_view) (const BeenetPolicyParams *p, BeenetExitView *x,
      BeenetPolicyState *state);
  /* called at every exit but the last, in order; true = stop here */
  bool (*should_stop) (const BeenetPolicyParams *p, const BeenetExitView *x,
      BeenetPolicyState *state);
} BeenetPolicyImpl;

/* Start a window: every class a candidate, then the policy's reset. */
void beenet_policy_state_begin (const BeenetPolicyImpl *impl,
    BeenetPolicyState *state);
/* NULL for an unknown policy. */
const BeenetPolicyImpl *beenet_policy_impl (BeenetPolicy policy);
/* Index of the policy called name[0..len) (not NUL-terminated), or -1. */
int beenet_policy_lookup (const char *name, size_t len);

/* Class-exclusion scores (beenet.class_exclusion.score): the value of a
 * class the margin is measured on.  "softmax" (the default): the logit, so
 * a class goes when its softmax probability is below factor^scale times the
 * top candidate's (exits trained with softmax cross-entropy); "sigmoid":
 * ln sigmoid(logit), below factor^scale times the top candidate's
 * per-class score (exits trained with per-class binary cross-entropy, as
 * in Wang, Li, Zhang 2023). */
typedef struct BeenetExclusionScore {
  const char *name;
  float (*score) (float logit);
} BeenetExclusionScore;
/* NULL for an unknown name (len bytes, not NUL-terminated). */
const BeenetExclusionScore *beenet_exclusion_score_lookup (const char *name,
    size_t len);
const BeenetExclusionScore *beenet_exclusion_score_default (void);
/* "softmax or sigmoid" into buf (for messages). */
void beenet_exclusion_score_names (char *buf, size_t size);
/* '"entropy", "max-probability" or "patience"' into buf (for messages);
 * returns the length written. */
size_t beenet_policy_names (char *buf, size_t size);

#endif
