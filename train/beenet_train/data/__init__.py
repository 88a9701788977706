"""KWS data pipeline: GSC-layout reader, synthetic corpus, augmentation."""
