"""The classifier's inputs: uint8 to [-1, 1], shape and label checks, random translations."""

from __future__ import annotations

from typing import Any

import torch

from ganbench.errors import MetricError
from ganbench.classifier.config import ClassifierConfig

def uint8_to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 → float32 ``x / 127.5 - 1`` (0 → -1 and 255 → 1 exactly), as
    ``ganbench.data.preprocess`` converts pixels."""
    return images.to(torch.float32).div_(127.5).sub_(1.0)


def _check_images(name: str, x: torch.Tensor, cfg: ClassifierConfig) -> None:
    expected = (cfg.in_channels, cfg.image_size, cfg.image_size)
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        raise MetricError(
            f"domain classifier: {name} must be N×{'×'.join(map(str, expected))}, got "
            f"{tuple(x.shape)}; pass preprocessed images (ganbench.data.preprocess)"
        )


def as_images(name: str, x: Any, cfg: ClassifierConfig) -> torch.Tensor:
    """float32 images ``(N, C, S, S)`` in [-1, 1] (uint8 input is converted)."""
    t = torch.as_tensor(x)
    if t.dtype == torch.uint8:
        t = uint8_to_float(t)
    t = t.to(torch.float32)
    _check_images(name, t, cfg)
    return t


def as_labels(name: str, y: Any, n: int, num_classes: int) -> torch.Tensor:
    t = torch.as_tensor(y).to(torch.int64).flatten()
    if t.numel() != n:
        raise MetricError(f"domain classifier: {name} has {t.numel()} labels for {n} images")
    if n and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise MetricError(
            f"domain classifier: {name} has labels outside 0..{num_classes - 1}; check "
            f"ClassifierConfig.num_classes"
        )
    return t


def random_translate(
    x: torch.Tensor, max_shift: int, generator: torch.Generator, fill: float = -1.0
) -> torch.Tensor:
    """Shift each image of ``x`` ``(N, C, S, S)`` by its own random integer offset in
    ``[-max_shift, max_shift]`` per axis, filling uncovered pixels with ``fill``."""
    if max_shift <= 0:
        return x
    n, c, h, w = x.shape
    p = max_shift
    padded = torch.full((n, c, h + 2 * p, w + 2 * p), fill, dtype=x.dtype)
    padded[:, :, p : p + h, p : p + w] = x
    dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).view(n, 1, h, 1).expand(n, c, h, w + 2 * p)
    out = padded.gather(2, rows)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).view(n, 1, 1, w).expand(n, c, h, w)
    return out.gather(3, cols)
