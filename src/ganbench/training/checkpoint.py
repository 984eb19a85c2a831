"""Checkpoints: everything needed to resume or to sample, loadable with weights_only=True.

Layout (format 2)::

    {"format": 2, "variant": str, "variant_config": dict (a params section),
     "geometry": dict, "identity": dict (what must match to resume, see :func:`identity`),
     "train": dict (the train params section), "dataset": str,
     "G": state_dict, "D": state_dict | None, "G_ema": state_dict | None (BatchNorm
     statistics recomputed for its weights), "ema": {"half_life_kimg", "half_life_g_steps",
     "nominal_kimg", "rampup"} | None (the half-life in effect at this progress),
     "objective": dict (the objective's own state, e.g. the path-length mean),
     "opt_G": state_dict, "opt_D": state_dict | None,
     "progress": {"step", "d_step", "images_seen", "wall_clock_s"},
     "sampler": dict, "rng": {"torch": ByteTensor, "cuda": list[ByteTensor]},
     "fixed": {"z": Tensor, "c": Tensor | None}, "run": {"run_id", "experiment"} | None}
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.config.coerce import flatten, to_dict
from ganbench.config.schema import TrainConfig
from ganbench.errors import CheckpointError
from ganbench.io import torch_save
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry, VariantConfig
from ganbench.models.base import variant_config_to_dict
from ganbench.training.state import Progress, Trainee, images_per_step

FORMAT = 2
REQUIRED = ("format", "variant", "variant_config", "geometry", "G", "progress")
#: TrainConfig keys that say how long to train, not what: they stay out of the identity,
#: so raising the budget resumes.
BUDGET_KEYS = ("budget", "kimg", "g_steps", "seconds")


def identity(variant: str, vcfg: VariantConfig, geometry: Geometry, train: TrainConfig,
             data_fingerprint: str, code_fingerprint: str, numerics: dict[str, Any]) -> dict[str, Any]:
    """Everything that defines a run's result apart from its budget: a checkpoint is
    resumed only when this matches exactly (``numerics``: the params section that decides
    the CPU kernels and threads)."""
    return {
        "variant": variant,
        "variant_config": variant_config_to_dict(vcfg),
        "geometry": to_dict(geometry),
        "train": {k: v for k, v in to_dict(train).items() if k not in BUDGET_KEYS},
        "data": data_fingerprint,
        "code": code_fingerprint,
        "numerics": dict(numerics),
    }


def identity_difference(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """The first key whose value differs, in words, or None when they match."""
    if old == new:
        return None
    if not isinstance(old, dict):
        return "the checkpoint records no identity"
    a, b = flatten(old), flatten(new)
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            if key == "code":
                return "the training code changed"
            if key == "data":
                return "the preprocessed data changed"
            return f"{key} changed ({a.get(key)!r} → {b.get(key)!r})"
    return "the identity changed"


def make_state(t: Trainee, *, variant: str, ident: dict[str, Any], train: TrainConfig,
               dataset: str, progress: Progress, fixed_z: torch.Tensor,
               fixed_c: torch.Tensor | None, run: dict[str, str] | None) -> dict[str, Any]:
    """The checkpoint dict of a trainee at ``progress`` (see the module docstring)."""
    device = t.batches.device
    return {
        "format": FORMAT,
        "variant": variant,
        "variant_config": ident["variant_config"],
        "geometry": ident["geometry"],
        "identity": ident,
        "train": to_dict(train),
        "dataset": dataset,
        "G": t.G.state_dict(),
        "D": t.D.state_dict() if t.D is not None else None,
        "G_ema": t.ema.calibrated().state_dict() if t.ema is not None else None,
        "ema": t.ema.describe(progress.images_seen, images_per_step(t)) if t.ema is not None else None,
        "objective": t.objective.state_dict(),
        "opt_G": t.opt_G.state_dict(),
        "opt_D": t.opt_D.state_dict() if t.opt_D is not None else None,
        "progress": vars(progress).copy(),
        "sampler": t.batches.state_dict(),
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else []},
        "fixed": {"z": fixed_z, "c": fixed_c},
        "run": dict(run) if run else None,
    }


def restore(t: Trainee, ckpt: dict[str, Any]) -> Progress:
    """Load a checkpoint's networks, optimizers, EMA, data order and RNG into ``t``."""
    t.G.load_state_dict(ckpt["G"])
    if t.D is not None:
        t.D.load_state_dict(ckpt["D"])
    t.opt_G.load_state_dict(ckpt["opt_G"])
    if t.opt_D is not None:
        t.opt_D.load_state_dict(ckpt["opt_D"])
    if t.ema is not None:
        if ckpt.get("G_ema") is None:
            raise CheckpointError("the checkpoint has no EMA generator but training uses one; "
                                  "re-run training from scratch (runtime.resume: false)")
        t.ema.model.load_state_dict(ckpt["G_ema"])
    t.objective.load_state_dict(ckpt.get("objective") or {})
    t.batches.load_state_dict(ckpt["sampler"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    if t.batches.device.type == "cuda" and ckpt["rng"].get("cuda"):
        torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    return Progress(**ckpt["progress"])


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    torch_save(state, path)


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
