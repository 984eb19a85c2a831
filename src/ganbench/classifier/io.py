"""The classifier's weights file: plain ``torch.save`` dicts written atomically, read back
with ``weights_only=True``; anything unreadable is one CheckpointError line."""

from __future__ import annotations

import os
import zipfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import CheckpointError
from ganbench.io import sha256_file, torch_save
from ganbench.classifier.config import ClassifierConfig, FIX_RETRAIN, FORMAT, FORMAT_VERSION, TrainMetrics
from ganbench.classifier.network import DomainClassifier

#: Training-time measurements kept out of the weights file.
_VOLATILE = ("train_seconds", "train_images_per_second")


def save_classifier(
    model: DomainClassifier,
    cfg: ClassifierConfig,
    metrics: TrainMetrics | dict[str, Any],
    path: str | os.PathLike[str],
) -> str:
    """Write config, state_dict and metrics to ``path`` atomically (temp file in the same
    folder, then rename); returns the file's sha256.  The bytes do not depend on the
    file name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": asdict(cfg),
        "state_dict": {
            k: v.detach().to("cpu").contiguous().clone()
            for k, v in model.state_dict().items()
        },
        # What the weights are (accuracy, size), not how long they took: equal weights give
        # an equal file, so its sha256 (a dependency of every training run) is stable.
        "metrics": {k: v for k, v in (asdict(metrics) if not isinstance(metrics, dict) else dict(metrics)).items()
                    if k not in _VOLATILE},
        "torch": str(torch.__version__),
    }
    torch_save(payload, path)
    return sha256_file(path)


def _unreadable(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"domain classifier file {path} {why}; {FIX_RETRAIN}")


def load_classifier(
    path: str | os.PathLike[str],
) -> tuple[DomainClassifier, ClassifierConfig, dict[str, Any]]:
    """Read what :func:`save_classifier` wrote: ``(model in eval mode, config, metrics)``.

    Raises:
        CheckpointError: missing, truncated, corrupt or foreign file, or a state_dict
            that does not fit the stored config (one line naming the file and the fix).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"domain classifier file {path} does not exist; train it first "
                              "(`dvc repro classifier`)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise _unreadable(path, f"is unreadable or truncated ({reason})") from None
    except Exception as exc:  # pickle.UnpicklingError and friends from foreign files
        raise _unreadable(path, f"is not a torch checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise _unreadable(path, "is not a ganbench domain classifier")
    if payload.get("format_version") != FORMAT_VERSION:
        raise _unreadable(path, f"has format version {payload.get('format_version')!r}, "
                                f"this ganbench reads {FORMAT_VERSION}")
    known = {f.name for f in fields(ClassifierConfig)}
    raw_cfg = payload.get("config")
    if not isinstance(raw_cfg, dict) or not set(raw_cfg) <= known:
        raise _unreadable(path, "has a config this ganbench does not know")
    try:
        cfg = ClassifierConfig(**raw_cfg)
        model = DomainClassifier(cfg)
        model.load_state_dict(payload["state_dict"], strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0][:120]
        raise _unreadable(path, f"does not match its config ({reason})") from None
    metrics = payload.get("metrics") if isinstance(payload.get("metrics"), dict) else {}
    return model.eval(), cfg, dict(metrics)
