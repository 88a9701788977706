/* Internal model, node and op-descriptor types (see docs/engine.md). */
#ifndef BEENET_MODEL_PRIVATE_H
#define BEENET_MODEL_PRIVATE_H

#include "beenet-private.h"
#include "gguf.h"
#include "kernels.h"

#include <stdatomic.h>

/* Limits enforced by the loader (beyond docs/model-format.md) so a corrupt
 * file cannot request absurd allocations or overflow the int32/float
 * accumulators of the kernels. */
#define BEENET_MAX_NODES 4096u
#define BEENET_MAX_EXITS 64u
#define BEENET_MAX_CLASSES 1024u
#define BEENET_MAX_WINDOW_DIM 65536u           /* kernel/stride/padding */
#define BEENET_MAX_CHANNELS 65536u
#define BEENET_MAX_ACT_ELEMENTS (1u << 26)     /* per activation */
#define BEENET_MAX_TOTAL_ACT_ELEMENTS (1ull << 27)
#define BEENET_MAX_BINARY_FANIN (1u << 24)     /* kh*kw*Cin exact in float */
#define BEENET_MAX_INPUTS 1024u                /* per node (concat) */

typedef struct {
  uint32_t h, w, c;
} BeenetShape;

static inline size_t
beenet_shape_size (BeenetShape s)
{
  return (size_t) s.h * s.w * s.c;
}

typedef struct BeenetOpDesc BeenetOpDesc;

typedef struct {
  const BeenetOpDesc *op;
  uint32_t index;
  uint32_t n_inputs;
  uint32_t *inputs;          /* n_inputs activation ids (owned) */
  BeenetShape in;            /* shape of inputs[0] */
  BeenetShape out;
  /* Windowed ops. */
  uint32_t kh, kw, sh, sw, ph, pw;
  uint32_t groups;
  uint32_t out_channels;
  bool relu;
  /* Weighted ops: expected weight tensor (filled by the op's infer). */
  uint32_t weight_type;      /* GGUF_TENSOR_F32 or GGUF_TENSOR_I32 */
  uint32_t weight_ndims;
  uint64_t weight_ne[4];
  const float *weight_f;     /* F32 weights */
  const uint32_t *weight_b;  /* packed binary weights */
  const float *scale, *bias;
  /* Weights rearranged once at load for the kernels (kernels.h layouts;
   * owned, 64-byte aligned, NULL for ops without weights). */
  void *prep;
  uint32_t words;            /* binary ops: ceil(Cin/32) */
  /* Costs (docs/model-format.md "Operation counts"). */
  uint64_t bops, flops;
  uint32_t exit_number;      /* 1-based for exit nodes, else 0 */
  /* Op-owned parameters: op->params_size zeroed bytes allocated by the
   * loader, filled by op->parse, freed with the model (NULL when the op
   * has none). */
  void *params;
  /* Residual fusion (beenet_model_fuse, at load): a bconv2d whose output
   * only feeds the `add` node right after it adds that node's other input
   * (activation res_act) in its output transform and writes the add's
   * output activation (index + 2) directly; the add node is then
   * fused_away and does nothing when run. */
  bool fused_res;
  bool res_relu;
  uint32_t res_act;
  bool fused_away;
} BeenetNode;

/* What an op's parse function may read: the node's own keys
 * ("beenet.node.<i>.<field>") of a file of the given format version. */
typedef struct {
  const GgufFile *f;
  uint32_t node;
  uint32_t version;
} BeenetNodeKeys;

/* Optional u32 key of the node; *out untouched when absent.  Fails when
 * present with another type or outside [lo, hi]. */
BeenetStatus beenet_node_u32 (const BeenetNodeKeys *k, const char *field,
    bool required, uint32_t lo, uint32_t hi, uint32_t *out,
    BeenetError *err);

/* FLOPs the pcen op counts per value (docs/model-format.md "Operation
 * counts"; model.PCEN_FLOPS_PER_VALUE in the trainer). */
#define BEENET_PCEN_FLOPS_PER_VALUE 15
/* FLOPs the noise_floor op counts per value: the copy and the selection's
 * expected comparisons (3), the subtraction (1); model.NOISE_FLOOR_FLOPS_PER_VALUE. */
#define BEENET_NOISE_FLOOR_FLOPS_PER_VALUE 4

/* Required f32 key of the node, finite and in [lo, hi]. */
BeenetStatus beenet_node_f32 (const BeenetNodeKeys *k, const char *field,
    float lo, float hi, float *out, BeenetError *err);

/* Execution context handed to run functions. */
typedef struct {
  const BeenetKernels *k;
  float *const *acts;        /* activation buffers, index = activation id */
  const BeenetShape *shapes; /* activation shapes, same index */
  uint32_t *bits;            /* packed-sign scratch */
} BeenetRunCtx;

enum {
  BEENET_OPF_WINDOW = 1 << 0,       /* kernel, stride, padding keys */
  BEENET_OPF_GROUPS = 1 << 1,       /* groups key (required) */
  BEENET_OPF_GROUPS_OPT = 1 << 2,   /* groups key (optional, default 1;
                                       must be 1 in format version 1) */
  BEENET_OPF_OUT_CHANNELS = 1 << 3, /* out_channels key */
  BEENET_OPF_ACTIVATION = 1 << 4,   /* activation key */
  BEENET_OPF_WEIGHTS = 1 << 5,      /* weight, scale, bias tensors */
  BEENET_OPF_BINARY = 1 << 6,       /* weight is packed bits (tail check) */
  BEENET_OPF_EXIT = 1 << 7,
};

/* One entry per op: everything the loader and the interpreter need. */
struct BeenetOpDesc {
  const char *name;
  uint32_t min_inputs, max_inputs;
  uint32_t min_version;      /* first beenet.format_version with the op */
  unsigned flags;
  /* Op-owned parameters (after TFLite Micro's init: op-private data):
   * bytes the loader allocates for node->params, and the function reading
   * the op's own keys into them (both 0/NULL: none).  Called before
   * infer. */
  size_t params_size;
  BeenetStatus (*parse) (BeenetNode *n, const BeenetNodeKeys *keys,
      BeenetError *err);
  /* Check the input shapes (node->in and the activation shapes), compute
   * node->out, and for weighted ops the expected weight tensor shape. */
  BeenetStatus (*infer) (BeenetNode *n, const BeenetShape *acts,
      uint32_t n_classes, BeenetError *err);
  /* BOPs and FLOPs (may saturate; the loader checks overflow). */
  bool (*cost) (const BeenetNode *n, uint64_t *bops, uint64_t *flops);
  /* uint32 words of packed-sign scratch the node needs. */
  size_t (*scratch_words) (const BeenetNode *n);
  void (*run) (const BeenetRunCtx *ctx, const BeenetNode *n);
  /* Allocate and fill node->prep from the file's weights (NULL: the op
   * has no weights).  Called once at load, after infer. */
  BeenetStatus (*prepare) (BeenetNode *n, BeenetError *err);
};

/* Op table lookups: NULL if unknown.  `reserved` is set for names reserved
 * for later format versions. */
const BeenetOpDesc *beenet_op_lookup (GgufStr name, bool *reserved);

/* EENet scheduler (beenet.eenet.*, engine/eenet.c, docs/model-format.md):
 * per exit e a one-hidden-layer MLP on n_inputs = BEENET_EENET_MEASURES +
 * n_classes inputs (the confidence measures, then the class-wise
 * probabilities), ReLU, one sigmoid output; thresholds[b * n_exits + e] is
 * exit e's threshold at budgets[b].  One allocation, owned by the model. */
#define BEENET_EENET_MEASURES 4u
#define BEENET_EENET_MAX_HIDDEN 64u
#define BEENET_EENET_MAX_BUDGETS 64u

typedef struct {
  uint32_t hidden, n_inputs, n_exits, n_budgets;
  float *w1;          /* n_exits * hidden * n_inputs */
  float *b1, *w2;     /* n_exits * hidden */
  float *b2;          /* n_exits */
  float *budgets;     /* n_budgets, strictly increasing in (0, 1] */
  float *thresholds;  /* n_budgets * n_exits */
} BeenetEENet;

/* Reads beenet.eenet.* into m->eenet (left NULL when the file has none;
 * CORRUPT when present but inconsistent, or absent for a file whose
 * beenet.policy is eenet).  Needs the graph (n_exits, n_classes). */
BeenetStatus beenet_eenet_parse (BeenetModel *m, const GgufFile *f,
    BeenetError *err);
/* Utility score q in (0, 1) of exit `exit_number` (1-based) for the
 * measures and the n_classes probabilities. */
double beenet_eenet_score (const BeenetEENet *s, uint32_t exit_number,
    const double *measures, const float *probs);
/* Threshold of exit `exit_number` at `budget` (linear between the two
 * nearest stored budgets, the nearest outside their range). */
double beenet_eenet_threshold (const BeenetEENet *s, float budget,
    uint32_t exit_number);

struct BeenetModel {
  atomic_int refcount;
  uint8_t *data;             /* owned, aligned copy of the file */
  size_t size;
  char *name;
  char *description;
  char *task;                /* beenet.task (or beenet.training.task), NULL */
  char *architecture;        /* beenet.architecture, NULL when absent */
  uint32_t n_classes;
  char **labels;
  BeenetFrontendConfig fe;
  const float *mean, *inv_std;
  uint32_t format_version;   /* of the file */
  BeenetPolicy policy;
  float threshold;
  uint32_t keyword_exit;     /* beenet.keyword_exit, 0 when absent */
  uint8_t *is_keyword;       /* n_classes flags (beenet.keywords or labels) */
  BeenetDetectorParams detection; /* beenet.detection.* or built-in defaults */
  double interval_ms;        /* beenet.detection.interval_ms or the default */
  double refine_level;       /* beenet.detection.refine_level or
                                BEENET_REFINE_OFF */
  float *class_offsets;      /* n_classes logit offsets of the detection
                                threshold (beenet.detection.class_offsets)
                                or NULL: one threshold for every keyword */
  float *exclusion_factors;  /* n_exits (beenet.class_exclusion.factors) or
                                NULL: the model has none */
  const struct BeenetExclusionScore *exclusion_score; /* never NULL
                                (beenet.class_exclusion.score or softmax) */
  BeenetEENet *eenet;        /* beenet.eenet.* or NULL: the model has none */
  uint32_t n_nodes, n_exits;
  BeenetNode *nodes;
  BeenetShape *act_shapes;   /* n_nodes + 1 */
  uint32_t *exit_nodes;      /* node index of exit e (0-based e) */
  uint64_t *cum_bops, *cum_flops; /* per node: sum over nodes 0..i */
  uint64_t total_bops, total_flops;
  size_t scratch_words;
  size_t total_act_elements;
  const BeenetKernels *kernels;
};

/* Fold each `add` that follows a bconv2d into it (see BeenetNode) unless
 * the environment variable BEENET_FUSE=off (read at load, for
 * comparisons).  Changes no result bit. */
void beenet_model_fuse (BeenetModel *m);

/* Time (node index + 1, 0 = normalisation) at which activation a is
 * written: a, or a - 1 for the output of a fused-away add. */
static inline uint32_t
beenet_act_written (const BeenetModel *m, uint32_t a)
{
  return a >= 2 && m->nodes[a - 1].fused_away ? a - 1 : a;
}

/* Softmax of n logits into probs (stable); returns the entropy in nats
 * (0 ln 0 = 0) computed in double. */
double beenet_softmax_entropy (const float *logits, uint32_t n, float *probs);

#endif
