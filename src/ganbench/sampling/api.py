"""From a checkpoint to images: the ``sample`` stage and ``ganbench generate``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.config.schema import SampleConfig
from ganbench.errors import CheckpointError
from ganbench.runtime import resolve_device
from ganbench.sampling.generate import generate, has_batchnorm, resolve_truncation
from ganbench.sampling.latents import class_rows, grid_inputs, labels, latents, noise_generator, slerp
from ganbench.models.checkpoint import load_checkpoint, sampling_generator, trained_g_step


@dataclass(frozen=True)
class Samples:
    """``images`` (N, C, H, W), uint8 or float32 in [0, 1] (``sample.dtype``); ``grid``
    uint8 images for the PNG with ``nrow`` per row; ``meta``: how they were drawn
    (recorded with every score made from them)."""

    images: np.ndarray
    grid: np.ndarray
    nrow: int
    meta: dict[str, Any]


def sample_checkpoint(ckpt_path: Path, cfg: SampleConfig, device: str = "auto",
                      variant: str | None = None) -> Samples:
    """``cfg.num`` images from the checkpoint's ``cfg.generator`` (EMA or raw) plus a grid.

    Latents come from ``cfg.seed``; the per-layer noise of noise-driven generators from
    a stream derived from it (independent of the latents); conditional models get
    balanced labels and one grid row per class; ``cfg.truncation`` applies where the
    generator has a mapping network (else 1.0 is used and recorded)."""
    ckpt = load_checkpoint(ckpt_path)
    if variant is not None and ckpt["variant"] != variant:
        raise CheckpointError(f"checkpoint {ckpt_path} holds a {ckpt['variant']!r} model, not {variant!r}; "
                              f"pass the {variant} checkpoint (models/{variant}-<seed>/) or re-run its training")
    G, geometry = sampling_generator(ckpt, cfg.generator)
    dev = resolve_device(device)
    G = G.to(dev)
    psi = resolve_truncation(G, cfg.truncation, strict=False)
    z = latents(cfg.num, G.z_dim, cfg.seed)
    c = labels(cfg.num, geometry.num_classes)
    images = generate(G, z, c, truncation_psi=psi, batch_size=cfg.batch_size, device=dev,
                      noise=noise_generator(cfg.seed), batchnorm=cfg.batchnorm, show_progress=True,
                      dtype=cfg.dtype)
    gz, gc, nrow = grid_inputs(G.z_dim, cfg.grid_size, cfg.seed + 1, geometry.num_classes)
    grid = generate(G, gz, gc, truncation_psi=psi, batch_size=cfg.batch_size, device=dev,
                    noise=noise_generator(cfg.seed + 1), batchnorm=cfg.batchnorm)
    progress = ckpt["progress"]
    ema = (ckpt.get("ema") or {}) if cfg.generator == "ema" else {}
    meta = {
        "variant": ckpt["variant"],
        "generator": cfg.generator,
        "ema_kimg": (ckpt.get("train") or {}).get("ema_kimg") if cfg.generator == "ema" else None,
        # The half-life in effect at the sampled checkpoint (after the ramp-up).
        "ema_half_life_kimg": ema.get("half_life_kimg"),
        "ema_half_life_g_steps": ema.get("half_life_g_steps"),
        "batchnorm": cfg.batchnorm if has_batchnorm(G) else None,
        "truncation": psi,
        "num": cfg.num,
        "seed": cfg.seed,
        "checkpoint_kimg": progress["images_seen"] / 1000.0,
        "checkpoint_g_steps": progress["step"],
        "checkpoint_d_steps": progress.get("d_step"),
        "conditional": bool(geometry.num_classes),
        "dtype": cfg.dtype,
        # What the generator steps were fed in training (train.g_step, or the variant's own).
        "g_step": trained_g_step(ckpt),
    }
    return Samples(images=images, grid=grid, nrow=nrow, meta=meta)


def generate_from_checkpoint(ckpt_path: Path, *, n: int, seed: int, truncation: float = 1.0,
                             interpolate: bool = False, class_index: int | None = None,
                             generator: str = "ema", device: str = "cpu") -> tuple[np.ndarray, int]:
    """Images for ``ganbench generate``: returns (uint8 images N×C×H×W, images per row)."""
    ckpt = load_checkpoint(ckpt_path)
    which = generator if generator == "raw" or ckpt.get("G_ema") is not None else "raw"
    G, geometry = sampling_generator(ckpt, which)
    psi = resolve_truncation(G, truncation, strict=True)
    if interpolate:
        ends = latents(2, G.z_dim, seed)
        z = slerp(ends[0], ends[1], torch.linspace(0, 1, n))
        nrow = n
    else:
        z = latents(n, G.z_dim, seed)
        nrow = max(1, int(round(math.sqrt(n))))
    c = labels(n, geometry.num_classes, class_index)
    if c is not None and class_index is None and not interpolate:
        c, nrow = class_rows(n, geometry.num_classes)  # one row per class, like the training grids
    images = generate(G, z, c, truncation_psi=psi, device=resolve_device(device),
                      noise=noise_generator(seed))
    return images, nrow
