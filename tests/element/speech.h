/* Real speech for the element tests: espeak-ng's WAV output read back,
 * resampled with GStreamer's converter.  Every helper fails the running
 * check test on error.
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef BEENET_TEST_SPEECH_H
#define BEENET_TEST_SPEECH_H

#include <glib.h>

G_BEGIN_DECLS

/* Mono float samples of a 16-bit PCM WAV file, NULL if unreadable. */
gfloat *speech_read_wav (const gchar * path, gint * rate, gsize * n);
/* Resamples mono float audio with GStreamer's converter (Kaiser, as
 * audioresample), drained so the output covers the whole input. */
gfloat *speech_resample (const gfloat * in, gsize n, gint in_rate,
    gint out_rate, gsize * out_n);
/* `text` said by espeak-ng with `voice` (NULL: its default) and the extra
 * NULL-ended espeak-ng arguments, as mono float at 16 kHz; NULL when
 * espeak-ng is not installed. */
gfloat *speech_espeak_16k (const gchar * voice, const gchar * text,
    gsize * n, ...) G_GNUC_NULL_TERMINATED;

G_END_DECLS

#endif /* BEENET_TEST_SPEECH_H */
