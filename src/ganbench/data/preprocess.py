"""Raw IDX files → float tensors in [-1, 1], padded to the configured resolution.

Output (all dataset-independent names, so the DVC out is simply the folder)::

    out_dir/train.pt   {"images": float32 N×C×R×R in [-1, 1], "labels": int64 N}
    out_dir/test.pt    same for the test split
    out_dir/meta.json  dataset, classes, geometry, per-split stats, source checksums

Pixels map as ``x / 127.5 - 1`` (0 → -1 exactly, 255 → 1 exactly) and the
28×28 images are padded symmetrically with -1 (black); when the padding is odd
the extra row/column goes to the bottom/right.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.config import DataConfig
from ganbench.data.idx import parse_idx, read_bytes
from ganbench.data.dataset import META, SPLIT_FILES, VALUE_RANGE
from ganbench.data.catalogue import DATASETS
from ganbench.data.sources import read_manifest
from ganbench.io import torch_save, write_json
from ganbench.errors import DataError, ParamsError

ALLOWED_CHANNELS = (1, 3)

_REDOWNLOAD = "re-run `ganbench download` (or `dvc repro download`)"


def _load_raw(raw_dir: Path, manifest: dict[str, Any], name: str) -> np.ndarray:
    """Decode canonical file ``name`` from ``raw_dir``, checking it against the manifest."""
    entry = manifest["files"].get(name)
    if not isinstance(entry, dict) or "stored" not in entry or "sha256" not in entry:
        raise DataError(f"{raw_dir / 'manifest.json'} has no entry for {name}; {_REDOWNLOAD}")
    path = raw_dir / entry["stored"]
    data = read_bytes(path)
    sha = hashlib.sha256(data).hexdigest()
    if sha != entry["sha256"]:
        raise DataError(
            f"{path} changed since it was downloaded (sha256 {sha}, manifest says "
            f"{entry['sha256']}); {_REDOWNLOAD}"
        )
    return parse_idx(data, path)


def _validate_pair(
    dataset: str,
    num_classes: int,
    split: str,
    images: np.ndarray,
    labels: np.ndarray,
    images_path: Path,
    labels_path: Path,
) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{images_path} holds {images.dtype} data of shape {list(images.shape)}, "
            f"expected uint8 N×H×W images; {_REDOWNLOAD}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(
            f"{labels_path} holds {labels.dtype} data of shape {list(labels.shape)}, "
            f"expected uint8 labels; {_REDOWNLOAD}"
        )
    if len(labels) != len(images):
        raise DataError(
            f"{split} split has {len(images)} images ({images_path.name}) but "
            f"{len(labels)} labels ({labels_path.name}); {_REDOWNLOAD}"
        )
    if len(labels) and int(labels.max()) >= num_classes:
        raise DataError(
            f"{labels_path} has label {int(labels.max())} but {dataset} has "
            f"{num_classes} classes; {_REDOWNLOAD}"
        )


def _check_geometry(cfg: DataConfig, source_hw: tuple[int, int]) -> None:
    if cfg.channels not in ALLOWED_CHANNELS:
        raise ParamsError(
            f"params key 'data.channels' must be 1 or 3 (grayscale repeated), got "
            f"{cfg.channels}; fix it in params.yaml"
        )
    if cfg.resolution < max(source_hw):
        raise ParamsError(
            f"params key 'data.resolution' is {cfg.resolution} but the images are "
            f"{source_hw[0]}×{source_hw[1]} and are only ever padded, not shrunk; "
            f"set data.resolution to {max(source_hw)} or more in params.yaml"
        )


def padding_for(source: int, target: int) -> tuple[int, int]:
    """(before, after) padding that centres ``source`` pixels in ``target``."""
    total = target - source
    return total // 2, total - total // 2


def to_tensor(images: np.ndarray, resolution: int, channels: int) -> torch.Tensor:
    """uint8 N×H×W → float32 N×C×R×R in [-1, 1], padded with -1.

    Fills a -1 canvas and converts the pixels in place inside it, so no padded
    intermediate copy is made (the train split is ~250 MB as float32).
    """
    n, h, w = images.shape
    top, _ = padding_for(h, resolution)
    left, _ = padding_for(w, resolution)
    x = torch.full((n, channels, resolution, resolution), VALUE_RANGE[0], dtype=torch.float32)
    centre = x[:, 0, top : top + h, left : left + w]
    centre.copy_(torch.from_numpy(np.ascontiguousarray(images)))  # exact uint8 → float32
    centre.div_(127.5).sub_(1.0)  # 0 → -1 and 255 → 1 exactly
    if channels > 1:
        x[:, 1:] = x[:, :1]
    return x


def _clean(out_dir: Path) -> None:
    """Remove what an earlier run (possibly of another dataset) left; meta first, so
    a crash never leaves a meta.json describing other tensors."""
    (out_dir / META).unlink(missing_ok=True)
    for name in SPLIT_FILES.values():
        (out_dir / name).unlink(missing_ok=True)
    for stale in out_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def preprocess(raw_dir: Path, out_dir: Path, cfg: DataConfig) -> dict[str, Any]:
    """Decode ``raw_dir`` (written by ``fetch``) into ``out_dir``; return meta.json's content."""
    spec = DATASETS.get(cfg.dataset)
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    manifest = read_manifest(raw_dir)
    if manifest.get("dataset") != spec.name:
        raise DataError(
            f"{raw_dir} holds dataset {manifest.get('dataset')!r} but params data.dataset is "
            f"{spec.name!r}; {_REDOWNLOAD}"
        )
    if cfg.channels not in ALLOWED_CHANNELS:  # fail before decoding anything
        _check_geometry(cfg, (0, 0))

    # Decode and validate everything before touching out_dir.
    decoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, (images_name, labels_name) in spec.files.items():
        images = _load_raw(raw_dir, manifest, images_name)
        labels = _load_raw(raw_dir, manifest, labels_name)
        _validate_pair(spec.name, spec.num_classes, split, images, labels,
                       raw_dir / manifest["files"][images_name]["stored"],
                       raw_dir / manifest["files"][labels_name]["stored"])
        decoded[split] = (images, labels)
    sizes = {tuple(int(d) for d in images.shape[1:]) for images, _ in decoded.values()}
    if len(sizes) != 1:
        raise DataError(f"{raw_dir}: splits have different image sizes {sorted(sizes)}; {_REDOWNLOAD}")
    source_hw = sizes.pop()
    _check_geometry(cfg, source_hw)

    out_dir.mkdir(parents=True, exist_ok=True)
    _clean(out_dir)
    splits: dict[str, Any] = {}
    for split, (images, labels) in list(decoded.items()):
        del decoded[split]
        x = to_tensor(images, cfg.resolution, cfg.channels)
        y = torch.from_numpy(labels.astype(np.int64))
        del images
        lo, hi = (float(v) for v in torch.aminmax(x)) if x.numel() else (0.0, 0.0)
        sha = torch_save({"images": x, "labels": y}, out_dir / SPLIT_FILES[split])
        splits[split] = {
            # The file's content hash, so a record of the split (the MLflow dataset
            # inputs) needs no read of it: the train stage never opens the test split.
            "sha256": sha,
            "count": int(x.shape[0]),
            "shape": list(x.shape),
            "min": lo,
            "max": hi,
            "class_counts": np.bincount(labels, minlength=spec.num_classes).tolist(),
        }
        del x, y

    meta = {
        "dataset": spec.name,
        "num_classes": spec.num_classes,
        "class_names": list(spec.class_names),
        "resolution": cfg.resolution,
        "channels": cfg.channels,
        "source_size": list(source_hw),
        "value_range": list(VALUE_RANGE),
        "pad_value": VALUE_RANGE[0],
        "splits": splits,
        # Only content hashes (no source path), so the DVC out does not depend on
        # where the raw files came from.
        "source_checksums": {
            name: manifest["files"][name]["sha256"] for name in spec.filenames
        },
    }
    write_json(out_dir / META, meta, sort_keys=True)
    return meta
