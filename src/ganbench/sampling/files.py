"""Sample files: ``samples/<variant>.npz`` (N×C×H×W under key ``images``: uint8, or float32
in [0, 1] with ``sample.dtype: float32``) and PNG grids. Both are byte-stable: the same images give the same bytes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.errors import DataError
from ganbench.io import atomic_path, save_npz


def _pixels_problem(images: np.ndarray) -> str | None:
    """Why ``images`` is not a samples array (uint8, or float32 in [0, 1]; N×C×H×W with C
    1 or 3), or None."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        return f"must be N×C×H×W with C 1 or 3, got shape {images.shape}"
    if images.dtype == np.float32:
        if images.size and not (np.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0):
            return "float32 pixels must be finite and in [0, 1]"
        return None
    if images.dtype != np.uint8:
        return f"must be uint8 or float32, got {images.dtype}"
    return None


def as_uint8(images: np.ndarray) -> np.ndarray:
    """Sample pixels as uint8: uint8 unchanged, float32 in [0, 1] rounded to the nearest
    of 0..255 (what an image file of those samples would hold)."""
    if images.dtype == np.uint8:
        return images
    return np.clip(np.rint(images * np.float32(255.0)), 0, 255).astype(np.uint8)


def save_samples(images: np.ndarray, path: Path, meta: dict[str, Any] | None = None) -> None:
    """Write ``images`` (N×C×H×W, uint8 or float32 in [0, 1]) and optional ``meta`` (JSON)
    to ``path``."""
    problem = _pixels_problem(images)
    if problem:
        raise ValueError(f"samples {problem}")
    arrays = {"images": images}
    if meta is not None:
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    save_npz(path, arrays)


def load_samples(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """``(images N×C×H×W, meta)`` from a samples file (uint8, or float32 in [0, 1]); one
    DataError line naming the file and the fix when it is missing, unreadable or not a
    ganbench samples file."""
    path = Path(path)
    fix = "re-run the sample stage (`dvc repro sample@<variant>`)"
    if not path.is_file():
        raise DataError(f"samples file {path} not found; {fix}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            images = npz["images"]
            meta = json.loads(str(npz["meta"])) if "meta" in npz.files else {}
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise DataError(f"samples file {path} is unreadable or not a ganbench samples file "
                        f"({type(exc).__name__}); {fix}") from None
    problem = _pixels_problem(images)
    if problem:
        raise DataError(f"{path}: 'images' {problem}; {fix}")
    return images, meta


def make_grid(images: np.ndarray, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """uint8 ``(N, C, H, W)`` → one uint8 image ``(H', W')`` for C=1 or ``(H', W', 3)``
    for C=3, ``nrow`` images per row (default: a square-ish grid)."""
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
