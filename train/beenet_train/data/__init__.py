"""KWS data pipeline for gst-beenet.

* :mod:`.gsc`     -- reader for the Google Speech Commands v2 layout (real or synthetic)
* :mod:`.synth`   -- synthetic KWS-12 corpus in that layout (eSpeak NG, flite, festival)
* :mod:`.augment` -- on-the-fly waveform augmentation
* :mod:`.sounds`  -- recorded non-speech sounds from Debian packages, split by recording
* :mod:`.voices`  -- voice inventory, by-voice split, held-out eSpeak voices
* :mod:`.audio`   -- WAV I/O and resampling helpers

See docs/data.md.
"""

from .gsc import (KWS12_LABELS, KWS12_KEYWORDS, Example, load_gsc,  # noqa: F401
                  load_background_noise, load_example, silence_wave, read_wav)
from .voices import heldout_espeak_voices  # noqa: F401

__all__ = ["KWS12_LABELS", "KWS12_KEYWORDS", "Example", "load_gsc", "load_background_noise",
           "load_example", "silence_wave", "read_wav", "heldout_espeak_voices",
           "Augmenter", "AugmentConfig"]


def __getattr__(name):
    # lazy, so `python3 -m beenet_train.data.augment` does not import itself twice
    if name in ("Augmenter", "AugmentConfig"):
        from . import augment
        return getattr(augment, name)
    raise AttributeError(name)
