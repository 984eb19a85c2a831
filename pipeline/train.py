"""``ganbench train VARIANT``: the train@<variant> DVC stage."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Annotated

import typer

from ganbench.config import flatten
from ganbench.io import write_json
from ganbench.tracking.mlflow_run import MlflowTracker, find_run, start_run
from ganbench.training.run import PROGRESS_SERIES, mlflow_params, prepare_training, train_variant
from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()
log = logging.getLogger("ganbench")


@app.command("train")
@clean_errors
def train(
    variant: Annotated[str, typer.Argument(help="Registered variant name, e.g. dcgan.")],
    params: ParamsOption = Path("params.yaml"),
    processed: Annotated[Path, typer.Option(help="Preprocessed data folder.")] = Path("data/processed"),
    out: Annotated[Path, typer.Option(help="Model folder: checkpoint.pt, history.csv, run.json.")] = Path(
        "models/dcgan"),
    metrics: Annotated[Path, typer.Option(help="Training metrics JSON to write.")] = Path(
        "metrics/train/dcgan.json"),
    plots: Annotated[Path, typer.Option(help="Loss history CSV for dvc plots.")] = Path(
        "plots/losses/dcgan.csv"),
) -> None:
    """Train VARIANT on the preprocessed training split (resuming a matching checkpoint in
    OUT), log the run to MLflow, write METRICS and PLOTS."""
    p = load(params)
    if variant not in p.variants:
        raise typer.BadParameter(f"{variant!r} is not in params 'variants' ({', '.join(p.variants)})")
    root = repo_root(params)
    setup = prepare_training(p, variant, processed, out)
    if setup.restart_reason:
        log.info("train %s: training from scratch: %s", variant, setup.restart_reason)
    run: MlflowTracker | None = None
    if setup.previous_run:
        run = find_run(p.mlflow, root, setup.previous_run["run_id"])
        if run is None:
            log.warning("train %s: MLflow run %s of the checkpoint is not in the tracking store; "
                        "continuing in a new run", variant, setup.previous_run["run_id"])
        else:
            run.set_running()
            log.info("train %s: resuming at %.3g kimg in MLflow run %s", variant,
                     setup.state.kimg, run.run_id)
    if run is None:
        run = start_run(p.mlflow, root, variant,
                        {"variant": variant, "dataset": p.data.dataset, "seed": str(p.train.seed),
                         "dvc_stage.train": f"train@{variant}"})
        if setup.previous_run:
            run.set_tags({"continues_run": setup.previous_run["run_id"]})
    run.log_params(flatten(mlflow_params(setup)))
    status = "FAILED"
    try:
        with run.system_metrics() if p.mlflow.system_metrics else contextlib.nullcontext():
            result = train_variant(setup, run, p.mlflow.experiment)
        status = "FINISHED"
    finally:
        run.finish(status)
    write_json(metrics, result.metrics)
    result.history.export(plots, exclude=PROGRESS_SERIES)
    run.log_metrics({f"train/{k}": float(v) for k, v in result.metrics.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool)})
    if result.resumed_from_kimg is not None:
        run.set_tags({"resumed_from_kimg": f"{result.resumed_from_kimg:.3f}"})
    m = result.metrics
    typer.echo(f"train {variant}: {m['kimg']:.1f} kimg, {m['g_steps']} G steps, "
               f"{m['images_per_s']:.0f} img/s -> {result.checkpoint}")
