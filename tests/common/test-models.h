/* Model builders for tests and benchmarks (not part of the engine).
 *
 * Two levels:
 *  1. Ready-made models returned as malloc'd GGUF bytes (free() them):
 *       test_models_constant_exits()  exits that always output given logits
 *       test_models_realistic()       a QuickNet-like KWS network
 *  2. TestModel, a small graph builder that writes a valid beenet model
 *     node by node (it infers shapes itself, independently of the engine)
 *     and returns a GgufWriter so tests can still corrupt it.
 *
 * All builders use the default front-end (beenet_frontend_config_default:
 * 16 kHz, 98 frames x 64 Mel bins), labels "class0".."class<K-1>",
 * normalisation mean 0 / inv_std 1, policy "entropy", threshold 0.5.
 * Random weights come from a fixed-seed LCG, so every build is identical. */
#ifndef TEST_MODELS_H
#define TEST_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "gguf-writer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A model with `n_exits` exits and `n_classes` classes (2..1024) whose exit
 * e (0-based) ALWAYS outputs exactly logits[e * n_classes + k], whatever the
 * input: each exit is global_avgpool -> dense (all-zero weights, scale 1,
 * bias = logits) -> exit.  Between exits the trunk does real conv2d/bconv2d
 * work (stem conv2d 3x3/2 to 8 channels, then one 3x3 bconv2d per exit), so
 * the executed-operations fraction grows with the exit depth.  Returns
 * malloc'd model bytes and stores their length in *size. */
uint8_t *test_models_constant_exits (unsigned n_exits, unsigned n_classes,
    const float *logits, size_t *size);
/* Same, as a writer (caller gguf_writer_free()s), for tests that corrupt it. */
GgufWriter *test_models_constant_exits_writer (unsigned n_exits,
    unsigned n_classes, const float *logits);

/* A realistic BEENet-style KWS model with random weights (seed `seed`):
 * stem conv2d 3x3 stride (2,2) 1->16 on 98x64 (-> 49x32), then blocks of
 * 3x3 bconv2d with residual adds at 32 ch (49x32), 64 ch (25x16) and
 * 128 ch (13x8) with stride-2 transitions (maxpool + 1x1 conv2d shortcut),
 * and 5 exits (global_avgpool -> bdense/dense -> exit), 12 classes. */
uint8_t *test_models_realistic (uint32_t seed, size_t *size);

/* A 4-class model whose class follows the input level ("level model"):
 * global_avgpool of the log-Mel features (their mean m) -> dense 1 -> 4 ->
 * exit, with logits  class0: 0,  class1: -1000,  class2: 20 m + 95,
 * class3: 10 m + 90.  Measured m: silence -13.8, white noise of amplitude
 * 0.01 about -4.4, amplitude 0.5 about +3.4, so
 *   silence            -> class 0  (logit margin >= 48)
 *   noise, amp. 0.01   -> class 3  (margin >= 39)
 *   noise, amp. 0.5    -> class 2  (margin >= 38)
 * and the softmax saturates (probability 1.0f for the class of a window of
 * one level).  `labels` (4 entries) replaces class0..class3. */
GgufWriter *test_models_level_writer (const char *const *labels);

/* ---------------------------------------------------------------------- */
/* Graph builder                                                          */

typedef struct TestModel TestModel;

/* n_classes labels "class0"...; the feature map (activation 0) has shape
 * (98, 64, 1). */
TestModel *test_model_new (unsigned n_classes);
/* Same with a custom feature map size (n_frames x n_mels), for small
 * tests; the front-end keys are adapted (window_samples stays 16000, hop
 * 160, frame 400, so n_frames <= 98). */
TestModel *test_model_new_with_shape (unsigned n_classes, unsigned n_frames,
    unsigned n_mels);
void test_model_free (TestModel *m);

/* Deterministic pseudo-random numbers (shared by tests). */
uint32_t test_rand_u32 (uint32_t *state);
/* Uniform in [-1, 1). */
float test_rand_float (uint32_t *state);

/* Shape of activation `act` (returns 0 on success, -1 if unknown). */
int test_model_shape (const TestModel *m, int act, unsigned *h, unsigned *w,
    unsigned *c);
unsigned test_model_num_activations (const TestModel *m);
unsigned test_model_num_exits (const TestModel *m);

/* Each node adder returns the activation index it writes, or -1 if the
 * shapes are invalid (the builder refuses to write an invalid model).
 * Weight/scale/bias pointers may be NULL: random weights (uniform [-1,1)),
 * scale 1 + small random, bias small random, from the model's RNG.
 * Layouts are exactly those of docs/model-format.md. */
int test_model_conv2d (TestModel *m, int input, unsigned kh, unsigned kw,
    unsigned sh, unsigned sw, unsigned ph, unsigned pw, unsigned groups,
    unsigned cout, int relu, const float *weight, const float *scale,
    const float *bias);
int test_model_bconv2d (TestModel *m, int input, unsigned kh, unsigned kw,
    unsigned sh, unsigned sw, unsigned ph, unsigned pw, unsigned cout,
    int relu, const uint32_t *weight, const float *scale, const float *bias);
int test_model_add (TestModel *m, int a, int b, int relu);
/* Format version 2 (the builder then writes beenet.format_version 2):
 * grouped binary conv (Cin/groups channels per group; weight
 * [ceil(Cin/groups/32)][kw][kh][Cout] words), add of b onto channels
 * [channel_offset, channel_offset + C_b) of a, concat of n activations
 * along channels, and a slice of `channels` channels from
 * channel_offset. */
int test_model_bconv2d_grouped (TestModel *m, int input, unsigned kh,
    unsigned kw, unsigned sh, unsigned sw, unsigned ph, unsigned pw,
    unsigned groups, unsigned cout, int relu, const uint32_t *weight,
    const float *scale, const float *bias);
int test_model_add_at (TestModel *m, int a, int b, unsigned channel_offset,
    int relu);
int test_model_concat (TestModel *m, const int *inputs, unsigned n);
int test_model_slice (TestModel *m, int input, unsigned channel_offset,
    unsigned channels);
/* Format version 3: pcen of a one-channel activation; weight rows alpha,
 * delta, r, gain, offset of w values each (5 * w floats), node scale and
 * bias one value each (all required). */
int test_model_pcen (TestModel *m, int input, float smooth, float eps,
    const float *weight, float scale, float bias);
/* Format version 4: noise_floor of a one-channel activation (rank: the
 * 0-based rank of each column's floor among the frames). */
int test_model_noise_floor (TestModel *m, int input, unsigned rank, int relu);
int test_model_maxpool (TestModel *m, int input, unsigned kh, unsigned kw,
    unsigned sh, unsigned sw, unsigned ph, unsigned pw);
int test_model_avgpool (TestModel *m, int input, unsigned kh, unsigned kw,
    unsigned sh, unsigned sw, unsigned ph, unsigned pw);
int test_model_global_avgpool (TestModel *m, int input);
int test_model_dense (TestModel *m, int input, unsigned cout, int relu,
    const float *weight, const float *scale, const float *bias);
int test_model_bdense (TestModel *m, int input, unsigned cout, int relu,
    const uint32_t *weight, const float *scale, const float *bias);
/* Input must be (1, 1, n_classes). */
int test_model_exit (TestModel *m, int input);

/* Change the number of classes (labels) before any exit is added; returns
 * 0, or -1 if an exit already exists or n is outside 2..1024. */
int test_model_set_num_classes (TestModel *m, unsigned n_classes);

/* Set frontend.mean / frontend.inv_std (n_mels values each; copied). */
void test_model_set_normalisation (TestModel *m, const float *mean,
    const float *inv_std);
void test_model_set_policy (TestModel *m, const char *policy, float threshold);

/* Write the global keys (labels, counts, front-end) and return the writer
 * (ownership moves to the caller); frees m. */
GgufWriter *test_model_finish (TestModel *m);
/* test_model_finish + serialise + free the writer. */
uint8_t *test_model_finish_bytes (TestModel *m, size_t *size);

#ifdef __cplusplus
}
#endif
#endif
