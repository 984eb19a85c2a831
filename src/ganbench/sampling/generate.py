"""Drawing images from a generator: batching, the truncation rule, noise, uint8 or float pixels."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ganbench.progress import progress_bar


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] floats → uint8 [0, 255] as ``round((x + 1) · 127.5)``."""
    return ((images.float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def to_unit_float(images: Tensor) -> Tensor:
    """[-1, 1] floats → float32 [0, 1] as ``(x + 1) / 2``, unrounded."""
    return ((images.float() + 1.0) * 0.5).clamp_(0.0, 1.0)


#: ``sample.dtype`` → how a generator's [-1, 1] output becomes sample pixels.
PIXELS = {"uint8": to_uint8, "float32": to_unit_float}


def resolve_truncation(G: nn.Module, psi: float, strict: bool) -> float:
    """The truncation ψ actually applied to ``G``: the one place that rule lives.

    ψ only means something for generators with a mapping network
    (``G.supports_truncation``).  For others, ``strict`` (a user asked for ψ on the
    command line) raises; otherwise ψ is ignored and 1.0 is returned (and recorded)."""
    if not 0.0 <= psi <= 1.0:
        raise ValueError(f"truncation ψ must be in [0, 1], got {psi}")
    if getattr(G, "supports_truncation", False) or psi == 1.0:
        return psi
    if strict:
        raise ValueError(f"{type(G).__name__} has no mapping network: truncation must be 1.0")
    return 1.0


def generate(
    G: nn.Module,
    z: Tensor,
    c: Tensor | None = None,
    *,
    truncation_psi: float = 1.0,
    batch_size: int = 500,
    device: torch.device | str = "cpu",
    noise: torch.Generator | None = None,
    batchnorm: str = "running",
    show_progress: bool = False,
    dtype: str = "uint8",
) -> np.ndarray:
    """Images of ``G`` for latents ``z (N, z_dim)`` and labels ``c (N,)`` → an array
    ``(N, C, H, W)``, uint8 or (``dtype="float32"``) float32 in [0, 1] (:data:`PIXELS`),
    in batches of ``batch_size``.

    ``noise``: the CPU generator the per-layer noise inputs are drawn from (for
    generators that declare ``draw_noise``), batch after batch; None lets G draw its own
    from the global RNG. ``batchnorm``: ``"running"`` runs G in eval mode (BatchNorm
    uses its running statistics), ``"batch"`` normalises each batch with its own
    statistics (train-mode BatchNorm, without updating the running ones).
    ``truncation_psi`` must already be resolved (:func:`resolve_truncation`)."""
    device = torch.device(device)
    if batchnorm not in ("running", "batch"):
        raise ValueError(f"batchnorm must be 'running' or 'batch', got {batchnorm!r}")
    if dtype not in PIXELS:
        raise ValueError(f"dtype must be one of {sorted(PIXELS)}, got {dtype!r}")
    pixels = PIXELS[dtype]
    out: list[np.ndarray] = []
    bar = progress_bar(len(z), "sampling", enabled=show_progress)
    if batchnorm == "batch":
        G = _with_batch_statistics(G)
    was_training = G.training
    G.eval()
    if batchnorm == "batch":
        for m in G.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
    try:
        with torch.inference_mode():
            for i in range(0, len(z), batch_size):
                zb = z[i : i + batch_size].to(device)
                cb = c[i : i + batch_size].to(device) if c is not None else None
                kwargs = {}
                if truncation_psi != 1.0:
                    kwargs["truncation_psi"] = truncation_psi
                if noise is not None and hasattr(G, "draw_noise"):
                    kwargs["noise"] = [n.to(device) for n in G.draw_noise(len(zb), noise)]
                out.append(pixels(G(zb, cb, **kwargs)).cpu().numpy())
                bar.update(len(zb))
    finally:
        G.train(was_training)
        bar.close()
    return np.concatenate(out) if out else np.zeros((0,), np.dtype(dtype))


def has_batchnorm(G: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in G.modules())


def _with_batch_statistics(G: nn.Module) -> nn.Module:
    """A copy of ``G`` to run with batch-statistics BatchNorm (its running statistics
    would otherwise be updated by every sampled batch); ``G`` itself when it has none."""
    if not has_batchnorm(G):
        return G
    import copy

    return copy.deepcopy(G)
