"""Checkpoints: everything needed to resume or to sample, loadable with weights_only=True.

Layout (format 1)::

    {"format": 1, "variant": str, "variant_config": dict (a params section),
     "geometry": dict, "train": dict, "data": dict,
     "G": state_dict, "D": state_dict, "G_ema": state_dict | None,
     "opt_G": state_dict, "opt_D": state_dict,
     "progress": {"step", "d_step", "images_seen", "wall_clock_s"},
     "sampler": dict, "rng": {"torch": ByteTensor, "cuda": list[ByteTensor]},
     "fixed": {"z": Tensor, "c": Tensor | None}}
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.errors import CheckpointError
from ganbench.models import VARIANTS, Geometry, VariantConfig
from ganbench.utils import torch_save

FORMAT = 1
REQUIRED = ("format", "variant", "variant_config", "geometry", "G", "D")


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    torch_save({"format": FORMAT, **state}, path)


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
                              f"({type(exc).__name__}); it was not written by ganbench — re-run training") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED):
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(REQUIRED)}; it was not written by "
                              "this ganbench version — re-run training")
    if ckpt["format"] != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {ckpt['format']}, expected {FORMAT}; "
                              "re-run training")
    return ckpt


def networks_from_checkpoint(
    ckpt: dict[str, Any],
) -> tuple[nn.Module, nn.Module, nn.Module | None, VariantConfig, Geometry]:
    """Rebuild (G, D, G_ema, variant config, geometry) from a loaded checkpoint, no params.yaml needed."""
    spec = VARIANTS.get(ckpt["variant"])
    cfg = spec.parse(ckpt["variant_config"], prefix=ckpt["variant"])
    geometry = Geometry(**ckpt["geometry"])
    G, D = spec.build(cfg.model, geometry)
    try:
        G.load_state_dict(ckpt["G"])
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


def sampling_generator(ckpt: dict[str, Any]) -> tuple[nn.Module, Geometry]:
    """The generator used for sampling/evaluation: the EMA copy when there is one."""
    G, _, G_ema, _, geometry = networks_from_checkpoint(ckpt)
    G = G_ema if G_ema is not None else G
    return G.eval().requires_grad_(False), geometry
