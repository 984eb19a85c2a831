"""Set up the training of one variant: build networks, objective, optimizers, EMA and
data from params, and decide between resuming and starting over (the run itself is
:mod:`ganbench.training.run`).

:func:`prepare_training` inspects ``<out_dir>/checkpoint.pt``. A checkpoint is resumed
only when its identity (every result-defining param, the preprocessed data and a
fingerprint of the training code) matches; then its run reference says which MLflow run
to continue. A budget lower than the checkpoint's progress is refused rather than
silently retrained.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganbench.config.coerce import to_dict
from ganbench.config.schema import GStep, Params
from ganbench.data.dataset import load_meta, load_split
from ganbench.errors import ParamsError
from ganbench.losses import OBJECTIVES
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry, VariantConfig
from ganbench.models.checkpoint import load_checkpoint
from ganbench.nn.sync_batchnorm import convert_sync_batchnorm
from ganbench.provenance import code_fingerprint
from ganbench.runtime import resolve_device, seed_everything, set_threads
from ganbench.sampling.latents import grid_inputs
from ganbench.tracking.history import History
from ganbench.training.accel import apply_backend_flags, bf16_problem, compiled
from ganbench.training.accel import select as select_acceleration
from ganbench.training.budget import Budget
from ganbench.training.checkpoint import identity, identity_difference, restore
from ganbench.training.distributed import World, init_process_group, replicate
from ganbench.training.ema import EMA, BatchNormRecalibration, recalibration_seed
from ganbench.training.loop import Cadence, Grid, images_per_step
from ganbench.training.optim import make_optimizer
from ganbench.training.state import Progress, RealBatches, Trainee

log = logging.getLogger("ganbench")

#: The model folder's files: the last state (resumable), the generator at the best
#: training-time evaluation, the run's scalars, and the MLflow run it is logged in.
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
HISTORY = "history.csv"
RUN_FILE = "run.json"


@dataclass
class TrainSetup:
    """Everything :func:`train_variant` needs, and what :func:`prepare_training` found."""

    variant: str
    vcfg: VariantConfig
    geometry: Geometry
    params: Params
    trainee: Trainee
    budget: Budget
    cadence: Cadence
    grid: Grid
    ident: dict[str, Any]
    dataset: str
    out_dir: Path
    seed: int
    #: The training-time evaluation (None when train.eval_every_kimg is 0).
    probe: Any = None
    state: Progress = field(default_factory=Progress)
    #: The checkpoint's progress when resuming, else None.
    resumed_from: Progress | None = None
    #: The MLflow run the resumed checkpoint belongs to.
    previous_run: dict[str, str] | None = None
    #: Why an existing checkpoint was not resumed (None when there was none, or resumed).
    restart_reason: str | None = None
    history: History | None = None
    #: The best training-time evaluation so far: {"metric", "value", "step", "kimg"}.
    best: dict[str, Any] | None = None

    @property
    def g_step(self) -> GStep | None:
        """What the generator step is fed (None without a discriminator):
        :meth:`~ganbench.models.base.VariantConfig.effective_g_step`."""
        return self.vcfg.effective_g_step(self.params.train.g_step)

    @property
    def checkpoint(self) -> Path:
        return self.out_dir / CHECKPOINT

    @property
    def best_checkpoint(self) -> Path:
        return self.out_dir / BEST


def data_fingerprint(meta: Mapping[str, Any]) -> str:
    """sha256 of the preprocessed data's meta.json content (source checksums, geometry,
    split shapes)."""
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ProbeFiles:
    """What the training-time evaluation reads: the domain classifier and its reference."""

    classifier: Path
    reference: Path


def prepare_training(params: Params, variant: str, seed: int, processed_dir: Path, out_dir: Path,
                     probe_files: ProbeFiles | None = None, world: World | None = None) -> TrainSetup:
    """Build the run and decide between resuming ``out_dir``'s checkpoint and starting
    over. ``probe_files`` enables the training-time evaluation (with
    ``train.eval_every_kimg`` > 0). ``world``: this process's place in a distributed run
    (one process by default); every rank calls this with the same arguments, joins the
    process group, wraps the networks for DDP and reads the same checkpoint."""
    world = world if world is not None else World()
    spec = VARIANTS.get(variant)
    vcfg = params.model(variant)
    tcfg, rcfg = params.train, params.runtime
    if tcfg.nproc != world.size and world.main:
        log.warning("train %s-%s: running in %d process(es) while params train.nproc is %d; the "
                    "checkpoint records %d", variant, seed, world.size, tcfg.nproc, world.size)
    tcfg = dataclasses.replace(tcfg, nproc=world.size)
    set_threads(params.numerics.threads)
    device = init_process_group(world, resolve_device(rcfg.device))
    accel = select_acceleration(device, precision=tcfg.precision, compile=rcfg.compile,
                                deterministic=tcfg.deterministic)
    if accel.autocast is not None and world.main and (why := bf16_problem(device)) is not None:
        log.warning("train %s-%s: train.precision bf16 is emulated here, slower than fp32, and its numbers "
                    "match neither fp32 nor a bf16 CPU's: %s", variant, seed, why)
    apply_backend_flags(accel, device)

    meta = load_meta(processed_dir)
    images, labels = load_split(processed_dir, "train")
    conditional = vcfg.conditional if vcfg.conditional is not None else tcfg.conditional
    geometry = Geometry(channels=int(images.shape[1]), resolution=int(images.shape[-1]),
                        num_classes=int(meta["num_classes"]) if conditional else 0)
    labels = labels if conditional else None
    if accel.data_on_device:  # one copy to the accelerator, from page-locked memory when asked
        pin = (lambda x: x.pin_memory()) if accel.pin_memory else (lambda x: x)
        images = pin(images).to(device, non_blocking=True)
        labels = pin(labels).to(device, non_blocking=True) if labels is not None else None

    seed_everything(seed)
    G, D = spec.build(vcfg.model, geometry)
    if world.distributed:  # batch statistics over every rank's share, as in one process
        G = convert_sync_batchnorm(G)
        D = convert_sync_batchnorm(D) if D is not None else None
    memory_format = torch.channels_last if rcfg.channels_last else torch.contiguous_format
    G = G.to(device=device, memory_format=memory_format)
    D = D.to(device=device, memory_format=memory_format) if D is not None else None
    # The objective calls the networks through these handles (DDP, compiled); the modules
    # themselves own the weights the optimizers, the EMA and the checkpoints see.
    objective = OBJECTIVES.get(vcfg.loss.name)(vcfg.loss, replicate(compiled(G, accel), world, device),
                                               replicate(compiled(D, accel), world, device))
    opt_G = make_optimizer(G, vcfg.g_optim, objective.reg_interval("G"))
    opt_D = make_optimizer(D, vcfg.d_optim, objective.reg_interval("D")) if D is not None else None
    recalibration = BatchNormRecalibration(
        batches=tcfg.ema_bn_batches, batch_size=tcfg.batch_size, z_dim=G.z_dim,
        num_classes=geometry.num_classes, seed=recalibration_seed(seed), device=device)
    ema = EMA(G, tcfg.ema_kimg, tcfg.ema_rampup, recalibration) if tcfg.ema_kimg > 0 else None
    batches = RealBatches(images, labels, tcfg.batch_size, seed, device, channels_last=rcfg.channels_last,
                          world=world)
    grid_seed = seed + 1
    z, c, nrow = grid_inputs(G.z_dim, rcfg.grid_size, grid_seed, geometry.num_classes)
    trainee = Trainee(G=G, D=D, objective=objective, opt_G=opt_G, opt_D=opt_D, batches=batches,
                      ema=ema, num_classes=geometry.num_classes, world=world, seed=seed, accel=accel)
    budget = Budget.from_config(tcfg)
    probe, probe_ident = None, None
    if tcfg.eval_every_kimg > 0 and probe_files is not None:
        from ganbench.io import sha256_file
        from ganbench.metrics.probe import DomainProbe

        scfg = params.sample
        if world.main:  # the other ranks never evaluate
            probe = DomainProbe(probe_files.classifier, probe_files.reference, tcfg.eval_num, seed, G.z_dim,
                                geometry.num_classes, device, batch_size=scfg.batch_size,
                                batchnorm=scfg.batchnorm)
        # The probe picks best.pt, so it draws as the sample stage will: the same generator,
        # BatchNorm mode and (for batch statistics) batch size.
        probe_ident = {"classifier": sha256_file(probe_files.classifier),
                       "reference": sha256_file(probe_files.reference),
                       "generator": scfg.generator, "batchnorm": scfg.batchnorm,
                       **({"batch_size": scfg.batch_size} if scfg.batchnorm == "batch" else {})}
    ident = identity(variant, vcfg, geometry, tcfg, data_fingerprint(meta), code_fingerprint("train"),
                     numerics=to_dict(params.numerics))
    ident.update(seed=seed, probe=probe_ident)
    setup = TrainSetup(
        variant=variant, vcfg=vcfg, geometry=geometry, params=params, trainee=trainee,
        budget=budget,
        cadence=Cadence(log_every=rcfg.log_every, image_every=rcfg.image_every,
                        checkpoint_every_images=max(1, int(round(rcfg.checkpoint_every_kimg * 1000))),
                        probe_every_images=int(round(tcfg.eval_every_kimg * 1000)) if probe else 0),
        grid=Grid(z=z, c=c, nrow=nrow, seed=grid_seed), ident=ident,
        dataset=str(meta.get("dataset")), out_dir=Path(out_dir), seed=seed, probe=probe)

    if rcfg.resume and setup.checkpoint.is_file():
        ckpt = load_checkpoint(setup.checkpoint)
        setup.restart_reason = identity_difference(ckpt.get("identity"), setup.ident)
        if setup.restart_reason is None:
            progress = Progress(**ckpt["progress"])
            # Several processes end a seconds budget at a flush (see train_loop), up to
            # log_every - 1 steps after the step that reached it.
            late = rcfg.log_every if world.distributed and budget.mode == "seconds" else 1
            if budget.overshot(progress, images_per_step(trainee), late):
                raise ParamsError(
                    f"{setup.checkpoint} has trained past the budget ({progress.kimg:g} kimg, "
                    f"{progress.step} generator steps; budget {budget.describe()}), and a run is "
                    "never shortened in place: raise the budget, or set runtime.resume: false "
                    "(or delete the folder) to train a new, shorter run from scratch")
            setup.state = restore(trainee, ckpt)
            setup.resumed_from = Progress(**ckpt["progress"])
            setup.previous_run = ckpt.get("run")
            setup.best = ckpt.get("best")
            setup.history = History.resume(setup.out_dir / HISTORY, setup.state.step)
    if setup.history is None:
        setup.history = History(setup.out_dir / HISTORY)
    return setup


def mlflow_params(setup: TrainSetup) -> dict[str, Any]:
    """The params that define this run (logged once to its MLflow run), named alike for
    every variant so that runs of different variants line up in MLflow's compare view:
    ``variant``, ``seed``, ``budget``, the variant's own section under the common names
    ``model``, ``loss``, ``g_optim``, ``d_optim`` (None without a discriminator) and
    ``conditional`` and ``g_step`` (as trained), and the shared sections ``data``, ``train``,
    ``numerics``."""
    from ganbench.models.base import variant_config_to_dict

    p = setup.params
    section = variant_config_to_dict(setup.vcfg)
    section["conditional"] = bool(setup.geometry.num_classes)
    section["g_step"] = setup.g_step
    return {"variant": setup.variant, "seed": setup.seed, "budget": setup.budget.describe(), **section,
            "data": to_dict(p.data), "train": to_dict(p.train), "numerics": to_dict(p.numerics)}
