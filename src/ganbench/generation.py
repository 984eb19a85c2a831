"""Generation for users: grids, class-conditional images and latent interpolations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ganbench.sampling import generate, labels, latents
from ganbench.training.checkpoint import load_checkpoint, sampling_generator


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a, b (z_dim,) at fractions t (n,) → (n, z_dim)."""
    a_n, b_n = a / a.norm(), b / b.norm()
    omega = torch.arccos((a_n * b_n).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def generate_from_checkpoint(ckpt_path: Path, *, n: int, seed: int, truncation: float = 1.0,
                             interpolate: bool = False, class_index: int | None = None,
                             device: str = "cpu") -> tuple[np.ndarray, int]:
    """Returns (uint8 images N×C×H×W, grid row length)."""
    G, geometry = sampling_generator(load_checkpoint(ckpt_path))
    if interpolate:
        ends = latents(2, G.z_dim, seed)
        z = slerp(ends[0], ends[1], torch.linspace(0, 1, n))
        nrow = n
    else:
        z = latents(n, G.z_dim, seed)
        nrow = max(1, int(round(math.sqrt(n))))
    c = labels(n, geometry.num_classes, class_index)
    if c is not None and class_index is None and not interpolate:
        # One row per class, like the training grids.
        per_row = max(1, n // geometry.num_classes)
        c = torch.arange(geometry.num_classes).repeat_interleave(per_row)[:n]
        c = torch.cat([c, torch.arange(n - len(c)) % geometry.num_classes])
        nrow = per_row
    images = generate(G, z, c, truncation_psi=truncation, device=device, noise_seed=seed)
    return images, nrow
