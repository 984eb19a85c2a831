"""What a generator is fed: latents, class labels, noise seeds and grid layouts.

Every random input here comes from its own seeded CPU ``torch.Generator``, so the same
seed gives the same inputs on every device and in every process, and the caller's global
RNG stream is never touched."""

from __future__ import annotations

import hashlib
import math

import torch
from torch import Tensor


def latents(n: int, z_dim: int, seed: int) -> Tensor:
    """``n`` standard-normal latents ``(n, z_dim)`` float32 from a CPU generator seeded
    with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, z_dim, generator=g)


def derived_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for the named ``stream`` derived from ``seed`` by hashing, so that
    e.g. the sampling noise is independent of the latents drawn with ``seed`` itself."""
    digest = hashlib.sha256(f"{seed}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def noise_generator(seed: int) -> torch.Generator:
    """The CPU generator of the per-layer noise inputs belonging to latent seed ``seed``."""
    return torch.Generator().manual_seed(derived_seed(seed, "noise"))


def labels(n: int, num_classes: int, class_index: int | None = None) -> Tensor | None:
    """Balanced labels 0,1,…,K-1,0,1,… ``(n,)`` long (or all ``class_index``); None when
    unconditional."""
    if num_classes == 0:
        if class_index is not None:
            raise ValueError("this generator is unconditional: --class needs a conditional model")
        return None
    if class_index is not None:
        if not 0 <= class_index < num_classes:
            raise ValueError(f"class {class_index} is out of range 0..{num_classes - 1}")
        return torch.full((n,), class_index, dtype=torch.long)
    return torch.arange(n) % num_classes


def class_rows(n: int, num_classes: int) -> tuple[Tensor, int]:
    """``n`` labels laid out one row per class, as ``ganbench generate`` draws a
    conditional model: ``n // num_classes`` (at least one) of each class in turn, the rest
    cycling through the classes; returns (labels ``(n,)`` long, images per row)."""
    per_row = max(1, n // num_classes)
    c = torch.arange(num_classes).repeat_interleave(per_row)[:n]
    return torch.cat([c, torch.arange(n - len(c)) % num_classes]), per_row


def grid_inputs(z_dim: int, n: int, seed: int, num_classes: int) -> tuple[Tensor, Tensor | None, int]:
    """Latents and labels for a grid of about ``n`` images: ``(z, c, images per row)``.

    Unconditional: a square-ish grid of ``n``. Conditional: one row per class, with
    ``n // num_classes`` images each (at least one)."""
    if num_classes:
        per_row = max(1, n // num_classes)
        c = torch.arange(num_classes).repeat_interleave(per_row)
        return latents(len(c), z_dim, seed), c, per_row
    nrow = max(1, int(round(math.sqrt(n))))
    return latents(n, z_dim, seed), None, nrow


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between latents a, b ``(z_dim,)`` at fractions t ``(n,)``
    → ``(n, z_dim)``."""
    a_n, b_n = a / a.norm(), b / b.norm()
    omega = torch.arccos((a_n * b_n).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
