/* Load-time graph rewrite: residual adds folded into the binary conv that
 * feeds them (see BeenetNode in model-private.h and BeenetOutput in
 * kernels.h).  QuickNet-style blocks are `bconv2d -> add(x, conv)`; the
 * add would be a separate pass reading two activations and writing a
 * third, while the conv's output transform already holds each output in a
 * register. */
#include "model-private.h"

#include <stdlib.h>
#include <string.h>

/* Whether node i is a bconv2d whose output (activation i + 1) is read by
 * nobody but the add node right after it, as exactly one of its inputs
 * (n_readers: how many node inputs read each activation), and that add is
 * a plain one: both inputs of one shape (no channel-offset add of format
 * version 2, which the output transform does not express). */
static bool
fusable (const BeenetModel *m, const uint32_t *n_readers, uint32_t i)
{
  const BeenetNode *c = &m->nodes[i], *a = &m->nodes[i + 1];
  if (strcmp (c->op->name, "bconv2d") != 0 || strcmp (a->op->name, "add") != 0)
    return false;
  const bool first = a->inputs[0] == i + 1, second = a->inputs[1] == i + 1;
  const BeenetShape x = m->act_shapes[a->inputs[0]];
  const BeenetShape y = m->act_shapes[a->inputs[1]];
  return first != second && n_readers[i + 1] == 1 && x.h == y.h
      && x.w == y.w && x.c == y.c;
}

void
beenet_model_fuse (BeenetModel *m)
{
  const char *env = getenv ("BEENET_FUSE");
  if (env && strcmp (env, "off") == 0)
    return;
  /* Out of memory here only means no fusion: results are the same. */
  uint32_t *n_readers = calloc ((size_t) m->n_nodes + 1, sizeof (uint32_t));
  if (!n_readers)
    return;
  for (uint32_t i = 0; i < m->n_nodes; i++)
    for (uint32_t k = 0; k < m->nodes[i].n_inputs; k++)
      n_readers[m->nodes[i].inputs[k]]++;
  for (uint32_t i = 0; i + 1 < m->n_nodes; i++) {
    if (!fusable (m, n_readers, i))
      continue;
    BeenetNode *c = &m->nodes[i], *a = &m->nodes[i + 1];
    c->fused_res = true;
    c->res_act = a->inputs[0] == i + 1 ? a->inputs[1] : a->inputs[0];
    c->res_relu = a->relu;
    a->fused_away = true;
    i++;
  }
  free (n_readers);
}
