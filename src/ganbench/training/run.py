"""Train one variant: build it from params, decide between resuming and starting over,
run the loop, keep checkpoint, history and run reference together.

The train stage is two pure steps around the choice of MLflow run:

* :func:`prepare_training` builds networks, objective, optimizers, EMA and data, and
  inspects ``<out_dir>/checkpoint.pt``.  A checkpoint is resumed only when its identity
  (every result-defining param, the preprocessed data and a fingerprint of the training
  code) matches; then its run reference says which MLflow run to continue.  A budget
  lower than the checkpoint's progress is refused rather than silently retrained.
* :func:`train_variant` runs the loop.  At every checkpoint it writes, in this order,
  ``history.csv`` (the scalars so far), ``checkpoint.pt`` and ``run.json``, then syncs
  the history into the MLflow run, so a crash at any point leaves files that agree
  after the history is cut back to the checkpoint's step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ganbench import numerics
from ganbench.config.coerce import to_dict
from ganbench.config.schema import Params
from ganbench.data.dataset import load_meta, load_split
from ganbench.errors import GanbenchError, ParamsError
from ganbench.losses import OBJECTIVES
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry, VariantConfig
from ganbench.models.base import count_parameters
from ganbench.provenance import code_fingerprint
from ganbench.runtime import resolve_device, seed_everything, set_threads
from ganbench.sampling.latents import grid_inputs
from ganbench.tracking.history import History, Row
from ganbench.tracking.mlflow_run import write_run_file
from ganbench.training.budget import Budget
from ganbench.models.checkpoint import load_checkpoint
from ganbench.training.checkpoint import (
    identity,
    identity_difference,
    make_state,
    restore,
    save_checkpoint,
)
from ganbench.nn.sync_batchnorm import convert_sync_batchnorm
from ganbench.training.accel import apply_backend_flags, bf16_problem, compiled
from ganbench.training.accel import select as select_acceleration
from ganbench.training.distributed import World, init_process_group, replicate
from ganbench.training.ema import EMA, BatchNormRecalibration, recalibration_seed
from ganbench.training.loop import Cadence, Grid, images_per_step, train_loop
from ganbench.training.optim import make_optimizer
from ganbench.training.state import Progress, RealBatches, Trainee

log = logging.getLogger("ganbench")

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
HISTORY = "history.csv"
RUN_FILE = "run.json"
#: History series that describe progress, not the objective: kept out of the plots file.
PROGRESS_SERIES = ("kimg", "images_per_s")


class RunSink(Protocol):
    """Where a training run's grids and history go besides the model folder (MLflow)."""

    run_id: str | None

    def log_image(self, image: np.ndarray, key: str, step: int) -> None: ...

    def sync(self, rows: Sequence[Row]) -> int: ...


class NoRun:
    """A :class:`RunSink` that keeps nothing (tests, ``mlflow`` unavailable)."""

    run_id: str | None = None

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        pass

    def sync(self, rows: Sequence[Row]) -> int:
        return 0


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
    def checkpoint(self) -> Path:
        return self.out_dir / CHECKPOINT

    @property
    def best_checkpoint(self) -> Path:
        return self.out_dir / BEST


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    checkpoint: Path
    resumed_from_kimg: float | None
    history: History


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


class _LoopTracker:
    """The loop's tracker: scalars into the history, grids into the run."""

    def __init__(self, history: History, run: RunSink) -> None:
        self.history = history
        self.run = run

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.history.log_metrics(metrics, step)

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        self.run.log_image(image, key, step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        pass


def train_variant(setup: TrainSetup, run: RunSink | None = None, experiment: str = "",
                  stop: Callable[[], bool] | None = None) -> TrainResult:
    """Run (or finish) the training that :func:`prepare_training` set up; ``run`` receives
    the grids and the history (the MLflow run, whose id goes into the checkpoint).

    Besides ``checkpoint.pt`` (the last state, resumable) the model folder holds
    ``best.pt``: the generator at the best training-time evaluation (or the last one
    when there is no evaluation), for ``sample.checkpoint: best``."""
    run = run if run is not None else NoRun()
    history = setup.history
    assert history is not None
    t = setup.trainee
    if not t.world.main:
        return _train_replica(setup, stop)
    run_ref = {"run_id": run.run_id, "experiment": experiment} if run.run_id else None
    run.sync(history.committed_rows)  # a resumed run may lack the last rows before its checkpoint

    def state_at(progress: Progress) -> dict[str, Any]:
        state = make_state(t, variant=setup.variant, ident=setup.ident, train=setup.params.train,
                           dataset=setup.dataset, progress=progress, fixed_z=setup.grid.z,
                           fixed_c=setup.grid.c, run=run_ref)
        state["seed"] = setup.seed
        state["best"] = dict(setup.best) if setup.best else None
        return state

    def save_best(progress: Progress, why: dict[str, Any]) -> None:
        state = state_at(progress)
        for heavy in ("D", "opt_G", "opt_D", "sampler"):  # only what sampling needs
            state[heavy] = None
        state["best"] = why
        save_checkpoint(state, setup.best_checkpoint)

    def probe(progress: Progress) -> dict[str, float]:
        values = setup.probe(t.sampling_G(setup.params.sample.generator))
        name = setup.probe.name
        if setup.best is None or values[name] < setup.best["value"]:
            setup.best = {"metric": name, "value": values[name], "step": progress.step,
                          "kimg": progress.kimg}
            save_best(progress, setup.best)
        return values

    def save(progress: Progress) -> None:
        try:
            history.commit()
            save_checkpoint(state_at(progress), setup.checkpoint)
            if setup.probe is None:  # no evaluation: "best" is the last state
                save_best(progress, {"metric": None, "value": None, "step": progress.step,
                                     "kimg": progress.kimg})
            if run_ref is not None:
                write_run_file(setup.out_dir / RUN_FILE, run_ref["run_id"], experiment)
        except OSError as exc:
            raise GanbenchError(
                f"cannot write the checkpoint of {setup.variant}-{setup.seed} into {setup.out_dir} "
                f"({exc.strerror or type(exc).__name__}); free disk space or make the folder writable, "
                "then run the same command again: the previous checkpoint is intact") from None
        run.sync(history.rows)

    start_step = setup.state.step
    state = train_loop(t, setup.budget, setup.cadence, _LoopTracker(history, run), state=setup.state,
                       grid=setup.grid, save=save, share_fake=setup.params.train.share_fake,
                       probe=probe if setup.probe is not None else None, stop=stop,
                       desc=f"train {setup.variant}-{setup.seed}")
    if state.step == start_step and (setup.resumed_from is None or run_ref != setup.previous_run
                                     or not setup.best_checkpoint.is_file()):
        # Nothing was left to train: the checkpoint on disk is already this state (left
        # untouched, so its hash does not change), unless it must point at another run.
        save(state)
    tcfg = setup.params.train
    metrics = {
        "variant": setup.variant,
        "seed": setup.seed,
        "budget": tcfg.budget,
        "budget_amount": setup.budget.amount,
        "kimg": state.kimg,
        "images_seen": state.images_seen,
        "g_steps": state.step,
        "d_steps": state.d_step,
        "batch_size": tcfg.batch_size,
        "ema_kimg": tcfg.ema_kimg,
        "ema_rampup": tcfg.ema_rampup,
        # The half-life the last EMA update used (the ramp-up caps it below ema_kimg until
        # ema_kimg / ema_rampup thousand images): in kimg and in generator steps.
        **({f"ema_{k}": v for k, v in t.ema.describe(state.images_seen, images_per_step(t)).items()
            if k.startswith("half_life")} if t.ema is not None else {}),
        "wall_clock_s": round(state.wall_clock_s, 3),
        "images_per_s": round(state.images_seen / max(state.wall_clock_s, 1e-9), 2),
        "eval_wall_clock_s": round(state.eval_wall_clock_s, 3),
        "best": setup.best,
        "params_G": count_parameters(t.G),
        "params_D": count_parameters(t.D),
        "device": str(t.batches.device),
        "nproc": t.world.size,
        "threads": torch.get_num_threads(),
        "precision": tcfg.precision,
        "numerics": numerics.describe(),
        "conditional": bool(setup.geometry.num_classes),
        "loss": setup.vcfg.loss.name,
        # A wall-clock budget does not reproduce across machines; this one does.
        "replay": {"budget": "g_steps", "g_steps": state.step},
    }
    resumed = setup.resumed_from.kimg if setup.resumed_from is not None else None
    return TrainResult(metrics=metrics, checkpoint=setup.checkpoint, resumed_from_kimg=resumed,
                       history=history)


def _train_replica(setup: TrainSetup, stop: Callable[[], bool] | None) -> TrainResult:
    """A non-main rank of a distributed run: the same steps, and nothing written (no
    history, checkpoint, grids or evaluations; the main rank keeps those)."""
    from ganbench.tracking import NullTracker

    state = train_loop(setup.trainee, setup.budget, setup.cadence, NullTracker(), state=setup.state,
                       grid=setup.grid, save=lambda progress: None, share_fake=setup.params.train.share_fake,
                       stop=stop, desc=f"train {setup.variant}-{setup.seed} rank {setup.trainee.world.rank}")
    metrics = {"variant": setup.variant, "seed": setup.seed, "kimg": state.kimg, "g_steps": state.step,
               "rank": setup.trainee.world.rank}
    resumed = setup.resumed_from.kimg if setup.resumed_from is not None else None
    return TrainResult(metrics=metrics, checkpoint=setup.checkpoint, resumed_from_kimg=resumed,
                       history=History(setup.out_dir / HISTORY))


def mlflow_params(setup: TrainSetup) -> dict[str, Any]:
    """The params that define this run (logged once to its MLflow run), named alike for
    every variant so that runs of different variants line up in MLflow's compare view:
    ``variant``, ``seed``, ``budget``, the variant's own section under the common names
    ``model``, ``loss``, ``g_optim``, ``d_optim`` (None without a discriminator) and
    ``conditional`` (as trained), and the shared sections ``data``, ``train``, ``numerics``."""
    from ganbench.models.base import variant_config_to_dict

    p = setup.params
    section = variant_config_to_dict(setup.vcfg)
    section["conditional"] = bool(setup.geometry.num_classes)
    return {"variant": setup.variant, "seed": setup.seed, "budget": setup.budget.describe(), **section,
            "data": to_dict(p.data), "train": to_dict(p.train), "numerics": to_dict(p.numerics)}
