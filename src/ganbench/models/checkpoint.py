"""Reading checkpoints: a safe load (``weights_only=True``) with its layout checked, and
the networks rebuilt from it (see :mod:`ganbench.training.checkpoint` for the layout and
the write side). Sampling needs only this, so it never imports the training code."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.errors import CheckpointError
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry, VariantConfig, effective_g_step

FORMAT = 2
REQUIRED = ("format", "variant", "variant_config", "geometry", "G", "progress")


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``) and check its layout."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; train first (`dvc repro train@<variant>`)")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"checkpoint {path} is unreadable (not a torch zip archive: truncated or "
                              "corrupt); delete it and re-run training")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:120]}); delete it and re-run training") from None
    except Exception as exc:  # unpickling of a disallowed type under weights_only
        raise CheckpointError(f"checkpoint {path} holds objects that cannot be loaded safely "
                              f"({type(exc).__name__}); it was not written by ganbench: re-run training") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED):
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(REQUIRED)}; it was not written by "
                              "this ganbench version: re-run training")
    if ckpt["format"] != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {ckpt['format']}, expected {FORMAT} "
                              "(an older ganbench wrote it); re-run training")
    return ckpt


def networks_from_checkpoint(
    ckpt: dict[str, Any],
) -> tuple[nn.Module, nn.Module | None, nn.Module | None, VariantConfig, Geometry]:
    """Rebuild (G, D, G_ema, variant config, geometry) from a loaded checkpoint, no
    params.yaml needed."""
    spec = VARIANTS.get(ckpt["variant"])
    cfg = spec.parse(ckpt["variant_config"], prefix=ckpt["variant"])
    geometry = Geometry(**ckpt["geometry"])
    G, D = spec.build(cfg.model, geometry)
    try:
        G.load_state_dict(ckpt["G"])
        if D is not None and ckpt.get("D") is not None:
            D.load_state_dict(ckpt["D"])
        G_ema = None
        if ckpt.get("G_ema") is not None:
            G_ema, _ = spec.build(cfg.model, geometry)
            G_ema.load_state_dict(ckpt["G_ema"])
            G_ema.eval().requires_grad_(False)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint weights do not fit the {ckpt['variant']} networks "
                              f"({str(exc).splitlines()[0][:160]}); re-run training") from None
    return G, D, G_ema, cfg, geometry


def trained_g_step(ckpt: dict[str, Any]) -> str | None:
    """What the checkpoint's generator steps were fed (:func:`~ganbench.models.base.effective_g_step`
    of its variant config and ``train`` section). Checkpoints from before ``g_step``
    recorded ``train.share_fake``."""
    train = ckpt.get("train") or {}
    train_g_step = train.get("g_step")
    if train_g_step is None and "share_fake" in train:
        train_g_step = "shared_fake" if train["share_fake"] else "new_latents"
    own = (ckpt.get("variant_config") or {}).get("g_step")
    return effective_g_step(own, train_g_step, adversarial=ckpt.get("D") is not None)


def sampling_generator(ckpt: dict[str, Any], which: str = "ema") -> tuple[nn.Module, Geometry]:
    """The generator to sample: ``"ema"`` (the moving average) or ``"raw"`` (the trained
    weights), in eval mode without gradients."""
    G, _, G_ema, _, geometry = networks_from_checkpoint(ckpt)
    if which == "ema":
        if G_ema is None:
            raise CheckpointError(f"the {ckpt['variant']} checkpoint has no EMA generator (trained "
                                  "with train.ema_kimg: 0); set sample.generator: raw")
        G = G_ema
    elif which != "raw":
        raise ValueError(f"which must be 'ema' or 'raw', got {which!r}")
    return G.eval().requires_grad_(False), geometry
