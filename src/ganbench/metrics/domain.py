"""A small CNN classifier for the benchmark's own domain (1x32x32 grayscale, 10 classes).

Inception features describe ImageNet photographs; for 32x32 grayscale clothing or
digits a classifier trained on the dataset itself gives features (its penultimate
layer) and class predictions that are cheap to compute and meaningful for the domain:
the predictions feed :mod:`ganbench.metrics.coverage`, the features can feed FD, KID
or precision/recall.

Network (``width`` w, ``feature_dim`` F, ``crop`` 28)::

    central 28x28 crop of the 32x32 input (the rest is -1 padding)
    conv3x3(C->w)   BN ReLU maxpool2   28x28 -> 14x14
    conv3x3(w->2w)  BN ReLU maxpool2   14x14 ->  7x7
    conv3x3(2w->4w) BN ReLU maxpool2    7x7  ->  4x4 (ceil mode)
    flatten -> linear(16*4w -> F) BN ReLU      <- features (F-d)
    dropout -> linear(F -> classes)            <- logits

Training: AdamW with a one-cycle learning-rate schedule, label smoothing, and random
translations of up to ``translate`` pixels (the canvas is padded with -1, the
background, as in preprocessing); no flips, so the same recipe suits digits.  Images
are float32 ``N x C x 32 x 32`` in [-1, 1] exactly as ``ganbench.data.preprocess``
writes them.  Training seeds its own RNG state inside ``torch.random.fork_rng`` and a
dedicated generator for shuffling and augmentation, so it is deterministic on CPU for
a given seed and thread count and leaves the caller's RNG untouched.

Checkpoints are plain ``torch.save`` dicts (config, state_dict, metrics, a format tag)
written atomically and read back with ``torch.load(weights_only=True)``; anything
unreadable becomes one :class:`~ganbench.errors.CheckpointError` line.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganbench.config.schema import ClassifierParams
from ganbench.errors import CheckpointError, MetricError
from ganbench.io import sha256_file, torch_save

FORMAT = "ganbench-domain-classifier"
FORMAT_VERSION = 2  # 2: no test-split accuracy (the classifier stage reads train only)
_FIX = "delete it and train the domain classifier again (`dvc repro classifier`)"

Progress = Callable[[dict[str, float]], None]


@dataclass(frozen=True)
class ClassifierConfig(ClassifierParams):
    """Architecture and training recipe of the domain classifier.

    The defaults reached 93.07 % accuracy on the real Fashion-MNIST test split (60k train,
    10k test; 620 266 parameters) in 726 s on one thread of a heavily shared 2-core
    AVX2 CPU (~825 training images/s).  MNIST was not available to measure.

    Attributes:
        width: channels of the first convolution (then 2x and 4x); 32 → ~0.6 M params.
        feature_dim: size of the penultimate (feature) layer.
        in_channels: image channels (1 for the grayscale datasets).
        num_classes: number of classes.
        image_size: input side in pixels (the preprocessed 32).
        crop: side of the central window the network looks at (0 = all of it).
            Preprocessing pads the 28x28 source images to 32 with -1, so the border
            holds no information; cropping it saves a quarter of the compute.
        epochs: passes over the training set.
        batch_size: training minibatch size.
        lr: peak learning rate of the one-cycle schedule (AdamW).
        weight_decay: AdamW's decoupled weight decay.
        label_smoothing: cross-entropy label smoothing.
        dropout: dropout before the last linear layer.
        translate: maximum random shift in pixels (each axis) during training; 0 = none.
        seed: seeds initialisation, dropout, shuffling and augmentation.
    """

    in_channels: int = 1
    num_classes: int = 10
    image_size: int = 32


@dataclass(frozen=True)
class TrainMetrics:
    """What :func:`train_classifier` measured.

    Training reads the training split alone: the classifier's accuracy on the reference
    split is measured where that split is read (the ``domain-reference`` stage).

    Attributes:
        train_accuracy: top-1 accuracy on the (augmented) training batches of the last
            epoch, in [0, 1].
        train_seconds: wall time of the training loop.
        num_parameters: trainable parameters of the network.
        epochs: epochs run.
        final_loss: mean training loss of the last epoch.
        train_images_per_second: training throughput.
    """

    train_accuracy: float
    train_seconds: float
    num_parameters: int
    epochs: int
    final_loss: float
    train_images_per_second: float


# --------------------------------------------------------------------------- network


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
    ]


class CentreCrop(nn.Module):
    """The central ``size x size`` window of ``(N, C, H, W)`` images (bottom/right get
    the extra pixel when ``H - size`` is odd, as the padding in preprocessing)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = (x.shape[-2] - self.size) // 2
        left = (x.shape[-1] - self.size) // 2
        return x[..., top : top + self.size, left : left + self.size]


class DomainClassifier(nn.Module):
    """The CNN in the module docstring.  ``forward`` gives logits ``(N, classes)``;
    :meth:`features_and_logits` gives ``(N, feature_dim)`` features too."""

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        crop = cfg.crop or cfg.image_size
        if not 8 <= crop <= cfg.image_size:
            raise ValueError(f"crop must be in 8..{cfg.image_size} (or 0), got {cfg.crop}")
        w = cfg.width
        side = math.ceil(math.ceil(math.ceil(crop / 2) / 2) / 2)
        self.in_channels = cfg.in_channels
        self.image_size = cfg.image_size
        self.body = nn.Sequential(
            CentreCrop(crop),
            *_conv_block(cfg.in_channels, w),
            *_conv_block(w, 2 * w),
            *_conv_block(2 * w, 4 * w),
            nn.Flatten(),
            nn.Linear(4 * w * side * side, cfg.feature_dim, bias=False),
            nn.BatchNorm1d(cfg.feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.feature_dim, cfg.num_classes))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` float ``(N, C, S, S)`` in [-1, 1] → features ``(N, F)``, logits ``(N, K)``."""
        feats = self.body(x)
        return feats, self.head(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


class FeaturesAndLogits(nn.Module):
    """Inference form of a :class:`DomainClassifier`: ``forward(x)`` returns
    ``(features, logits)``; what the torch and ONNX Runtime feature paths both run.

    ``body`` maps images to features, ``head`` features to logits (dropout dropped)."""

    def __init__(self, body: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.body(x)
        return feats, self.head(feats)


class MaxPool2x2(nn.Module):
    """``nn.MaxPool2d(2, ceil_mode=True)`` for inference, as two elementwise maxima of
    strided views (odd sides padded with -inf first).  Same values exactly; ~4x
    faster on CPU than torch's pooling kernel, which also writes an int64 index
    tensor even under ``inference_mode``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        if h % 2 or w % 2:
            x = nn.functional.pad(x, (0, w % 2, 0, h % 2), value=float("-inf"))
        rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def _fold_batchnorm(layers: nn.Sequential) -> nn.Sequential:
    """Eval-mode copy of ``layers`` with every BatchNorm that follows a convolution or
    linear layer folded into that layer's weight and bias, and 2x2 ceil-mode max
    pooling replaced by :class:`MaxPool2x2`."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    out: list[nn.Module] = []
    for layer in layers:
        prev = out[-1] if out else None
        if isinstance(layer, nn.BatchNorm2d) and isinstance(prev, nn.Conv2d):
            out[-1] = fuse_conv_bn_eval(prev, layer)
        elif isinstance(layer, nn.BatchNorm1d) and isinstance(prev, nn.Linear):
            out[-1] = fuse_linear_bn_eval(prev, layer)
        elif (
            isinstance(layer, nn.MaxPool2d)
            and layer.kernel_size in (2, (2, 2))
            and layer.stride in (2, (2, 2))
            and layer.padding in (0, (0, 0))
            and layer.dilation in (1, (1, 1))
            and layer.ceil_mode
        ):
            out.append(MaxPool2x2())
        else:
            out.append(copy.deepcopy(layer))
    return nn.Sequential(*out).eval()


def build_classifier(cfg: ClassifierConfig) -> DomainClassifier:
    """A freshly initialised network for ``cfg`` (uses torch's global RNG)."""
    return DomainClassifier(cfg)


def inference_module(model: DomainClassifier) -> FeaturesAndLogits:
    """A gradient-free, channels_last inference copy of ``model``: BatchNorm folded
    into the preceding convolution/linear layer, pooling by :class:`MaxPool2x2`,
    dropout removed.  Same features as
    ``model.eval()`` to float32 rounding (~1e-6 relative); ``model`` is untouched."""
    was_training = model.training
    model.eval()
    try:
        body = _fold_batchnorm(model.body)
        head = nn.Sequential(*[copy.deepcopy(m) for m in model.head if not isinstance(m, nn.Dropout)])
    finally:
        model.train(was_training)
    net = FeaturesAndLogits(body, head).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- data


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


def _as_images(name: str, x: Any, cfg: ClassifierConfig) -> torch.Tensor:
    """float32 images ``(N, C, S, S)`` in [-1, 1] (uint8 input is converted)."""
    t = torch.as_tensor(x)
    if t.dtype == torch.uint8:
        t = uint8_to_float(t)
    t = t.to(torch.float32)
    _check_images(name, t, cfg)
    return t


def _as_labels(name: str, y: Any, n: int, num_classes: int) -> torch.Tensor:
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


# --------------------------------------------------------------------------- training


def _report(progress: bool | Progress | None, info: dict[str, float]) -> None:
    if callable(progress):
        progress(info)
    elif progress and sys.stderr is not None:
        print(
            f"classifier epoch {int(info['epoch'])}/{int(info['epochs'])}: loss "
            f"{info['loss']:.4f}, train acc {info['train_accuracy']:.4f}, "
            f"{info['seconds']:.1f} s",
            file=sys.stderr,
            flush=True,
        )


def train_classifier(
    train_x: Any,
    train_y: Any,
    cfg: ClassifierConfig | None = None,
    progress: bool | Progress | None = False,
    *,
    max_steps: int | None = None,
) -> tuple[DomainClassifier, TrainMetrics]:
    """Train the domain classifier.

    Args:
        train_x: float32 images ``(N, C, S, S)`` in [-1, 1] (uint8 also accepted).
        train_y: integer labels ``(N,)``.
        cfg: architecture and recipe (default :class:`ClassifierConfig`).
        progress: False (silent), True (one line per epoch on stderr), or a callable
            given ``{"epoch", "epochs", "loss", "train_accuracy", "seconds"}`` per epoch.
        max_steps: stop after this many optimiser steps (for smoke tests); the
            learning-rate schedule still spans ``cfg.epochs``.

    Returns:
        ``(model, metrics)``: the trained network in eval mode, and
        :class:`TrainMetrics`.
    """
    cfg = ClassifierConfig() if cfg is None else cfg
    xtr = _as_images("train_x", train_x, cfg)
    ytr = _as_labels("train_y", train_y, len(xtr), cfg.num_classes)
    if len(xtr) < 2:
        raise MetricError("domain classifier: need at least 2 training images")
    batch = min(cfg.batch_size, len(xtr))
    steps_per_epoch = len(xtr) // batch  # drop the ragged last batch (BatchNorm)
    total_steps = steps_per_epoch * cfg.epochs

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        model = build_classifier(cfg).to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=max(total_steps, 1), pct_start=0.25
        )
        loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        model.train()
        steps = 0
        last_loss = float("nan")
        start_time = time.perf_counter()
        seen = 0
        last_accuracy = float("nan")
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            order = torch.randperm(len(xtr), generator=gen)
            loss_sum = torch.zeros((), dtype=torch.float64)
            correct = 0
            count = 0
            for i in range(steps_per_epoch):
                idx = order[i * batch : (i + 1) * batch]
                xb = random_translate(xtr[idx], cfg.translate, gen)
                xb = xb.contiguous(memory_format=torch.channels_last)
                yb = ytr[idx]
                logits = model(xb)
                loss = loss_fn(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += loss.detach().double() * len(idx)
                correct += int((logits.detach().argmax(1) == yb).sum())
                count += len(idx)
                steps += 1
                if max_steps is not None and steps >= max_steps:
                    break
            seen += count
            last_loss = float(loss_sum / max(count, 1))
            last_accuracy = correct / max(count, 1)
            _report(progress, {
                "epoch": epoch + 1, "epochs": cfg.epochs, "loss": last_loss,
                "train_accuracy": last_accuracy, "seconds": time.perf_counter() - t0,
            })
            if max_steps is not None and steps >= max_steps:
                break
        train_seconds = time.perf_counter() - start_time
    model.eval()
    metrics = TrainMetrics(
        train_accuracy=last_accuracy,
        train_seconds=train_seconds,
        num_parameters=sum(p.numel() for p in model.parameters()),
        epochs=epoch + 1 if cfg.epochs else 0,
        final_loss=last_loss,
        train_images_per_second=seen / train_seconds if train_seconds > 0 else float("nan"),
    )
    return model.to(memory_format=torch.contiguous_format), metrics


#: The accuracy on the reference split the domain features are trusted at, per dataset
#: (the classifier's recipe reached 93.07–93.34 % on Fashion-MNIST's test split; recorded).
ACCURACY_BAR = {"fashion-mnist": 0.93, "mnist": 0.99}


def accuracy_check(dataset: str | None, accuracy: float) -> dict[str, Any]:
    """``{"accuracy_bar", "meets_bar"}`` for the classifier's accuracy on the reference
    split of ``dataset`` (both None for a dataset without a bar)."""
    bar = ACCURACY_BAR.get(str(dataset))
    return {"accuracy_bar": bar, "meets_bar": None if bar is None else accuracy >= bar}


# --------------------------------------------------------------------------- inference


Runner = Callable[[torch.Tensor], tuple[Any, Any]]


def features_and_predictions(
    model: DomainClassifier,
    images: Any,
    batch_size: int = 128,
    *,
    runner: Runner | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate-layer features and predicted classes of uint8 images.

    Args:
        model: a trained :class:`DomainClassifier`.
        images: uint8 ``(N, C, H, W)`` (numpy or torch), converted to [-1, 1] exactly
            as preprocessing does.  Three identical channels are accepted by a
            one-channel model (grayscale repeated).
        batch_size: images per forward pass.  128 keeps every activation under
            glibc's mmap threshold, so buffers are reused instead of page-faulted in
            afresh; at 500 the same pass ran ~1.5x slower on a 2-core CPU.
        runner: what maps a float32 ``(B, C, H, W)`` batch to ``(features, logits)``;
            default :func:`inference_module` of ``model`` (torch, channels_last).  An
            :class:`~ganbench.metrics.onnx_engine.OnnxModule` fits here.

    Returns:
        ``(features, predictions)``: float64 ``(N, feature_dim)`` and int64 ``(N,)``.
    """
    t = torch.as_tensor(images)
    if t.dtype != torch.uint8 or t.ndim != 4:
        raise MetricError(
            f"domain classifier features need uint8 N×C×H×W images, got {t.dtype} "
            f"{tuple(t.shape)}; pass generated samples as uint8"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if t.shape[1] != model.in_channels:
        if model.in_channels == 1 and t.shape[1] == 3 and bool((t[:, 1:] == t[:, :1]).all()):
            t = t[:, :1]
        else:
            raise MetricError(
                f"domain classifier takes {model.in_channels}-channel images, got "
                f"{t.shape[1]} channels; pass the dataset's grayscale images"
            )
    if tuple(t.shape[2:]) != (model.image_size, model.image_size):
        raise MetricError(
            f"domain classifier takes {model.image_size}x{model.image_size} images, got "
            f"{t.shape[2]}x{t.shape[3]}; pass images at the preprocessed resolution"
        )
    run = runner if runner is not None else inference_module(model)
    torch_path = runner is None
    n = t.shape[0]
    feature_dim = model.head[-1].in_features
    feats = np.empty((n, feature_dim), dtype=np.float64)
    preds = np.empty(n, dtype=np.int64)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            x = uint8_to_float(t[start : start + batch_size])
            if torch_path:
                x = x.contiguous(memory_format=torch.channels_last)
            f, logits = run(x)
            f = torch.as_tensor(f)
            feats[start : start + len(x)] = f.numpy()
            preds[start : start + len(x)] = torch.as_tensor(logits).argmax(1).numpy()
    return feats, preds


# --------------------------------------------------------------------------- files


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
    return CheckpointError(f"domain classifier file {path} {why}; {_FIX}")


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
