"""The fast path of the training step, chosen from the device: on CUDA bf16 autocast
(per variant), ``torch.compile``, pinned host memory with the training split kept on
the device, and ``cudnn.benchmark`` unless ``train.deterministic``. On CPU nothing here
is switched on: CPU training runs in float32 exactly as written, and its results do not
depend on these params.

Evaluation never runs under any of this: it builds its own networks in float32 and
turns TF32 off (see :mod:`ganbench.metrics.inception_features`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Acceleration:
    """What the training step uses on its device."""

    #: Autocast dtype of the forward passes (None: float32, no autocast context at all).
    autocast: torch.dtype | None = None
    #: Compile the networks the objective calls.
    compile: bool = False
    #: Copy the training split to the device from page-locked memory (asynchronous copy).
    pin_memory: bool = False
    #: Keep the whole training split on the device (batches are gathered there).
    data_on_device: bool = False
    #: Let cuDNN autotune convolution algorithms (not bitwise repeatable).
    cudnn_benchmark: bool = False
    #: Ask torch for deterministic kernels.
    deterministic: bool = False

    def autocast_context(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast)


def select(device: torch.device, *, autocast: str, compile: bool, deterministic: bool) -> Acceleration:
    """The acceleration for ``device``: everything off unless it is a CUDA device."""
    if device.type != "cuda":
        return Acceleration()
    return Acceleration(
        autocast=torch.bfloat16 if autocast == "bf16" else None,
        compile=compile,
        pin_memory=True,
        data_on_device=True,
        cudnn_benchmark=not deterministic,
        deterministic=deterministic,
    )


def apply_backend_flags(accel: Acceleration, device: torch.device) -> None:
    """Set torch's global CUDA switches for training (nothing on CPU)."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = accel.cudnn_benchmark
    if accel.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True


def compiled(module: nn.Module | None, accel: Acceleration,
             compiler: Callable[[nn.Module], nn.Module] | None = None) -> nn.Module | None:
    """``module`` compiled when ``accel`` says so (the handle the objective calls; the
    module itself still owns the parameters, so checkpoints and EMA are unchanged)."""
    if module is None or not accel.compile:
        return module
    return (compiler or torch.compile)(module)
