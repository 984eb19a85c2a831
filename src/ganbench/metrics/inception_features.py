"""Inception pool3 features, as fast as this machine allows, equal to pytorch-fid's.

Speed
-----
:func:`extract_features` runs the network through :func:`fast_inception`: a copy of the
same pytorch-fid modules with BatchNorm folded into the convolutions, in channels_last
(oneDNN's NHWC kernels), preceded by pytorch-fid's preprocessing, unchanged (bilinear
resize to 299x299 with ``align_corners=False``, then ``2x - 1``).  Features agree with
the plain pytorch-fid forward to ~2e-6 relative; ``benchmarks/bench_inception.py``
measures the speed-up and the tests check the agreement.

Preprocessing
-------------
How images enter the network is a protocol choice (``evaluate.inception_preprocess``;
:data:`ganbench.protocol.INCEPTION_PREPROCESS` holds the text each records as its
``resize``), because published FIDs were made two ways:

``pytorch-fid``
    torch's bilinear resize with half-pixel centres, then ``2x - 1`` (pytorch-fid).
``tf1``
    the TF1 graph's way, as TTUR's reference FID code and google/compare_gan (Lucic et
    al. 2018) feed it: pixels as floats in [0, 255], TF1's legacy
    ``tf.image.resize_bilinear`` (``align_corners=False``, no half-pixel centres:
    source coordinate = destination · in/out, :func:`tf1_resize_bilinear`), then
    ``(x - 128) / 128``.  A 28x28 image lands shifted by about half a source pixel
    against the pytorch-fid path, so the two give different features and FIDs.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import weakref
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ganbench.metrics.inception_weights import FEATURE_DIM
from ganbench.progress import progress_bar
from ganbench.protocol import INCEPTION_PREPROCESS
from ganbench.runtime import resolve_device


# --------------------------------------------------------------------------- preprocessing

#: The network's input size.
INPUT_SIZE = (299, 299)


def check_preprocess(name: str) -> str:
    """``name`` if it is a known preprocessing, else a ValueError naming the choices."""
    if name not in INCEPTION_PREPROCESS:
        raise ValueError(f"unknown Inception preprocessing {name!r}; "
                         f"choose one of {sorted(INCEPTION_PREPROCESS)}")
    return name


@functools.lru_cache(maxsize=32)
def _legacy_taps(n_in: int, n_out: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TF1's legacy bilinear taps along one axis: for each output index i the source
    coordinate ``i · (n_in / n_out)`` in float32 (TF's ``LegacyScaler``), its lower and
    upper source index (clamped to the edge) and the weight of the upper one, on
    ``device``.  Made once per (size, device): every batch of a run reuses them (never
    modified in place)."""
    scale = torch.tensor(float(n_in), dtype=torch.float32) / torch.tensor(float(n_out), dtype=torch.float32)
    src = torch.arange(n_out, dtype=torch.float32) * scale
    lower = src.floor()
    frac = src - lower
    lo = lower.long().clamp_(max=n_in - 1)
    hi = src.ceil().long().clamp_(max=n_in - 1)
    return lo.to(device), hi.to(device), frac.to(device)


def _lerp_axis(x: torch.Tensor, dim: int, n_out: int) -> torch.Tensor:
    lo, hi, frac = _legacy_taps(x.shape[dim], n_out, x.device)
    shape = [1] * x.dim()
    shape[dim] = n_out
    a, b = x.index_select(dim, lo), x.index_select(dim, hi)
    return a + (b - a) * frac.to(x.dtype).view(shape)


def tf1_resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TF1's ``tf.image.resize_bilinear(x, size)`` with its defaults (``align_corners=False``,
    ``half_pixel_centers=False``) for ``x (N, C, H, W)`` float → ``(N, C, *size)``.

    Output pixel (i, j) reads the source at (i·H/h, j·W/w), with no half-pixel offset, and
    interpolates along the width first, then the height, as TF's kernel does; the last
    output rows and columns are clamped to the edge."""
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"expected a float (N, C, H, W) tensor, got {x.dtype} {tuple(x.shape)}")
    return _lerp_axis(_lerp_axis(x, 3, size[1]), 2, size[0])


# --------------------------------------------------------------------------- features


class _Pool3(nn.Module):
    """pytorch-fid's ``InceptionV3.forward`` for the pool3 block as one module: images in
    [0, 1] → the chosen preprocessing (``pytorch-fid``: pytorch-fid's own, bilinear resize
    to 299x299 with ``align_corners=False``, then ``2x - 1``; ``tf1``: see the module
    docstring) → the same blocks, returning ``(N, 2048)``."""

    def __init__(self, model: nn.Module, preprocess: str = "pytorch-fid") -> None:
        super().__init__()
        if not (getattr(model, "resize_input", False) and getattr(model, "normalize_input", False)):
            raise ValueError("expected pytorch-fid's InceptionV3 with resize and normalisation on")
        self.blocks = model.blocks
        self.preprocess = check_preprocess(preprocess)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preprocess == "tf1":
            x = (tf1_resize_bilinear(x * 255.0, INPUT_SIZE) - 128.0) / 128.0
        else:
            x = torch.nn.functional.interpolate(x, size=INPUT_SIZE, mode="bilinear", align_corners=False)
            x = 2 * x - 1
        for block in self.blocks:
            x = block(x)
        return x.flatten(1)


def _fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every ``BasicConv2d``'s eval-mode BatchNorm into its convolution (in place)."""
    from torchvision.models.inception import BasicConv2d

    for module in model.modules():
        if isinstance(module, BasicConv2d) and isinstance(module.bn, nn.BatchNorm2d):
            module.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()
    return model


#: model → {device: its fast copy}; entries go when the model does.
_FAST: weakref.WeakKeyDictionary[nn.Module, dict[str, nn.Module]] = weakref.WeakKeyDictionary()


def fast_inception(model: nn.Module, device: str | torch.device = "cpu",
                   preprocess: str = "pytorch-fid") -> nn.Module:
    """An inference copy of pytorch-fid's ``InceptionV3`` (from :func:`load_inception`):
    BatchNorm folded into the convolutions, channels_last weights, one module taking
    images in [0, 1] and returning ``(N, 2048)`` pool3 features, preceded by
    ``preprocess`` (:data:`~ganbench.protocol.INCEPTION_PREPROCESS`).  Cached per model,
    device and preprocessing; ``model`` itself is left untouched.

    Measured on a 2-core AVX2 CPU (see ``benchmarks/bench_inception.py``): channels_last
    is the big win (oneDNN's NHWC kernels), folding BatchNorm adds a few percent.
    ``torch.jit.trace`` + ``freeze`` (which folds the same BatchNorms) was no faster
    than this within the noise, took ~20 s to prepare and is a deprecated API;
    ``torch.jit.optimize_for_inference`` (oneDNN blocked layouts, conv+ReLU fusion) was
    slower, with reorders around every concat and pool.  Neither is used.  The
    convolutions now run near the CPU's FP32 peak (~70 GFLOP/s per core); more would
    need fewer FLOPs or lower precision, which would change the features.
    """
    dev = resolve_device(device)
    per_model = _FAST.setdefault(model, {})
    key = f"{dev}/{check_preprocess(preprocess)}"
    net = per_model.get(key)
    if net is None:
        net = _Pool3(_fold_batchnorm(copy.deepcopy(model)), preprocess).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        net = net.to(dev, memory_format=torch.channels_last)
        per_model[key] = net
    return net


@contextlib.contextmanager
def _exact_fp32(device: torch.device) -> Iterator[None]:
    """No TF32 on CUDA while extracting (it would move features by ~1e-3)."""
    if device.type != "cuda":
        yield
        return
    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, matmul


def extract_features(
    images: np.ndarray | torch.Tensor,
    model: nn.Module,
    batch_size: int = 100,
    device: str | torch.device = "cpu",
    progress: bool = True,
    *,
    fast: bool = True,
    runner: Callable[[torch.Tensor], torch.Tensor] | None = None,
    preprocess: str = "pytorch-fid",
) -> np.ndarray:
    """Pool3 features ``(N, 2048)`` float64 of images ``N×C×H×W`` (C 1 or 3), uint8 or
    float32 in [0, 1] (unrounded samples, ``sample.dtype: float32``).

    uint8 → float ``/255`` (as pytorch-fid's ``ToTensor``), grayscale repeated to 3
    channels, then ``preprocess`` (:data:`~ganbench.protocol.INCEPTION_PREPROCESS`; by
    default pytorch-fid's own bilinear resize to 299x299 and ``2x - 1``). ``fast`` runs
    :func:`fast_inception` (same features to ~1e-5 relative); ``fast=False`` calls ``model``
    itself, i.e. plain pytorch-fid, whose preprocessing is its own. ``runner`` replaces the
    fast torch module with another engine taking the same float32 ``(B, 3, H, W)`` batches
    in [0, 1] (e.g. :class:`~ganbench.metrics.onnx_engine.OnnxModule` of
    ``fast_inception(model, "cpu", preprocess)``). Progress is drawn on stderr only when it
    is a terminal and ``$CI`` is unset.
    """
    check_preprocess(preprocess)
    if not fast and runner is None and preprocess != "pytorch-fid":
        raise ValueError(f"fast=False runs pytorch-fid's own forward, whose preprocessing is pytorch-fid's, "
                         f"not {preprocess!r}; use fast=True")
    if isinstance(images, np.ndarray):
        shape, is_float = images.shape, images.dtype == np.float32
        dtype_ok = is_float or images.dtype == np.uint8
    elif isinstance(images, torch.Tensor):
        shape, is_float = tuple(images.shape), images.dtype == torch.float32
        dtype_ok = is_float or images.dtype == torch.uint8
    else:
        raise TypeError(f"images must be a numpy array or a torch tensor, got {type(images).__name__}")
    if not dtype_ok or len(shape) != 4 or shape[1] not in (1, 3):
        raise ValueError(
            f"images must be uint8 or float32 N×C×H×W with C in (1, 3), got {images.dtype} {tuple(shape)}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    n = shape[0]
    out = np.empty((n, FEATURE_DIM), dtype=np.float64)
    if runner is not None:
        net, fmt, fast = runner, torch.contiguous_format, True
    elif fast:
        net = fast_inception(model, dev, preprocess)
        fmt = torch.channels_last
    else:
        net = model.eval().to(dev)
        fmt = torch.contiguous_format

    bar = progress_bar(n, "Inception features", enabled=progress)
    try:
        with torch.inference_mode(), _exact_fp32(dev):
            for start in range(0, n, batch_size):
                chunk = images[start : start + batch_size]
                if isinstance(chunk, np.ndarray):
                    chunk = torch.from_numpy(np.ascontiguousarray(chunk))
                x = chunk.to(dev, non_blocking=True).to(torch.float32)
                if not is_float:
                    x = x.div_(255.0)
                if x.shape[1] == 1:
                    x = x.expand(-1, 3, -1, -1)
                x = x.contiguous(memory_format=fmt)
                feats = net(x) if fast else net(x)[0]
                out[start : start + len(x)] = feats.reshape(len(x), -1).double().cpu().numpy()
                bar.update(len(x))
    finally:
        bar.close()
    return out
