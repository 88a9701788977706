/* The soak test's reference model of the beenet element's windowing
 * (docs/element.md, "Windowing", "Caps" and "Live model swap"), written
 * from the documented rules, independently of the element's code:
 *
 *  - the input is converted to mono at the model's rate; the element hands
 *    over samples as its GstAudioConverter produces them, never more than
 *    ceil(input frames * model rate / input rate) per caps piece, and that
 *    many exactly once the piece is drained (new caps or EOS).  Only the
 *    *count* of samples the converter produces after each buffer is taken
 *    from a second GstAudioConverter of the same configuration fed with
 *    silence (the element's chunking, 4096 output frames at most);
 *  - window k starts k intervals after sample 0; the gap after a window
 *    is the interval read at the start of the buffer that completed it
 *    (at EOS: the interval in force then; in the drain of a caps change:
 *    the last buffer's);
 *  - a pending model is swapped in right after the next window (not at
 *    EOS), the next window then starts where that one ended, and the
 *    first window of the new model is announced by a "beenet-model"
 *    message; at the first buffer of a (re)started stream a pending model
 *    is swapped in before any window;
 *  - at EOS the trailing windows with at least half a window of audio are
 *    posted, zero-padded, or one window with at least a tenth when the
 *    windower never delivered one;
 *  - DISCONT (after the first buffer), FLUSH_STOP, STREAM_START and EOS
 *    restart everything at the next buffer, whose PTS is sample 0.
 *
 * The expected messages go to a queue that the soak program compares with
 * what the element posts. */
#ifndef SOAK_REF_H
#define SOAK_REF_H

#include <gst/gst.h>
#include <gst/audio/audio.h>

typedef enum
{
  SOAK_MSG_WINDOW,              /* a "beenet" message */
  SOAK_MSG_MODEL                /* a "beenet-model" message */
} SoakMsgKind;

typedef struct
{
  SoakMsgKind kind;
  GstClockTime timestamp;
  GstClockTime duration;        /* SOAK_MSG_WINDOW only */
} SoakExpected;

typedef struct
{
  guint model_rate;
  guint64 window;               /* samples per window at the model's rate */

  /* the caps piece */
  GstAudioInfo info;
  GstAudioConverter *conv;      /* NULL: F32 mono at the model's rate */
  gsize chunk;
  guint8 *silence;
  gfloat *out;
  gsize out_frames;
  gpointer *planes;
  guint64 in_total, out_total;

  /* the windower */
  gboolean need_base;
  GstClockTime base_ts;
  guint64 origin;               /* model samples from base_ts to sample 0 */
  guint64 pos;                  /* samples since origin */
  guint64 next_start;
  guint64 interval;             /* samples, read per buffer */
  gboolean post;                /* post-messages, read per window */
  gboolean pending_model, announce, finishing;

  GQueue expected;              /* of SoakExpected */
  guint64 windows, posted, swaps, pieces;
} SoakRef;

void soak_ref_init (SoakRef * r, guint model_rate, guint64 window);
void soak_ref_clear (SoakRef * r);
/* Caps event: drains the old piece (if the stream had a buffer) */
void soak_ref_caps (SoakRef * r, const GstAudioInfo * info);
/* STREAM_START, FLUSH_STOP */
void soak_ref_reset (SoakRef * r);
/* A buffer of `frames` frames; interval in ns as the property was when
 * pushed, discont as flagged, pts of the buffer (may be NONE), seg_start
 * the segment start (the base when pts is NONE). */
void soak_ref_buffer (SoakRef * r, guint64 frames, guint64 interval_ns,
    gboolean discont, GstClockTime pts, GstClockTime seg_start);
void soak_ref_eos (SoakRef * r, guint64 interval_ns);
void soak_ref_set_post (SoakRef * r, gboolean post);
void soak_ref_set_model (SoakRef * r);
/* Pops the next expected message; FALSE if none */
gboolean soak_ref_pop (SoakRef * r, SoakExpected * e);

#endif /* SOAK_REF_H */
