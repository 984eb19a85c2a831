"""Inception pool3 features, as fast as this machine allows, equal to pytorch-fid's.

Speed
-----
:func:`extract_features` runs the network through :func:`fast_inception`: a copy of the
same pytorch-fid modules with BatchNorm folded into the convolutions, in channels_last
(oneDNN's NHWC kernels), preceded by pytorch-fid's preprocessing, unchanged (bilinear
resize to 299x299 with ``align_corners=False``, then ``2x - 1``).  Features agree with
the plain pytorch-fid forward to ~2e-6 relative; ``benchmarks/bench_inception.py``
measures the speed-up and the tests check the agreement.
"""

from __future__ import annotations

import contextlib
import copy
import weakref
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ganbench.metrics.inception_weights import FEATURE_DIM
from ganbench.progress import progress_bar
from ganbench.runtime import resolve_device


# --------------------------------------------------------------------------- features


class _Pool3(nn.Module):
    """pytorch-fid's ``InceptionV3.forward`` for the pool3 block as one module: the same
    preprocessing (bilinear resize to 299x299, ``align_corners=False``; ``2x - 1``) and
    the same blocks, returning ``(N, 2048)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not (getattr(model, "resize_input", False) and getattr(model, "normalize_input", False)):
            raise ValueError("expected pytorch-fid's InceptionV3 with resize and normalisation on")
        self.blocks = model.blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.interpolate(
            x, size=(299, 299), mode="bilinear", align_corners=False
        )
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


def fast_inception(model: nn.Module, device: str | torch.device = "cpu") -> nn.Module:
    """An inference copy of pytorch-fid's ``InceptionV3`` (from :func:`load_inception`):
    BatchNorm folded into the convolutions, channels_last weights, one module taking
    images in [0, 1] and returning ``(N, 2048)`` pool3 features.  Cached per model and
    device; ``model`` itself is left untouched.

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
    key = str(dev)
    net = per_model.get(key)
    if net is None:
        net = _Pool3(_fold_batchnorm(copy.deepcopy(model))).eval()
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
) -> np.ndarray:
    """Pool3 features ``(N, 2048)`` float64 of uint8 images ``N×C×H×W`` (C 1 or 3).

    Exactly pytorch-fid's input path: uint8 → float ``/255`` (as its ``ToTensor``),
    grayscale repeated to 3 channels, then the model's own bilinear resize to 299x299 and
    ``2x - 1``.  ``fast`` runs :func:`fast_inception` (same features to ~1e-5 relative);
    ``fast=False`` calls ``model`` itself, i.e. plain pytorch-fid.  ``runner`` replaces the
    fast torch module with another engine taking the same float32 ``(B, 3, H, W)`` batches
    in [0, 1] (e.g. :class:`~ganbench.metrics.onnx_engine.OnnxModule` of it).  Progress is drawn on
    stderr only when it is a terminal and ``$CI`` is unset.
    """
    if isinstance(images, np.ndarray):
        shape, dtype_ok = images.shape, images.dtype == np.uint8
    elif isinstance(images, torch.Tensor):
        shape, dtype_ok = tuple(images.shape), images.dtype == torch.uint8
    else:
        raise TypeError(f"images must be a numpy array or a torch tensor, got {type(images).__name__}")
    if not dtype_ok or len(shape) != 4 or shape[1] not in (1, 3):
        raise ValueError(
            f"images must be uint8 N×C×H×W with C in (1, 3), got {images.dtype} {tuple(shape)}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    n = shape[0]
    out = np.empty((n, FEATURE_DIM), dtype=np.float64)
    if runner is not None:
        net, fmt, fast = runner, torch.contiguous_format, True
    elif fast:
        net = fast_inception(model, dev)
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
                x = chunk.to(dev, non_blocking=True).to(torch.float32).div_(255.0)
                if x.shape[1] == 1:
                    x = x.expand(-1, 3, -1, -1)
                x = x.contiguous(memory_format=fmt)
                feats = net(x) if fast else net(x)[0]
                out[start : start + len(x)] = feats.reshape(len(x), -1).double().cpu().numpy()
                bar.update(len(x))
    finally:
        bar.close()
    return out
