"""Checkpoints, the write side: everything needed to resume or to sample, loadable with
weights_only=True (reading them, and rebuilding the networks, is
:mod:`ganbench.models.checkpoint`, which sampling uses without the training code).

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

from pathlib import Path
from typing import Any

import torch

from ganbench.config.coerce import flatten, to_dict
from ganbench.config.schema import TrainConfig
from ganbench.errors import CheckpointError
from ganbench.io import torch_save
from ganbench.models.base import Geometry, VariantConfig
from ganbench.models.base import variant_config_to_dict
from ganbench.models.checkpoint import FORMAT
from ganbench.training.state import Progress, Trainee, images_per_step

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
