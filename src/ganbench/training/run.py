"""Run the training that :mod:`ganbench.training.setup` prepared, and keep checkpoint,
history and run reference together.

At every checkpoint :func:`train_variant` writes, in this order, ``history.csv`` (the
scalars so far), ``checkpoint.pt`` and ``run.json``, then syncs the history into the
MLflow run, so a crash at any point leaves files that agree after the history is cut
back to the checkpoint's step. Every rank of a distributed run goes through it; only the
main rank keeps anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganbench import numerics
from ganbench.errors import GanbenchError
from ganbench.models.base import count_parameters
from ganbench.tracking.base import NullTracker, Routed, Tracker
from ganbench.tracking.history import History
from ganbench.tracking.mlflow_run import write_run_file
from ganbench.training.checkpoint import make_state, save_checkpoint
from ganbench.training.loop import images_per_step, train_loop
from ganbench.training.setup import RUN_FILE, TrainSetup
from ganbench.training.state import Progress

#: History series that describe progress, not the objective: kept out of the plots file.
PROGRESS_SERIES = ("kimg", "images_per_s")


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    checkpoint: Path
    resumed_from_kimg: float | None
    history: History


def train_variant(setup: TrainSetup, run: Tracker | None = None, experiment: str = "",
                  stop: Callable[[], bool] | None = None) -> TrainResult:
    """Run (or finish) the training that :func:`~ganbench.training.setup.prepare_training`
    set up; ``run`` receives the grids and the history (the MLflow run, whose id goes into
    the checkpoint).

    Besides ``checkpoint.pt`` (the last state, resumable) the model folder holds
    ``best.pt``: the generator at the best training-time evaluation (or the last one
    when there is no evaluation), for ``sample.checkpoint: best``.

    A non-main rank of a distributed run takes the same steps with null sinks: its
    tracker keeps nothing and it writes no history, checkpoint, grid or evaluation (the
    main rank keeps those)."""
    t = setup.trainee
    main = t.world.main
    run = run if run is not None and main else NullTracker()
    history = setup.history
    assert history is not None
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
    desc = f"train {setup.variant}-{setup.seed}" + ("" if main else f" rank {t.world.rank}")
    state = train_loop(t, setup.budget, setup.cadence, Routed(history, run) if main else NullTracker(),
                       state=setup.state, grid=setup.grid, save=save if main else lambda progress: None,
                       g_step=setup.g_step,
                       probe=probe if setup.probe is not None else None, stop=stop, desc=desc)
    resumed = setup.resumed_from.kimg if setup.resumed_from is not None else None
    if not main:
        return TrainResult(metrics={"variant": setup.variant, "seed": setup.seed, "kimg": state.kimg,
                                    "g_steps": state.step, "rank": t.world.rank},
                           checkpoint=setup.checkpoint, resumed_from_kimg=resumed, history=history)
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
    return TrainResult(metrics=metrics, checkpoint=setup.checkpoint, resumed_from_kimg=resumed,
                       history=history)
