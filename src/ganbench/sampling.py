"""Sampling from a generator: latents, labels, uint8 conversion, grids and PNGs."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ganbench.utils import atomic_path, progress


def latents(n: int, z_dim: int, seed: int) -> Tensor:
    """``n`` standard-normal latents (n, z_dim) from their own CPU generator:
    the same seed gives the same latents on every device."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, z_dim, generator=g)


def labels(n: int, num_classes: int, class_index: int | None = None) -> Tensor | None:
    """Balanced labels 0,1,…,K-1,0,1,… (or all ``class_index``); None when unconditional."""
    if num_classes == 0:
        if class_index is not None:
            raise ValueError("this generator is unconditional: --class needs a conditional model")
        return None
    if class_index is not None:
        if not 0 <= class_index < num_classes:
            raise ValueError(f"class {class_index} is out of range 0..{num_classes - 1}")
        return torch.full((n,), class_index, dtype=torch.long)
    return torch.arange(n) % num_classes


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] floats → uint8 [0, 255] (round to nearest)."""
    return ((images.float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def generate(
    G: nn.Module,
    z: Tensor,
    c: Tensor | None = None,
    *,
    truncation_psi: float = 1.0,
    batch_size: int = 500,
    device: torch.device | str = "cpu",
    show_progress: bool = False,
    noise_seed: int | None = None,
) -> np.ndarray:
    """Run G in eval mode over ``z`` (N, z_dim) in batches → uint8 array (N, C, H, W).

    ``noise_seed`` seeds whatever G draws besides ``z`` (StyleGAN's per-layer noise)
    inside a forked RNG, so the same seed gives the same images in every process and
    the caller's RNG stream is left as it was; None draws from the caller's stream."""
    device = torch.device(device)
    if noise_seed is not None:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(noise_seed)
            return generate(G, z, c, truncation_psi=truncation_psi, batch_size=batch_size,
                            device=device, show_progress=show_progress)
    if truncation_psi != 1.0 and not getattr(G, "supports_truncation", False):
        raise ValueError(f"{type(G).__name__} has no mapping network: truncation must be 1.0")
    out: list[np.ndarray] = []
    bar = progress(len(z), "sampling") if show_progress else None
    with eval_mode(G), torch.inference_mode():
        for i in range(0, len(z), batch_size):
            zb = z[i : i + batch_size].to(device)
            cb = c[i : i + batch_size].to(device) if c is not None else None
            kwargs = {"truncation_psi": truncation_psi} if truncation_psi != 1.0 else {}
            out.append(to_uint8(G(zb, cb, **kwargs)).cpu().numpy())
            if bar is not None:
                bar.update(len(zb))
    if bar is not None:
        bar.close()
    return np.concatenate(out) if out else np.zeros((0,), np.uint8)


def make_grid(images: np.ndarray, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """uint8 (N, C, H, W) → one uint8 image (H', W') for C=1 or (H', W', 3) for C=3."""
    n, c, h, w = images.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    ncol = int(math.ceil(n / nrow))
    grid = np.zeros((c, ncol * (h + padding) + padding, nrow * (w + padding) + padding), np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, y : y + h, x : x + w] = images[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def save_samples(images: np.ndarray, path: Path) -> None:
    """``samples/<variant>.npz`` with one uint8 array ``images`` (N, C, H, W)."""
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError("samples must be uint8 N×C×H×W")
    with atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            np.savez(f, images=images)
