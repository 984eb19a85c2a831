"""How the training step runs on its device: the arithmetic (``train.precision``, the
same for every variant on every device) and, on CUDA only, the fast path:
``torch.compile``, pinned host memory with the training split kept on the device, and
``cudnn.benchmark`` unless ``train.deterministic``. On CPU the step runs as written, in
float32 unless ``train.precision: bf16`` asks for bfloat16 autocast; a CPU without
bf16 units (or pinned to AVX2 by ``numerics.cpu_isa``) then emulates it, and
:func:`bf16_problem` says so.

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


def select(device: torch.device, *, precision: str, compile: bool, deterministic: bool) -> Acceleration:
    """The acceleration for ``device``: the ``precision`` on every device (the same for
    every variant), the rest only on a CUDA device."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    dtype = torch.bfloat16 if precision == "bf16" else None
    if device.type != "cuda":
        return Acceleration(autocast=dtype)
    return Acceleration(
        autocast=dtype,
        compile=compile,
        pin_memory=True,
        data_on_device=True,
        cudnn_benchmark=not deterministic,
        deterministic=deterministic,
    )


def bf16_problem(device: torch.device) -> str | None:
    """Why bf16 on ``device`` is emulated rather than run by bf16 units (None: native).

    On a CPU that needs bf16 units (AVX512_BF16 or AMX-BF16) and kernels allowed to use
    them (``numerics.cpu_isa: native``: the AVX2 pin keeps oneDNN below them)."""
    if device.type != "cpu":
        return None
    from ganbench import numerics

    if not numerics.native_bf16():
        return f"this CPU ({numerics.cpu_model()}) has no bf16 units (AVX512_BF16 or AMX-BF16)"
    if os.environ.get(numerics.MARKER, "native") != "native":
        return (f"numerics.cpu_isa is {os.environ[numerics.MARKER]!r}, which keeps oneDNN below the "
                "CPU's bf16 units; set numerics.cpu_isa: native")
    return None


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
