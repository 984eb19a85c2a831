"""Train one variant end to end: build it from params, resume if possible, run the loop.

``train_variant`` is the pure function behind the ``train`` stage: it reads the
preprocessed data, writes ``<out_dir>/checkpoint.pt`` and returns the training
metrics; where losses and images go is decided by the tracker passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganbench.config import Params, to_dict
from ganbench.data.dataset import load_meta, load_split
from ganbench.losses import OBJECTIVES
from ganbench.models import VARIANTS, Geometry, VariantConfig
from ganbench.models.base import count_parameters, variant_config_to_dict
from ganbench.sampling import latents
from ganbench.tracking import Tracker
from ganbench.training.checkpoint import load_checkpoint, save_checkpoint
from ganbench.training.ema import EMA
from ganbench.training.loop import Progress, RealBatches, Trainee, make_optimizer, train_loop
from ganbench.utils import resolve_device, seed_everything, set_threads

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    checkpoint: Path
    resumed_from_kimg: float | None


def grid_latents(z_dim: int, n: int, seed: int, num_classes: int) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """Fixed latents for progress grids. Conditional: one row per class. Returns (z, c, nrow)."""
    if num_classes:
        per_row = max(1, n // num_classes)
        c = torch.arange(num_classes).repeat_interleave(per_row)
        return latents(len(c), z_dim, seed), c, per_row
    nrow = max(1, int(round(n**0.5)))
    return latents(n, z_dim, seed), None, nrow


def _identity(params: Params, variant: str, vcfg: VariantConfig, geometry: Geometry) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed (everything but the budget)."""
    return {
        "variant": variant,
        "variant_config": variant_config_to_dict(vcfg),
        "geometry": to_dict(geometry),
        "seed": params.train.seed,
        "batch_size": params.train.batch_size,
        "dataset": params.data.dataset,
    }


def train_variant(
    params: Params,
    variant: str,
    processed_dir: Path,
    out_dir: Path,
    tracker: Tracker,
    on_resume: Any = None,
) -> TrainResult:
    spec = VARIANTS.get(variant)
    vcfg = spec.parse(params.variant_section(variant), prefix=variant)
    tcfg = params.train
    set_threads(tcfg.threads)
    device = resolve_device(tcfg.device)

    meta = load_meta(processed_dir)
    images, labels = load_split(processed_dir, "train")
    conditional = vcfg.conditional if vcfg.conditional is not None else tcfg.conditional
    geometry = Geometry(channels=int(images.shape[1]), resolution=int(images.shape[-1]),
                        num_classes=int(meta["num_classes"]) if conditional else 0)

    seed_everything(tcfg.seed)
    G, D = spec.build(vcfg.model, geometry)
    memory_format = torch.channels_last if tcfg.channels_last else torch.contiguous_format
    G = G.to(device=device, memory_format=memory_format)
    D = D.to(device=device, memory_format=memory_format)
    opt_G = make_optimizer(G, vcfg.g_optim)
    opt_D = make_optimizer(D, vcfg.d_optim)
    objective = OBJECTIVES.get(vcfg.loss.name)(vcfg.loss, G, D)
    ema = EMA(G, vcfg.ema_kimg, vcfg.ema_rampup) if vcfg.ema_kimg > 0 else None
    batches = RealBatches(images, labels if conditional else None, tcfg.batch_size, tcfg.seed,
                          device, channels_last=tcfg.channels_last)
    fixed_z, fixed_c, nrow = grid_latents(G.z_dim, tcfg.grid_size, tcfg.seed + 1, geometry.num_classes)

    identity = _identity(params, variant, vcfg, geometry)
    ckpt_path = Path(out_dir) / CHECKPOINT_NAME
    state = Progress()
    resumed_from = None
    total_images = int(round(tcfg.kimg * 1000))
    if tcfg.resume and ckpt_path.is_file():
        ckpt = load_checkpoint(ckpt_path)
        if ckpt.get("identity") == identity and ckpt["progress"]["images_seen"] <= total_images:
            G.load_state_dict(ckpt["G"])
            D.load_state_dict(ckpt["D"])
            opt_G.load_state_dict(ckpt["opt_G"])
            opt_D.load_state_dict(ckpt["opt_D"])
            if ema is not None:
                ema.model.load_state_dict(ckpt["G_ema"])
            batches.load_state_dict(ckpt["sampler"])
            torch.set_rng_state(ckpt["rng"]["torch"])
            if device.type == "cuda" and ckpt["rng"].get("cuda"):
                torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
            state = Progress(**ckpt["progress"])
            resumed_from = state.kimg
            if on_resume is not None:
                on_resume(state)

    def save(progress: Progress) -> None:
        save_checkpoint(
            {
                "variant": variant,
                "variant_config": identity["variant_config"],
                "geometry": identity["geometry"],
                "identity": identity,
                "train": to_dict(tcfg),
                "data": to_dict(params.data),
                "G": G.state_dict(),
                "D": D.state_dict(),
                "G_ema": ema.model.state_dict() if ema is not None else None,
                "opt_G": opt_G.state_dict(),
                "opt_D": opt_D.state_dict(),
                "progress": vars(progress).copy(),
                "sampler": batches.state_dict(),
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else []},
                "fixed": {"z": fixed_z, "c": fixed_c},
            },
            ckpt_path,
        )

    trainee = Trainee(G=G, D=D, objective=objective, opt_G=opt_G, opt_D=opt_D, batches=batches,
                      ema=ema, num_classes=geometry.num_classes)
    state = train_loop(trainee, tcfg, tracker, total_images=total_images, state=state,
                       fixed_z=fixed_z, fixed_c=fixed_c, grid_nrow=nrow, save=save,
                       desc=f"train {variant}")
    metrics = {
        "kimg": state.kimg,
        "images_seen": state.images_seen,
        "g_steps": state.step,
        "d_steps": state.d_step,
        "batch_size": tcfg.batch_size,
        "wall_clock_s": round(state.wall_clock_s, 3),
        "images_per_s": round(state.images_seen / max(state.wall_clock_s, 1e-9), 2),
        "params_G": count_parameters(G),
        "params_D": count_parameters(D),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "conditional": bool(geometry.num_classes),
        "loss": vcfg.loss.name,
    }
    return TrainResult(metrics=metrics, checkpoint=ckpt_path, resumed_from_kimg=resumed_from)
