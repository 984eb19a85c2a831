"""The trained generator as an MLflow model: latents in, images out.

The train stage logs the sampling generator of its last checkpoint (the EMA generator, or
the trained weights when the run has no EMA) with ``mlflow.pytorch.log_model`` as an
output of the run at its last generator step. ``mlflow.pytorch.load_model`` gives a
:class:`GeneratorModel`; called with latents ``z`` (float32 ``(N, z_dim)``) it returns the
uint8 images ``(N, C, H, W)`` that ``ganbench generate`` draws from the same latents:
the same batches, running BatchNorm statistics, no truncation, a conditional model's
classes one row per class, and with ``seed`` the per-layer noise of noise-driven
generators (StyleGAN) from the stream of ``ganbench generate --seed``; without it they
draw their own. Through ``mlflow.pyfunc`` the seed is the inference param ``seed``.

The model is pickled (MLflow's ``serialization_format="pickle"``): loading it runs
ganbench's generator classes, so it needs the ganbench package, like a checkpoint.
MLflow's default, a ``torch.export`` graph, would capture neither the noise stream nor
the batching.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

#: The logged model's name, and the tag that says which weights it holds.
MODEL_NAME = "generator"
NO_SEED = -1


class GeneratorModel(nn.Module):
    """A sampling generator behind ``ganbench generate``'s drawing rules (module docstring)."""

    def __init__(self, G: nn.Module, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.G = G
        self.num_classes = int(num_classes)
        self.image_shape = tuple(int(s) for s in image_shape)

    @property
    def z_dim(self) -> int:
        return int(self.G.z_dim)

    def forward(self, z: Tensor, seed: int = NO_SEED) -> Tensor:
        from ganbench.sampling.generate import generate
        from ganbench.sampling.latents import class_rows, noise_generator

        z = torch.as_tensor(z, dtype=torch.float32)
        c = class_rows(len(z), self.num_classes)[0] if self.num_classes else None
        noise = noise_generator(int(seed)) if seed is not None and int(seed) >= 0 else None
        return torch.from_numpy(generate(self.G, z, c, device=z.device, noise=noise))


def generator_model(checkpoint: Path) -> tuple[GeneratorModel, str]:
    """The model of ``checkpoint`` and which weights it holds (``ema`` or ``raw``)."""
    from ganbench.models.checkpoint import load_checkpoint, sampling_generator

    ckpt = load_checkpoint(checkpoint)
    which = "ema" if ckpt.get("G_ema") is not None else "raw"
    G, geometry = sampling_generator(ckpt, which)
    shape = (geometry.channels, geometry.resolution, geometry.resolution)
    return GeneratorModel(G, geometry.num_classes, shape), which


def log_generator(tracker: Any, checkpoint: Path, step: int, variant: str) -> str | None:
    """Log the generator of ``checkpoint`` into ``tracker``'s run as the model of
    generator step ``step``, unless the run already has one for that step; returns the
    model's id (None when it was there)."""
    import mlflow.pytorch
    import numpy as np
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec, Schema, TensorSpec

    from ganbench.sampling.latents import latents

    if step in tracker.model_steps():
        return None
    model, which = generator_model(checkpoint)
    example = latents(4, model.z_dim, 1)
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, model.z_dim))]),
        outputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, *model.image_shape))]),
        params=ParamSchema([ParamSpec("seed", "long", NO_SEED)]))
    exp_id = tracker.client.get_run(tracker.run_id).info.experiment_id
    with _fluent_target(tracker.tracking_uri, exp_id), _quiet("mlflow.pytorch"):
        info = mlflow.pytorch.log_model(
            model, name=MODEL_NAME, signature=signature, input_example=example.numpy(),
            pip_requirements=mlflow.pytorch.get_default_pip_requirements(), serialization_format="pickle",
            run_id=tracker.run_id, step=int(step),
            tags={"ganbench.variant": variant, "ganbench.generator": which, "ganbench.g_steps": str(step)})
    return info.model_id


@contextlib.contextmanager
def _fluent_target(uri: str, experiment_id: str) -> Iterator[None]:
    """``mlflow.pytorch.log_model`` finds the store and the experiment through MLflow's
    environment variables (it has no client argument); set them for the call only."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID")}
    os.environ.update(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_ID=experiment_id)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence a logger's warnings for the call: MLflow warns on every pickled model
    (the module docstring says why it is one)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
