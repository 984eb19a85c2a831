"""``ganbench train VARIANT --seed N``: the train@<variant>-<seed> DVC stage."""

from __future__ import annotations

import contextlib
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()
log = logging.getLogger("ganbench")

#: What `dvc metrics show` prints of a training run; the rest (configuration echo, the
#: best checkpoint, numerics, replay) goes to metrics/train/<run>.provenance.json.
TRAIN_HEADLINE = ("kimg", "g_steps", "d_steps", "wall_clock_s", "images_per_s", "eval_wall_clock_s")


@app.command("train")
@clean_errors
def train(
    variant: Annotated[str, typer.Argument(help="Registered variant name, e.g. dcgan.")],
    seed: Annotated[int, typer.Option(help="Training seed (one of params 'seeds').")] = 0,
    params: ParamsOption = Path("params.yaml"),
    processed: Annotated[Path, typer.Option(help="Preprocessed data folder.")] = Path("data/processed"),
    classifier: Annotated[Path | None, typer.Option(help="Domain classifier (training-time metric).")] = None,
    probe_reference: Annotated[Path | None, typer.Option(
        help="Its reference: features of training images (the probe-reference stage).")] = None,
    out: Annotated[Path, typer.Option(help="Model folder: checkpoint.pt, best.pt, history.csv, run.json.")] = Path(
        "models/dcgan-0"),
    metrics: Annotated[Path, typer.Option(help="Training metrics JSON to write.")] = Path(
        "metrics/train/dcgan-0.json"),
    plots: Annotated[Path, typer.Option(help="Loss history CSV for dvc plots.")] = Path(
        "plots/losses/dcgan-0.csv"),
    curves: Annotated[Path | None, typer.Option(help="Training-time metric CSV for dvc plots.")] = None,
    nproc: Annotated[int | None, typer.Option(
        help="Processes to train in (DistributedDataParallel via torchrun); default: params train.nproc.")] = None,
) -> None:
    """Train VARIANT with SEED on the preprocessed training split (resuming a matching
    checkpoint in OUT), log the run to MLflow, write METRICS, PLOTS and CURVES.

    With more than one process (--nproc or train.nproc) the command restarts itself under
    torchrun; under torchrun (or `torchrun --nproc_per_node N -m ganbench_pipeline.cli
    train ...`) every rank trains its share and rank 0 alone logs and writes files."""
    from ganbench.errors import ParamsError
    from ganbench.training.distributed import World, destroy_process_group, launch

    p = load(params, models=True)
    if variant not in p.variants:
        raise ParamsError(f"{variant!r} is not in params 'variants' ({', '.join(p.variants)}); add it "
                          "there or train one of those")
    if seed not in p.seeds:
        raise ParamsError(f"seed {seed} is not in params 'seeds' ({list(p.seeds)}); add it there")
    root = repo_root(params)
    key = f"{variant}-{seed}"
    world = World.from_env()
    processes = nproc if nproc is not None else p.train.nproc
    if processes < 1:
        raise ParamsError(f"--nproc must be ≥ 1, got {processes}")
    if processes > 1 and not world.distributed:
        World(0, processes).check_batch(p.train.batch_size)  # before starting any process
        args = ["ganbench_pipeline.cli", "train", variant, "--seed", str(seed), "--params", str(params),
                "--processed", str(processed), "--out", str(out), "--metrics", str(metrics), "--plots",
                str(plots), "--nproc", str(processes)]
        for flag, value in (("--classifier", classifier), ("--probe-reference", probe_reference),
                            ("--curves", curves)):
            if value is not None:
                args += [flag, str(value)]
        log.info("train %s: starting %d processes with torchrun", key, processes)
        code = launch(processes, args)
        if code > 128:
            typer.secho(f"error: train {key}: stopped by signal {code - 128}; the processes wrote a "
                        "checkpoint at their last agreed step: the same command (or `dvc repro`) resumes it",
                        err=True, fg=typer.colors.RED)
        elif code:
            typer.secho(f"error: train {key}: torchrun exited with status {code} (the processes' "
                        "messages are above); the last checkpoint in the model folder is intact",
                        err=True, fg=typer.colors.RED)
        raise typer.Exit(code=code)
    try:
        _train(p, root, key, variant, seed, world, processed, out, metrics, plots, curves, classifier,
               probe_reference)
    finally:
        destroy_process_group()


def _train(p, root: Path, key: str, variant: str, seed: int, world, processed: Path, out: Path,  # noqa: ANN001
           metrics: Path, plots: Path, curves: Path | None, classifier: Path | None,
           probe_reference: Path | None) -> None:
    """The training of one process (all of it in one process, or one rank's share)."""
    from ganbench.errors import GanbenchError, TrainingInterrupted
    from ganbench.results import write_result
    from ganbench.tracking.mlflow_run import TRAIN_PREFIX, check_reachable, quick_failures, resolve_tracking_uri
    from ganbench.tracking.model import log_generator
    from ganbench.tracking.resilient import ResilientRun
    from ganbench.training.run import PROGRESS_SERIES, train_variant
    from ganbench.training.setup import ProbeFiles, prepare_training

    uri = resolve_tracking_uri(p.mlflow, root)
    if not p.mlflow.offline and world.main:
        why = check_reachable(uri)
        if why is not None:
            raise GanbenchError(
                f"the MLflow tracking server {uri} is unreachable ({why}); start it, point "
                "mlflow.tracking_uri or $MLFLOW_TRACKING_URI at one that answers, or set "
                "mlflow.offline: true to train now and send the run's history later")
        quick_failures(uri)
    probe_files = ProbeFiles(classifier, probe_reference) if classifier and probe_reference else None
    setup = prepare_training(p, variant, seed, processed, out, probe_files, world=world)
    if setup.restart_reason and world.main:
        log.info("train %s: training from scratch: %s", key, setup.restart_reason)
    run = None if p.mlflow.offline or not world.main else open_training_run(p, root, setup, key, processed)
    sink = ResilientRun(run, out / "unsynced") if run is not None else None
    stop = StopOnSignal()
    status, reason = "FAILED", None
    try:
        with stop.installed(), (run.system_metrics() if run is not None and p.mlflow.system_metrics
                                 else contextlib.nullcontext()):
            result = train_variant(setup, sink, p.mlflow.experiment, stop=stop)
        status = "FINISHED"
        if sink is not None:
            sink.log_model(lambda: log_generator(run, result.checkpoint, result.metrics["g_steps"], variant))
    except TrainingInterrupted as exc:
        status, reason = "KILLED", str(exc)
        if world.main:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=128 + (stop.signal or 2)) from None
    except GanbenchError as exc:
        reason = str(exc)
        raise
    finally:
        if sink is not None:
            finish_run(sink, run, setup, status, reason)
    if not world.main:
        return
    # Where the run's record lives: the report finds the MLflow run of each result here.
    result.metrics["mlflow_run"] = {"run_id": run.run_id, "experiment": p.mlflow.experiment} \
        if run is not None else None
    write_result(metrics, result.metrics, headline=TRAIN_HEADLINE)
    probe_names = [setup.probe.name] if setup.probe is not None else []
    result.history.export(plots, exclude=(*PROGRESS_SERIES, *probe_names))
    if curves is not None:
        result.history.export(curves, include=probe_names, kimg_column=True)
    if run is not None and not sink.down:
        run.log_metrics({TRAIN_PREFIX + k: float(v) for k, v in result.metrics.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if result.resumed_from_kimg is not None:
            run.set_tags({"resumed_from_kimg": f"{result.resumed_from_kimg:.3f}"})
    m = result.metrics
    best = f", best {m['best']['metric']} {m['best']['value']:.4g} at {m['best']['kimg']:.3g} kimg" \
        if m.get("best") and m["best"].get("metric") else ""
    typer.echo(f"train {key}: {m['kimg']:.1f} kimg, {m['g_steps']} G steps, "
               f"{m['images_per_s']:.0f} img/s{best} -> {result.checkpoint}")


def open_training_run(p, root: Path, setup, key: str, processed: Path):  # noqa: ANN001, ANN201 - pipeline glue
    """The MLflow run to train in: the checkpoint's own run when it resumes and the
    store still has it, else a new one; with its params, datasets and pipeline run."""
    from ganbench import numerics
    from ganbench.config import flatten
    from ganbench.tracking.datasets import data_inputs
    from ganbench.tracking.mlflow_run import find_run, lead_eval_keys, start_run
    from ganbench.tracking.pipeline_run import attach_to_pipeline
    from ganbench.training.setup import mlflow_params

    run = None
    if setup.previous_run:
        run = find_run(p.mlflow, root, setup.previous_run["run_id"])
        if run is None:
            log.warning("train %s: MLflow run %s of the checkpoint is not in the tracking store; "
                        "continuing in a new run", key, setup.previous_run["run_id"])
        else:
            run.set_running()
            log.info("train %s: resuming at %.3g kimg in MLflow run %s", key, setup.state.kimg, run.run_id)
    if run is None:
        run = start_run(p.mlflow, root, key,
                        {"variant": setup.variant, "seed": str(setup.seed), "dataset": p.data.dataset,
                         "dvc_stage.train": f"train@{key}"},
                        command=f"ganbench train {setup.variant} --seed {setup.seed}",
                        first_metrics=lead_eval_keys(p.evaluate))
        if setup.previous_run:
            run.set_tags({"continues_run": setup.previous_run["run_id"]})
    run.set_tags(numerics.tags())
    run.log_params(flatten(mlflow_params(setup)))
    try:
        if not run.has_inputs():
            run.log_inputs(data_inputs(p, processed, root))
    except (OSError, KeyError, ValueError) as exc:  # a dataset record never stops training
        log.warning("train %s: the datasets are not recorded in MLflow run %s (%s: %s)", key, run.run_id,
                    type(exc).__name__, exc)
    attach_to_pipeline(p, root, run)
    return run


def finish_run(sink, run, setup, status: str, reason: str | None) -> None:  # noqa: ANN001
    """Send what is left, then mark the run (with the reason when it failed); a server
    that is down at this point only costs a warning."""
    from ganbench.tracking.pipeline_run import sync_pipeline_run

    sink.close(setup.history.committed_rows)
    try:
        if reason:
            run.set_tags({"failure_reason": reason[:5000]})
        run.finish(status)
        if run.parent_id:
            run.parent_id = sync_pipeline_run(run.client, run.parent_id)
    except Exception as exc:  # the server went away: the status is set by the next session
        log.warning("could not mark MLflow run %s %s (%s)", run.run_id, status, type(exc).__name__)


class StopOnSignal:
    """SIGINT/SIGTERM during training: the loop writes a checkpoint at the next step and
    stops (a second SIGINT interrupts at once)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, frame: object) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum
        log.warning("received signal %d: writing a checkpoint and stopping", signum)

    @contextlib.contextmanager
    def installed(self):  # noqa: ANN201 - context manager
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
