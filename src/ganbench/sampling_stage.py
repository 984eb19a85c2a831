"""The pure function behind the ``sample`` stage (and ``generate``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganbench.config import SampleConfig
from ganbench.sampling import generate, labels, latents
from ganbench.training.checkpoint import load_checkpoint, sampling_generator
from ganbench.training.run import grid_latents
from ganbench.utils import resolve_device


def effective_truncation(G: object, psi: float) -> float:
    """ψ applies only to generators with a mapping network; others sample at ψ = 1."""
    return psi if getattr(G, "supports_truncation", False) else 1.0


def sample_checkpoint(ckpt_path: Path, cfg: SampleConfig, device: str = "auto") -> tuple[np.ndarray, np.ndarray, int]:
    """Returns (cfg.num samples, grid images, grid row length), uint8 N×C×H×W.

    Latents and StyleGAN's noise inputs come from ``cfg.seed``; conditional models get balanced
    labels for the samples and one grid row per class. ``cfg.truncation`` is
    applied where the generator supports it (see :func:`effective_truncation`)."""
    ckpt = load_checkpoint(ckpt_path)
    G, geometry = sampling_generator(ckpt)
    dev = resolve_device(device)
    G = G.to(dev)
    psi = effective_truncation(G, cfg.truncation)
    z = latents(cfg.num, G.z_dim, cfg.seed)
    c = labels(cfg.num, geometry.num_classes)
    images = generate(G, z, c, truncation_psi=psi, batch_size=cfg.batch_size, device=dev,
                      show_progress=True, noise_seed=cfg.seed)
    gz, gc, nrow = grid_latents(G.z_dim, cfg.grid_size, cfg.seed + 1, geometry.num_classes)
    grid = generate(G, gz, gc, truncation_psi=psi, batch_size=cfg.batch_size, device=dev,
                    noise_seed=cfg.seed + 1)
    return images, grid, nrow
