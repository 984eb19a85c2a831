"""The domain classifier: a small CNN for the benchmark's own domain (1x32x32 or 1x28x28
grayscale, 10 classes), kept apart by job: ``config`` (the recipe, the format tag, the
accuracy bars), ``network``, ``inputs``, ``training``, ``inference`` and ``io`` (the
weights file). Import from those modules; this one imports nothing, so a stage that only
runs the trained network does not load (or depend on) the training code.

Inception features describe ImageNet photographs; for 32x32 grayscale clothing or
digits a classifier trained on the dataset itself gives features (its penultimate
layer) and class predictions that are cheap to compute and meaningful for the domain:
the predictions feed :mod:`ganbench.metrics.coverage`, the features can feed FD, KID
or precision/recall.

Network (``width`` w, ``feature_dim`` F, ``crop`` 28)::

    central 28x28 crop of the 32x32 input (the rest is -1 padding)
    conv3x3(C->w)   BN ReLU maxpool2   28x28 -> 14x14
    conv3x3(w->2w)  BN ReLU maxpool2   14x14 ->  7x7
    conv3x3(2w->4w) BN ReLU maxpool2    7x7  ->  4x4 (ceil mode)
    flatten -> linear(16*4w -> F) BN ReLU      <- features (F-d)
    dropout -> linear(F -> classes)            <- logits

Training: AdamW with a one-cycle learning-rate schedule, label smoothing, and random
translations of up to ``translate`` pixels (the canvas is padded with -1, the
background, as in preprocessing); no flips, so the same recipe suits digits.  Images
are float32 ``N x C x 32 x 32`` in [-1, 1] exactly as ``ganbench.data.preprocess``
writes them.  Training seeds its own RNG state inside ``torch.random.fork_rng`` and a
dedicated generator for shuffling and augmentation, so it is deterministic on CPU for
a given seed and thread count and leaves the caller's RNG untouched.

Checkpoints are plain ``torch.save`` dicts (config, state_dict, metrics, a format tag)
written atomically and read back with ``torch.load(weights_only=True)``; anything
unreadable becomes one :class:`~ganbench.errors.CheckpointError` line.
"""
