"""The training-time metric: cheap enough to run every few kimg, on the domain's own
features, so that a run's curve shows when it improved and the best checkpoint can be kept.

``fd_domain{N}``: the Fréchet distance between the domain classifier's features of
``N`` samples from fixed latents (and fixed noise) and those of the probe reference, the
first images of the *training* split (the ``probe-reference`` stage: what is chosen
during training, ``best.pt`` included, never sees the test split). The same latents at
every evaluation make the curve compare like with like, and the samples are drawn in the
BatchNorm mode the sample stage uses (``sample.batchnorm``)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganbench.errors import DataError
from ganbench.io import sha256_file
from ganbench.classifier.inference import features_and_predictions
from ganbench.classifier.io import load_classifier
from ganbench.metrics.frechet import frechet_distance
from ganbench.metrics.reference import feature_stats, load_reference
from ganbench.metrics.registry import with_n
from ganbench.sampling.generate import generate
from ganbench.sampling.latents import derived_seed, labels, latents, noise_generator


class DomainProbe:
    """``probe(G) -> {"fd_domain2k": value}`` for a generator G (uint8 samples drawn with
    ``batchnorm`` statistics, as :func:`~ganbench.sampling.generate.generate` does; the
    caller's RNG is untouched)."""

    def __init__(self, classifier: Path, reference: Path, num: int, seed: int, z_dim: int,
                 num_classes: int, device: torch.device, batch_size: int = 500,
                 batchnorm: str = "running") -> None:
        self.model, _, _ = load_classifier(classifier)
        fix = "re-run `dvc repro probe-reference`"
        ref = load_reference(reference, fix)
        split = ref.meta.get("reference_split")
        if split != "train":
            raise DataError(f"the training-time evaluation's reference {reference} holds {split} images; it "
                            "must hold training images (the test split decides nothing chosen during "
                            f"training): pass data/probe-reference/features.npz, or {fix}")
        if ref.meta.get("weights_sha256") != sha256_file(classifier):
            raise DataError(f"reference {reference} was made with another domain classifier than {classifier}; "
                            f"{fix}")
        self.mu, self.sigma = ref.mu, ref.sigma
        probe_seed = derived_seed(seed, "probe")
        self.z = latents(num, z_dim, probe_seed)
        self.c = labels(num, num_classes)
        self.noise_seed = probe_seed
        self.device = device
        self.batch_size = batch_size
        self.batchnorm = batchnorm
        self.name = with_n("fd_domain", num)

    def __call__(self, G: nn.Module) -> dict[str, float]:
        images = generate(G, self.z, self.c, batch_size=self.batch_size, device=self.device,
                          noise=noise_generator(self.noise_seed), batchnorm=self.batchnorm)
        feats, _ = features_and_predictions(self.model, images)
        mu, sigma = feature_stats(feats)
        return {self.name: frechet_distance(mu, sigma, self.mu, self.sigma)}
