/* libbeenet: binary early-exit network inference engine.
 *
 * Plain C11. No GStreamer or GLib types in this header, so the engine can be
 * embedded anywhere (GStreamer element, command-line tools, Python via ctypes).
 *
 * Objects:
 *   BeenetFrontend  log-Mel feature extractor (usable without a model; the
 *                   trainer binds it so training and inference share one
 *                   implementation).
 *   BeenetStream    streaming front-end: audio pushed in any chunks, each
 *                   10 ms frame computed once and shared by overlapping
 *                   windows.
 *   BeenetModel     an immutable, reference-counted, thread-shareable model
 *                   loaded from a GGUF file or a memory block (docs/model-format.md).
 *   BeenetSession   per-thread inference state: owns every scratch buffer, so
 *                   classifying a window allocates nothing.
 *
 * Every fallible call returns a BeenetStatus and, when `err` is non-NULL,
 * fills it with the code and a human-readable message.
 */
#ifndef BEENET_H
#define BEENET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define BEENET_API __declspec(dllexport)
#elif defined(__GNUC__)
#define BEENET_API __attribute__((visibility("default")))
#else
#define BEENET_API
#endif

/* Newest beenet.format_version this engine reads (it reads every older
 * one too; docs/model-format.md). */
#define BEENET_FORMAT_VERSION 4

typedef enum {
  BEENET_OK = 0,
  BEENET_ERROR_INVALID_ARGUMENT = 1, /* bad parameter passed by the caller */
  BEENET_ERROR_IO = 2,               /* file could not be opened or read */
  BEENET_ERROR_FORMAT = 3,           /* not a GGUF / beenet model file */
  BEENET_ERROR_TRUNCATED = 4,        /* file ends before a declared field */
  BEENET_ERROR_CORRUPT = 5,          /* inconsistent sizes, shapes, indices or values */
  BEENET_ERROR_UNSUPPORTED = 6,      /* newer format version or unknown op */
  BEENET_ERROR_NOMEM = 7,            /* allocation failed */
  BEENET_ERROR_NONFINITE = 8         /* input contains NaN or infinity */
} BeenetStatus;

#define BEENET_ERROR_MESSAGE_SIZE 256

typedef struct {
  BeenetStatus code;
  char message[BEENET_ERROR_MESSAGE_SIZE];
} BeenetError;

/* Exit policies: where a window stops (docs/engine.md, "Exit policies").
 * The engine keeps ONE table of policies (engine/policy.c): name, description,
 * default parameters and the per-exit rule; the element, the tool and the
 * trainer list and parse policies through beenet_policy_*() below.
 *
 *  ENTROPY          stop at the first exit whose softmax entropy (natural log,
 *                   nats) is strictly below `threshold` (BEENet Algorithm 1).
 *  MAX_PROBABILITY  stop at the first exit whose largest probability is
 *                   >= `threshold`.
 *  PATIENCE         stop when the argmax has been the same class at
 *                   `patience` consecutive exits (PABEE, Zhou et al. 2020);
 *                   the first exit counts as 1, so patience 1 stops at exit
 *                   1.  `threshold` is not used.
 *  CLASS_EXCLUSION  (Wang, Li, Zhang, "Early-Exit with Class Exclusion",
 *                   2023) every exit removes from the window's set of
 *                   candidate classes those it is sure are wrong: class k
 *                   (still a candidate) is excluded at exit e when its logit
 *                   is more than  -threshold * ln(factor[e])  below the
 *                   largest candidate logit (i.e. its probability is below
 *                   factor[e]^threshold times the top candidate's).  Later
 *                   exits decide among the rest (their softmax is masked to
 *                   the candidates); a window stops when one class remains.
 *                   At the last exit the most probable candidate wins.  The
 *                   per-exit factors in [0, 1] (0 = exclude nothing) come
 *                   from the model (beenet.class_exclusion.factors, searched
 *                   by the trainer) or from `exclusion_factors`; a model
 *                   without them refuses the policy.  `threshold` scales the
 *                   exclusion margins: 1 (default) = the factors as
 *                   searched, smaller = cheaper, 0 keeps only the top class
 *                   at exit 1 (except at exits whose factor is 0).
 *  EENET            (Ilhan et al., "EENet: Learning to Early Exit for
 *                   Adaptive Inference", 2023) a small scheduler trained
 *                   offline on the validation split's exit outputs: at exit
 *                   e a per-exit MLP maps the exit's confidence measures
 *                   (largest probability, entropy / ln(classes), margin of
 *                   the two largest probabilities, share of the earlier
 *                   exits that agree with its argmax) and its class-wise
 *                   probabilities to a utility score q in (0, 1) (sigmoid);
 *                   the window stops when q >= the exit's threshold for the
 *                   average budget `budget` (share of the network's
 *                   operations).  The model stores thresholds for a range of
 *                   budgets (beenet.eenet.*, docs/policies.md); other
 *                   budgets interpolate linearly between the two nearest,
 *                   outside the range the nearest is used.  A model without
 *                   the scheduler refuses the policy.  `threshold` is not
 *                   used.
 *
 * For every policy the last exit always stops, and so does exit `max_exit`
 * when it is not 0. */
typedef enum {
  BEENET_POLICY_ENTROPY = 0,
  BEENET_POLICY_MAX_PROBABILITY = 1,
  BEENET_POLICY_PATIENCE = 2,
  BEENET_POLICY_CLASS_EXCLUSION = 3,
  BEENET_POLICY_EENET = 4
} BeenetPolicy;

/* Parameters of an exit policy, in the style of whisper.cpp's
 * whisper_full_params: always start from beenet_policy_default_params()
 * (or beenet_model_default_params()) and change the fields you need, so
 * fields added later get their defaults.  Fields are only ever appended. */
typedef struct {
  BeenetPolicy policy;
  float threshold;    /* entropy: nats; max-probability: probability; any
                         value but NaN (a threshold no exit reaches runs to
                         the last exit); unused by patience */
  uint32_t patience;  /* patience: consecutive exits with the same argmax,
                         >= 1 (default 2); ignored by the other policies */
  uint32_t max_exit;  /* never run past this exit (1-based), every policy;
                         0 = no limit (default); a value beyond the model's
                         number of exits also means no limit (clamped, not
                         an error, so one setting fits models of any
                         depth) */
  const float *exclusion_factors; /* class-exclusion: one factor in [0, 1]
                         per exit (num_exclusion_factors = the model's
                         number of exits), read during each classify call;
                         NULL (default) = the model's factors */
  uint32_t num_exclusion_factors;
  uint32_t keyword_exit; /* a window whose best class at an exit is a
                         keyword (beenet_model_is_keyword) does not stop
                         before this exit (1-based), every policy: keyword
                         candidates are decided by the deeper exits while
                         silence and other speech still leave early
                         (docs/policies.md, "Keyword exit"); 0 = no
                         constraint (beenet_policy_default_params); a value
                         beyond the model's exits means the last exit;
                         max_exit still wins */
  float budget;       /* eenet: average share of the network's operations
                         the scheduler's thresholds are chosen for, (0, 1]
                         (default 1: the model's most accurate stored
                         point); ignored by the other policies */
} BeenetPolicyParams;

BEENET_API const char *beenet_status_name (BeenetStatus status);

/* The policy table.  Policies are numbered 0 .. beenet_policy_count () - 1
 * (the BeenetPolicy values).  Names are the short nicks used everywhere
 * (model files, element enum, tool option, trainer): "entropy",
 * "max-probability", "patience".  name/description return NULL for an
 * unknown policy. */
BEENET_API size_t beenet_policy_count (void);
BEENET_API const char *beenet_policy_name (BeenetPolicy policy);
BEENET_API const char *beenet_policy_description (BeenetPolicy policy);
/* 1 if the policy's rule reads `threshold` (entropy, max-probability), 0 if
 * not (patience) or unknown: tools only ask for a threshold when it
 * matters. */
BEENET_API int beenet_policy_uses_threshold (BeenetPolicy policy);
/* INVALID_ARGUMENT (message listing the valid names) for an unknown or
 * NULL name; *out is left untouched then. */
BEENET_API BeenetStatus beenet_policy_from_name (const char *name,
    BeenetPolicy *out, BeenetError *err);
/* Default parameters of a policy (threshold, patience 2, max_exit 0).  For
 * an unknown policy the other fields are the entropy defaults and `policy`
 * keeps the given value, so beenet_policy_params_validate rejects it. */
BEENET_API BeenetPolicyParams beenet_policy_default_params (BeenetPolicy policy);
/* INVALID_ARGUMENT with a message naming the field: NULL params, unknown
 * policy, NaN threshold, patience 0 (for the patience policy), a negative
 * threshold or a factor outside [0, 1] (class-exclusion), a budget outside
 * (0, 1] (eenet). */
BEENET_API BeenetStatus beenet_policy_params_validate (
    const BeenetPolicyParams *params, BeenetError *err);
BEENET_API const char *beenet_version (void);
/* Name of the kernel set chosen at run time ("portable", "avx2", ...). */
BEENET_API const char *beenet_kernel_name (void);
/* Name of the FFT backend new front-ends use ("fftw", "gst"; environment
 * variable BEENET_FFT forces one), or NULL when BEENET_FFT names a backend
 * this build lacks (beenet_frontend_new then fails with a message). */
BEENET_API const char *beenet_fft_backend_name (void);

/* ------------------------------------------------------------------------ */
/* Front-end                                                                */

typedef struct {
  uint32_t sample_rate;    /* 16000 */
  uint32_t window_samples; /* samples per classified window: 16000 (1 s) */
  uint32_t frame_length;   /* 400 (25 ms) */
  uint32_t hop_length;     /* 160 (10 ms) */
  uint32_t fft_size;       /* 512 */
  uint32_t n_mels;         /* 64 */
  uint32_t n_frames;       /* 98 */
  float fmin;              /* 60 Hz */
  float fmax;              /* 7800 Hz */
  float log_floor;         /* 1e-6: log(max(mel_energy, log_floor)) */
} BeenetFrontendConfig;

typedef struct BeenetFrontend BeenetFrontend;

BEENET_API void beenet_frontend_config_default (BeenetFrontendConfig *config);
BEENET_API BeenetStatus beenet_frontend_new (const BeenetFrontendConfig *config,
    BeenetFrontend **out, BeenetError *err);
BEENET_API void beenet_frontend_free (BeenetFrontend *frontend);
/* samples: n mono float samples (nominal range [-1, 1]); n must be >=
 * window_samples; only the first window_samples are used.  out receives
 * n_frames * n_mels un-normalised log-Mel values, frame-major
 * (out[t * n_mels + m]).  Not thread-safe per object. */
BEENET_API BeenetStatus beenet_frontend_compute (BeenetFrontend *frontend,
    const float *samples, size_t n, float *out, BeenetError *err);

/* ------------------------------------------------------------------------ */
/* Streaming front-end                                                      */

/* A BeenetStream takes audio as it comes (pushes of any size) and gives the
 * log-Mel features of any window of the stream, computing each frame once.
 * The frames of a window starting at sample `start` (counted from the last
 * reset) lie on the grid of phase p = start % hop_length: frame j covers
 * samples [j * hop_length + p, j * hop_length + p + frame_length).  The
 * stream keeps the latest cache_frames frames of each of cache_phases grid
 * phases (least recently used phase replaced), so a window computes only
 * the frames it does not share with earlier windows of its phase: at a
 * 500 ms hop, 50 of the 98 frames of the default configuration; at 250 ms,
 * 25.  Hops that are multiples of hop_length (10 ms) use phase 0 only;
 * others alternate between phases (125 ms: 2) and share frames as long as
 * the phases in use fit in cache_phases.  Either way a window's features
 * are bit-identical to beenet_frontend_compute on the same samples (both
 * run the same per-frame code on the same floats).
 *
 * Samples are kept in a ring of history_samples: a window [start, start +
 * window_samples) is available once its last sample was pushed and while
 * start >= position - history_samples.  Pushing and taking windows allocate
 * nothing.  Not thread-safe per object. */

typedef struct BeenetStream BeenetStream;

typedef struct {
  uint32_t history_samples; /* samples kept, >= window_samples; default
                               window_samples (enough when each window is
                               taken as soon as its last sample arrived) */
  uint32_t cache_frames;    /* frames kept per grid phase, >= 1; default
                               n_frames (enough for windows taken in
                               increasing start order) */
  uint32_t cache_phases;    /* grid phases kept, [1, 1024]; default 4 */
} BeenetStreamParams;

typedef struct {
  uint64_t frames_computed;  /* frames run through the front-end */
  uint64_t frames_reused;    /* frames copied from the ring */
  uint64_t windows;          /* windows whose features were returned */
} BeenetStreamStats;

/* Defaults for a front-end configuration (config NULL: the default
 * configuration). */
BEENET_API void beenet_stream_params_default (
    const BeenetFrontendConfig *config, BeenetStreamParams *params);
/* params NULL = defaults.  INVALID_ARGUMENT for a bad config or params,
 * NOMEM. */
BEENET_API BeenetStatus beenet_stream_new (const BeenetFrontendConfig *config,
    const BeenetStreamParams *params, BeenetStream **out, BeenetError *err);
BEENET_API void beenet_stream_free (BeenetStream *stream);
BEENET_API void beenet_stream_get_config (const BeenetStream *stream,
    BeenetFrontendConfig *config);
/* Forget every sample and frame and restart the sample count at 0 (a
 * discontinuity, flush or new stream).  Statistics are kept. */
BEENET_API void beenet_stream_reset (BeenetStream *stream);
/* Samples pushed since the last reset. */
BEENET_API uint64_t beenet_stream_position (const BeenetStream *stream);
BEENET_API void beenet_stream_get_stats (const BeenetStream *stream,
    BeenetStreamStats *stats);
/* Append n mono float samples (n may be 0 or larger than the history; NaN
 * and infinity are accepted here, the windows holding them report
 * NONFINITE).  INVALID_ARGUMENT if stream is NULL or samples is NULL with
 * n > 0. */
BEENET_API BeenetStatus beenet_stream_push (BeenetStream *stream,
    const float *samples, size_t n, BeenetError *err);
/* Append n zero samples (e.g. to pad the last window at the end of a
 * stream).  INVALID_ARGUMENT if stream is NULL. */
BEENET_API BeenetStatus beenet_stream_push_zeros (BeenetStream *stream,
    size_t n, BeenetError *err);
/* Features of the window starting at sample `start` (counted from the last
 * reset): n_frames * n_mels values into out, frame-major, exactly as
 * beenet_frontend_compute on samples [start, start + window_samples).
 * INVALID_ARGUMENT: NULL pointers, window not complete yet (start +
 * window_samples > position) or no longer held (start < position -
 * history_samples).  NONFINITE: a sample of the window is NaN or infinite,
 * or a Mel energy overflows (same messages as beenet_frontend_compute). */
BEENET_API BeenetStatus beenet_stream_features (BeenetStream *stream,
    uint64_t start, float *out, BeenetError *err);

/* Level of the window starting at `start` (as beenet_stream_features):
 * 10 log10 of the mean square of its samples, dB relative to full scale
 * (a full-scale square wave is 0 dB, a full-scale sine -3.01 dB, as the
 * `level` element's rms); -INFINITY for digital silence.  Errors as
 * beenet_stream_features. */
BEENET_API BeenetStatus beenet_stream_level (BeenetStream *stream,
    uint64_t start, double *dbfs, BeenetError *err);

/* Sample conversion helpers (ORC-accelerated). */
BEENET_API void beenet_convert_s16 (const int16_t *in, float *out, size_t n);
/* Average `channels` interleaved channels into mono. */
BEENET_API void beenet_mixdown_f32 (const float *in, float *out, size_t frames,
    unsigned channels);

/* ------------------------------------------------------------------------ */
/* Model                                                                    */

typedef struct BeenetModel BeenetModel;

BEENET_API BeenetStatus beenet_model_load_file (const char *path,
    BeenetModel **out, BeenetError *err);
/* The bytes are copied; `data` may be freed after the call. */
BEENET_API BeenetStatus beenet_model_load_memory (const void *data,
    size_t size, BeenetModel **out, BeenetError *err);
/* Thread-safe reference counting. */
BEENET_API BeenetModel *beenet_model_ref (BeenetModel *model);
BEENET_API void beenet_model_unref (BeenetModel *model);

BEENET_API const char *beenet_model_name (const BeenetModel *model);
/* What the model is for (beenet.task, e.g. "kws12", "lid6", "kws31") and
 * its network family (beenet.architecture: "quicknet", "birealnet",
 * "densenet", "meliusnet"); NULL when the file does not say. */
BEENET_API const char *beenet_model_task (const BeenetModel *model);
BEENET_API const char *beenet_model_architecture (const BeenetModel *model);
BEENET_API size_t beenet_model_num_classes (const BeenetModel *model);
BEENET_API const char *beenet_model_label (const BeenetModel *model, size_t i);
BEENET_API size_t beenet_model_num_exits (const BeenetModel *model);
BEENET_API void beenet_model_frontend_config (const BeenetModel *model,
    BeenetFrontendConfig *config);
/* Policy and threshold recommended by the model's author. */
BEENET_API BeenetPolicy beenet_model_default_policy (const BeenetModel *model);
BEENET_API float beenet_model_default_threshold (const BeenetModel *model);
/* Class-exclusion factors of the model (beenet.class_exclusion.factors):
 * copies min(n, number of exits) of them into out and returns the number of
 * exits, or 0 when the model has none (then the policy is refused). */
BEENET_API size_t beenet_model_exclusion_factors (const BeenetModel *model,
    float *out, size_t n);
/* What the class-exclusion margin compares (beenet.class_exclusion.score):
 * "softmax" (the logits; the default) or "sigmoid" (ln sigmoid of each
 * logit, for exits trained with per-class binary cross-entropy). */
BEENET_API const char *beenet_model_exclusion_score (const BeenetModel *model);
/* Budgets the model's EENet scheduler stores thresholds for
 * (beenet.eenet.budgets, increasing): copies min(n, count) of them into out
 * and returns the count, or 0 when the model has no scheduler (then the
 * eenet policy is refused). */
BEENET_API size_t beenet_model_eenet_budgets (const BeenetModel *model,
    float *out, size_t n);
/* beenet_policy_params_validate, then what the policy needs from this model
 * (class-exclusion: factors in the params with one per exit, or in the
 * model; eenet: the model's scheduler; UNSUPPORTED with a message saying so otherwise).  The classify
 * calls run the same check. */
BEENET_API BeenetStatus beenet_model_check_params (const BeenetModel *model,
    const BeenetPolicyParams *params, BeenetError *err);
/* beenet_policy_default_params of the model's policy with the model's
 * threshold (model NULL: the entropy defaults). */
BEENET_API BeenetPolicyParams beenet_model_default_params (
    const BeenetModel *model);
/* Operation counts of the whole model (all exits).  OPs = FLOPs + BOPs / 64. */
BEENET_API uint64_t beenet_model_total_bops (const BeenetModel *model);
BEENET_API uint64_t beenet_model_total_flops (const BeenetModel *model);
/* Multi-line human-readable description (labels, front-end, layers, exits,
 * operation counts).  Returns a malloc'd string the caller free()s. */
BEENET_API char *beenet_model_describe (const BeenetModel *model);

/* ------------------------------------------------------------------------ */
/* Session                                                                  */

typedef struct BeenetSession BeenetSession;

typedef struct {
  uint32_t class_index;        /* argmax of the reporting exit */
  const char *label;           /* owned by the model */
  uint32_t exit_index;         /* 1-based exit that reported */
  uint32_t num_exits;
  float entropy;               /* nats, of the reporting exit's softmax */
  float confidence;            /* probability of class_index */
  const float *probabilities;  /* num_classes values, owned by the session,
                                  valid until the next call on it */
  uint32_t num_classes;
  uint64_t bops_executed, flops_executed;
  double bops_fraction;        /* executed / total binary operations */
  double flops_fraction;       /* executed / total float operations */
  double ops_fraction;         /* (FLOPs + BOPs/64) executed / total */
  const uint32_t *classes_remaining; /* num_exits values, owned by the
                                  session like probabilities: the number of
                                  candidate classes after exit e (0-based)
                                  for the exits that ran (1..exit_index),
                                  0 for the others; num_classes at every
                                  exit that ran under the policies that
                                  exclude nothing */
} BeenetResult;

/* A session holds a reference on the model. */
BEENET_API BeenetStatus beenet_session_new (BeenetModel *model,
    BeenetSession **out, BeenetError *err);
BEENET_API void beenet_session_free (BeenetSession *session);
BEENET_API const BeenetModel *beenet_session_model (const BeenetSession *session);
/* Bytes of activation memory the session allocated: activations that are
 * never live at the same time share memory (planned at creation). */
BEENET_API size_t beenet_session_activation_bytes (const BeenetSession *session);
/* All the network's scratch the session allocated: the activation block
 * above plus the packed-sign buffer of the binary layers (sized for the
 * largest one).  The front-end's buffers are not included. */
BEENET_API size_t beenet_session_scratch_bytes (const BeenetSession *session);

/* Classify one window: n >= window_samples mono float samples at the model's
 * sample rate.  Runs the front-end, normalisation and the network block by
 * block with early exit under the policy `params` (beenet_policy_params_validate
 * errors are returned as they are).  Returns BEENET_ERROR_NONFINITE (and
 * leaves *result untouched) when a sample is NaN or infinite. */
BEENET_API BeenetStatus beenet_session_classify_params (BeenetSession *session,
    const float *samples, size_t n, const BeenetPolicyParams *params,
    BeenetResult *result, BeenetError *err);

/* Same, from un-normalised log-Mel features (n_frames * n_mels, frame-major,
 * as beenet_frontend_compute writes them). */
BEENET_API BeenetStatus beenet_session_classify_features_params (
    BeenetSession *session, const float *features,
    const BeenetPolicyParams *params, BeenetResult *result,
    BeenetError *err);

/* Same, for the window of `stream` starting at sample `start`
 * (beenet_stream_features, then beenet_session_classify_features_params).
 * The stream's front-end configuration must be the model's
 * (INVALID_ARGUMENT otherwise); other errors as beenet_stream_features. */
BEENET_API BeenetStatus beenet_session_classify_stream_params (
    BeenetSession *session, BeenetStream *stream, uint64_t start,
    const BeenetPolicyParams *params, BeenetResult *result,
    BeenetError *err);

/* The positional forms, kept for existing callers: each is the _params
 * call with beenet_policy_default_params (policy) and `threshold` (so
 * patience 2 and no max_exit). */
BEENET_API BeenetStatus beenet_session_classify (BeenetSession *session,
    const float *samples, size_t n, BeenetPolicy policy, float threshold,
    BeenetResult *result, BeenetError *err);
BEENET_API BeenetStatus beenet_session_classify_features (BeenetSession *session,
    const float *features, BeenetPolicy policy, float threshold,
    BeenetResult *result, BeenetError *err);
BEENET_API BeenetStatus beenet_session_classify_stream (BeenetSession *session,
    BeenetStream *stream, uint64_t start, BeenetPolicy policy,
    float threshold, BeenetResult *result, BeenetError *err);

/* Energy gate (docs/engine.md, "Energy gate"): the window starting at
 * `start` is classified as beenet_session_classify_stream_params only when
 * its level (beenet_stream_level) is >= gate_dbfs; a quieter window is not
 * run at all and reported as the model's silence class (label "_silence_",
 * else class 0) with confidence 1, entropy 0, exit_index 0 and every op
 * count and fraction 0.  gate_dbfs = -INFINITY never gates.  *level_dbfs
 * (may be NULL) receives the level.  INVALID_ARGUMENT for a NaN gate,
 * other errors as beenet_session_classify_stream_params. */
#define BEENET_SILENCE_LABEL "_silence_"
BEENET_API BeenetStatus beenet_session_classify_stream_gated (
    BeenetSession *session, BeenetStream *stream, uint64_t start,
    const BeenetPolicyParams *params, double gate_dbfs, BeenetResult *result,
    double *level_dbfs, BeenetError *err);
/* Index of the class labelled "_silence_", or -1. */
BEENET_API int beenet_model_silence_class (const BeenetModel *model);

/* Run the whole network (no early exit) and write every exit's logits:
 * logits[e * num_classes + k] for exit e (0-based).  For parity tests and
 * threshold sweeps. */
BEENET_API BeenetStatus beenet_session_run_all_exits (BeenetSession *session,
    const float *features, float *logits, BeenetError *err);

/* ------------------------------------------------------------------------ */
/* Budget controller                                                        */

/* Keeps the average cost of a stream of windows (BeenetResult.ops_fraction)
 * at a target share of the network's operations by adjusting the exit
 * policy's parameter from window to window (docs/engine.md, "Budget
 * controller"):
 *
 *   entropy          the threshold, in the domain x = ln(threshold)
 *   max-probability  the threshold, in the domain x = ln(1 - threshold)
 *   patience         max_exit, continuous m in [1, num_exits] in the domain
 *                    x = -m, dithered to whole exits window by window
 *   class-exclusion  the margin scale (threshold), x = -ln(threshold)
 *   eenet            the scheduler's budget, x = -8 * budget (the budget
 *                    spans about 0.7, the other domains 4-9 units: the
 *                    factor gives the same gain a similar speed); it
 *                    starts at the target itself (the scheduler's
 *                    thresholds for that budget), the integral action only
 *                    corrects the difference between the validation split
 *                    the thresholds were chosen on and the stream
 *
 * In each domain a larger x means cheaper windows.  After every window an
 * integral step x += gain * (ops_fraction - target) moves x (clamped to the
 * policy's useful range: the clamp is the anti-windup), so as long as x is
 * not at a bound the long-run mean cost equals the target.  The reported
 * average cost is an exponential moving average over `smoothing` windows.
 * A target >= 1 switches the controller off: the caller's parameters are
 * used as they are.  When it is (re)started the controller starts from the
 * caller's threshold (or max_exit; eenet: from the target).  Plain state, no allocation after
 * beenet_budget_new; not thread-safe per object. */

#define BEENET_BUDGET_OFF 1.0
#define BEENET_BUDGET_DEFAULT_GAIN 1.0
#define BEENET_BUDGET_DEFAULT_SMOOTHING 20.0

typedef struct {
  double target;        /* average ops_fraction per window, (0, 1]; 1 (or
                           more) = off (default) */
  double gain;          /* integral gain, (0, 100]: control-domain units per
                           unit of cost error per window (default 1) */
  double smoothing;     /* windows of the average-cost EMA, [1, 1e6]
                           (default 20) */
  uint32_t num_classes; /* >= 2: the range of useful thresholds */
  uint32_t num_exits;   /* >= 1: the range of max_exit (patience) */
} BeenetBudgetParams;

typedef struct {
  double target;        /* target in force */
  int active;           /* 1 when the controller sets the parameters */
  double average_cost;  /* EMA of the costs passed to update (0 before the
                           first) */
  float threshold;      /* entropy / max-probability / class-exclusion:
                           threshold in force; eenet: the budget in force */
  double max_exit;      /* patience: mean max_exit in force (continuous) */
  uint64_t windows;     /* updates since the last reset */
} BeenetBudgetState;

typedef struct BeenetBudget BeenetBudget;

/* Defaults (target off, gain 1, smoothing 20) with the model's number of
 * classes and exits (model NULL: 12 classes, 5 exits). */
BEENET_API void beenet_budget_params_default (const BeenetModel *model,
    BeenetBudgetParams *params);
/* INVALID_ARGUMENT with a message naming the field. */
BEENET_API BeenetStatus beenet_budget_params_validate (
    const BeenetBudgetParams *params, BeenetError *err);
BEENET_API BeenetStatus beenet_budget_new (const BeenetBudgetParams *params,
    BeenetBudget **out, BeenetError *err);
BEENET_API void beenet_budget_free (BeenetBudget *budget);
/* Live change of the target (the control state is kept, so the cost moves
 * smoothly to the new target).  INVALID_ARGUMENT outside (0, 1] or NaN;
 * values above 1 are taken as 1 (off). */
BEENET_API BeenetStatus beenet_budget_set_target (BeenetBudget *budget,
    double target, BeenetError *err);
/* Forget the control state and the average (a new stream). */
BEENET_API void beenet_budget_reset (BeenetBudget *budget);
/* Before a window: when the controller is on, replace params->threshold
 * (entropy, max-probability, class-exclusion), params->budget (eenet) or
 * lower params->max_exit (patience; a
 * caller's max_exit stays an upper bound) by the controlled value.  When it
 * is off, params is left as it is. */
BEENET_API void beenet_budget_apply (BeenetBudget *budget,
    BeenetPolicyParams *params);
/* After a window classified with the params of the last apply: feed its
 * cost (ops_fraction, [0, 1]; NaN ignored).  Returns the threshold for the
 * next window (patience: the mean max_exit). */
BEENET_API double beenet_budget_update (BeenetBudget *budget,
    double ops_fraction);
BEENET_API void beenet_budget_get_state (const BeenetBudget *budget,
    BeenetBudgetState *state);

/* ------------------------------------------------------------------------ */
/* Keyword detector                                                         */

/* Turns the per-window posteriors of a stream into keyword *detections*,
 * after TensorFlow micro_speech's RecognizeCommands (docs/engine.md,
 * "Keyword detection"):
 *
 *  - smoothing: each keyword's score is the mean of its probability over the
 *    windows pushed at times t_i with now - t_i <= smoothing (the latest
 *    window always counts; at most BEENET_DETECTOR_HISTORY windows);
 *  - a keyword fires when its score >= threshold, at least min_windows
 *    windows were averaged, it is *armed* and the refractory period since
 *    the last detection (of ANY keyword) has passed (now - last >=
 *    refractory);
 *  - firing disarms that keyword; it re-arms as soon as its score falls
 *    below the threshold.  So a keyword that stays above the threshold is
 *    reported once, and no keyword is reported within refractory of
 *    another detection;
 *  - at most one detection per push: the armed keyword with the highest
 *    score (lowest class index on ties).
 *
 * Which classes are keywords comes from the model (beenet.keywords, or
 * every label not starting with '_').
 *
 * Per-keyword thresholds: a model may carry one logit offset d_k per class
 * (beenet.detection.class_offsets, chosen on validation streams by the
 * trainer's tune-detection --per-class).  Keyword k then fires at
 * sigmoid(logit(threshold) + d_k) instead of threshold, so the one
 * threshold parameter still moves every keyword's threshold the same way
 * (at the model's own threshold each keyword gets the threshold it was
 * tuned to; a threshold of 1 is 1 for every keyword).  Without the key,
 * or for d_k = 0, keyword k fires at threshold itself. */

/* Built-in detection parameters, used when the model has no
 * beenet.detection.* keys. */
#define BEENET_DETECTOR_DEFAULT_THRESHOLD 0.7
#define BEENET_DETECTOR_DEFAULT_SMOOTHING_MS 500.0
#define BEENET_DETECTOR_DEFAULT_REFRACTORY_MS 1000.0
#define BEENET_DETECTOR_DEFAULT_MIN_WINDOWS 1u
/* The time between two window starts that the detection defaults assume
 * when a model does not state its own (beenet.detection.interval_ms), and
 * the range of that key. */
#define BEENET_DEFAULT_INTERVAL_MS 500.0
#define BEENET_MIN_INTERVAL_MS 10.0
#define BEENET_MAX_INTERVAL_MS 10000.0
/* Limits of the parameters (also enforced on the model keys). */
#define BEENET_DETECTOR_MAX_SMOOTHING_MS 10000.0
#define BEENET_DETECTOR_MAX_REFRACTORY_MS 60000.0
/* Largest magnitude of a per-class threshold offset (logit units). */
#define BEENET_DETECTOR_MAX_CLASS_OFFSET 16.0
/* Windows remembered for smoothing (allocated at creation): smoothing is
 * exact as long as the span holds at most this many windows, e.g. 10 s at
 * the element's smallest interval of 10 ms; beyond that the oldest windows
 * of the span are left out. */
#define BEENET_DETECTOR_HISTORY 1024u

typedef struct {
  double threshold;      /* (0, 1]: fire when the smoothed score >= it */
  double smoothing_ms;   /* [0, 10000]: average over the windows of the last
                            smoothing_ms (0 = the latest window only) */
  double refractory_ms;  /* [0, 60000]: no detection within refractory_ms
                            after one */
  uint32_t min_windows;  /* [1, BEENET_DETECTOR_HISTORY]: windows that must be
                            averaged before anything fires */
} BeenetDetectorParams;

typedef struct {
  uint32_t class_index;
  const char *label;     /* owned by the model */
  float score;           /* smoothed probability that crossed the threshold */
  int64_t time_ns;       /* time of the window that fired (as pushed) */
  uint32_t num_windows;  /* windows averaged into score */
} BeenetDetection;

typedef struct BeenetDetector BeenetDetector;

/* 1 if class i is a keyword, 0 if not (or i out of range / model NULL). */
BEENET_API int beenet_model_is_keyword (const BeenetModel *model, size_t i);
/* The model's detection parameters (beenet.detection.*), each falling back
 * to the built-in default when the model has no such key; model may be NULL
 * (all built-in defaults). */
BEENET_API void beenet_detector_params_default (const BeenetModel *model,
    BeenetDetectorParams *params);
/* Checks a parameter set (INVALID_ARGUMENT with a message naming the
 * field). */
BEENET_API BeenetStatus beenet_detector_params_validate (
    const BeenetDetectorParams *params, BeenetError *err);

/* The time between window starts (ms) the model's detection defaults were
 * chosen for (beenet.detection.interval_ms, else BEENET_DEFAULT_INTERVAL_MS):
 * smoothing and threshold are tuned on windows at that spacing, so a caller
 * that windows the audio itself should use it unless told otherwise.
 * 0 for a NULL model. */
BEENET_API double beenet_model_interval_ms (const BeenetModel *model);

/* Refined windows (docs/element.md, "Refined windows"): a caller that
 * windows a stream every interval also classifies the window starting half
 * an interval after a window whose
 * likeliest keyword has a probability above the refine level, so that
 * keyword candidates are seen at twice the rate while everything else costs
 * what it did.  The model's level (beenet.detection.refine_level, chosen
 * with the detection defaults), else BEENET_REFINE_OFF; BEENET_REFINE_OFF
 * for a NULL model. */
#define BEENET_REFINE_OFF 1.0
BEENET_API double beenet_model_refine_level (const BeenetModel *model);
/* The largest probability of a keyword class among the num_classes
 * probabilities (0 when the model has no keywords or a pointer is NULL):
 * what the refine level is compared with. */
BEENET_API double beenet_model_keyword_peak (const BeenetModel *model,
    const float *probabilities, uint32_t num_classes);

/* The logit offset of class i's detection threshold (beenet.h, "Per-keyword
 * thresholds"): 0 when the model has none, i is out of range or model is
 * NULL. */
BEENET_API double beenet_model_detection_class_offset (
    const BeenetModel *model, size_t i);

/* A detector holds a reference on the model.  params NULL = the model's
 * defaults.  Allocates its whole history here; pushing allocates nothing. */
BEENET_API BeenetStatus beenet_detector_new (BeenetModel *model,
    const BeenetDetectorParams *params, BeenetDetector **out,
    BeenetError *err);
BEENET_API void beenet_detector_free (BeenetDetector *detector);
/* Live change; takes effect at the next push (the history is kept, so a
 * longer smoothing immediately averages the remembered older windows). */
BEENET_API BeenetStatus beenet_detector_set_params (BeenetDetector *detector,
    const BeenetDetectorParams *params, BeenetError *err);
BEENET_API void beenet_detector_get_params (const BeenetDetector *detector,
    BeenetDetectorParams *params);
/* The threshold class i fires at under the detector's current parameters
 * (the threshold with the model's offset of class i applied); 0 for a
 * non-keyword, an out-of-range i or a NULL detector. */
BEENET_API double beenet_detector_class_threshold (
    const BeenetDetector *detector, size_t i);
/* Forget the history, the last detection and re-arm every keyword (a new
 * stream: discontinuity, flush, seek).  Times may restart anywhere. */
BEENET_API void beenet_detector_reset (BeenetDetector *detector);
/* Push the posteriors (num_classes probabilities in [0, 1], e.g.
 * BeenetResult.probabilities) of the window at time_ns, which must be
 * strictly greater than the previous push since the last reset.  Sets
 * *detected to 1 and fills *detection when a keyword fires, else 0.
 * Errors (state unchanged, *detected = 0): INVALID_ARGUMENT for NULL
 * pointers, num_classes != the model's, time not increasing or a
 * probability outside [0, 1]; NONFINITE for NaN/Inf probabilities. */
BEENET_API BeenetStatus beenet_detector_push (BeenetDetector *detector,
    int64_t time_ns, const float *probabilities, uint32_t num_classes,
    BeenetDetection *detection, int *detected, BeenetError *err);

#ifdef __cplusplus
}
#endif
#endif /* BEENET_H */
