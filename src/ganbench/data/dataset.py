"""Readers for the preprocessed tensors (what training, FID reference etc. consume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import DataError, ParamsError

#: Files the preprocess stage writes into its output folder.
META = "meta.json"
SPLIT_FILES = {"train": "train.pt", "test": "test.pt"}
#: The preprocessed pixel range (0 → -1, 255 → 1).
VALUE_RANGE = (-1.0, 1.0)

_REPRO = "run `dvc repro preprocess` (or `ganbench preprocess`)"


def load_meta(processed_dir: Path) -> dict[str, Any]:
    """meta.json written by ``preprocess``; DataError when missing or unreadable."""
    path = Path(processed_dir) / META
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path} not found; {_REPRO}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is unreadable ({type(exc).__name__}); {_REPRO} again") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("splits"), dict):
        raise DataError(f"{path} is not a ganbench meta.json; {_REPRO} again")
    return meta


def load_split(processed_dir: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images float32 N×C×R×R in [-1, 1], labels int64 N) of ``split``."""
    if split not in SPLIT_FILES:
        raise ParamsError(
            f"unknown data split {split!r}; use one of: {', '.join(SPLIT_FILES)}"
        )
    processed_dir = Path(processed_dir)
    path = processed_dir / SPLIT_FILES[split]
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path} not found; {_REPRO}") from None
    except Exception as exc:  # truncated zip, unpickling error, ...
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise DataError(f"{path} is unreadable ({reason}); {_REPRO} again") from None

    bad = f"{path} is not a preprocessed split"
    if not isinstance(obj, dict) or not {"images", "labels"} <= set(obj):
        raise DataError(f"{bad} (expected keys images, labels); {_REPRO} again")
    images, labels = obj["images"], obj["labels"]
    if not isinstance(images, torch.Tensor) or images.dtype != torch.float32 or images.ndim != 4:
        raise DataError(f"{bad} (images must be a float32 N×C×R×R tensor); {_REPRO} again")
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.ndim != 1:
        raise DataError(f"{bad} (labels must be an int64 vector); {_REPRO} again")
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{path} has {images.shape[0]} images but {labels.shape[0]} labels; {_REPRO} again"
        )
    if images.numel():
        lo, hi = (float(v) for v in torch.aminmax(images))
        if lo < VALUE_RANGE[0] or hi > VALUE_RANGE[1]:
            raise DataError(
                f"{path} has values in [{lo:g}, {hi:g}], outside [-1, 1]; {_REPRO} again"
            )
    meta_path = processed_dir / META
    if meta_path.is_file():  # catch a split left over from another preprocess run
        want = load_meta(processed_dir)["splits"].get(split, {}).get("shape")
        if want is not None and list(images.shape) != list(want):
            raise DataError(
                f"{path} has shape {list(images.shape)} but {meta_path} says {want}; "
                f"{_REPRO} again"
            )
    return images, labels
