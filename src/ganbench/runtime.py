"""Where and how the work runs: device, threads, seeding. No result depends on these
choices beyond floating-point rounding; they come from the ``runtime`` params section."""

from __future__ import annotations

import random

import numpy as np
import torch

from ganbench.errors import ParamsError


def resolve_device(device: str | torch.device, key: str = "runtime.device") -> torch.device:
    """"auto" → CUDA when available, else CPU; anything else as torch reads it.

    ``key`` names the params key in the error for an unknown device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ParamsError(f"unknown device {device!r}; set {key} to auto, cpu, cuda or cuda:N "
                          "in params.yaml") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParamsError(f"{key} is {device!r} but no CUDA device is available; set it to auto or cpu")
    return dev


def set_threads(n: int) -> None:
    """CPU intra-op threads; 0 keeps torch's default."""
    if n > 0:
        torch.set_num_threads(n)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
