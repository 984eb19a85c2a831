"""``ganbench train VARIANT --seed N``: the train@<variant>-<seed> DVC stage."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()
log = logging.getLogger("ganbench")


@app.command("train")
@clean_errors
def train(
    variant: Annotated[str, typer.Argument(help="Registered variant name, e.g. dcgan.")],
    seed: Annotated[int, typer.Option(help="Training seed (one of params 'seeds').")] = 0,
    params: ParamsOption = Path("params.yaml"),
    processed: Annotated[Path, typer.Option(help="Preprocessed data folder.")] = Path("data/processed"),
    classifier: Annotated[Path | None, typer.Option(help="Domain classifier (training-time metric).")] = None,
    domain_reference: Annotated[Path | None, typer.Option(help="Its reference features.")] = None,
    out: Annotated[Path, typer.Option(help="Model folder: checkpoint.pt, best.pt, history.csv, run.json.")] = Path(
        "models/dcgan-0"),
    metrics: Annotated[Path, typer.Option(help="Training metrics JSON to write.")] = Path(
        "metrics/train/dcgan-0.json"),
    plots: Annotated[Path, typer.Option(help="Loss history CSV for dvc plots.")] = Path(
        "plots/losses/dcgan-0.csv"),
    curves: Annotated[Path | None, typer.Option(help="Training-time metric CSV for dvc plots.")] = None,
) -> None:
    """Train VARIANT with SEED on the preprocessed training split (resuming a matching
    checkpoint in OUT), log the run to MLflow, write METRICS, PLOTS and CURVES."""
    from ganbench.config import flatten
    from ganbench.io import write_json
    from ganbench.tracking.mlflow_run import MlflowTracker, find_run, pipeline_tags, start_run
    from ganbench.training.run import (
        PROGRESS_SERIES,
        ProbeFiles,
        mlflow_params,
        prepare_training,
        train_variant,
    )

    p = load(params, models=True)
    if variant not in p.variants:
        raise typer.BadParameter(f"{variant!r} is not in params 'variants' ({', '.join(p.variants)})")
    if seed not in p.seeds:
        raise typer.BadParameter(f"seed {seed} is not in params 'seeds' ({list(p.seeds)})")
    root = repo_root(params)
    probe_files = ProbeFiles(classifier, domain_reference) if classifier and domain_reference else None
    setup = prepare_training(p, variant, seed, processed, out, probe_files)
    key = f"{variant}-{seed}"
    if setup.restart_reason:
        log.info("train %s: training from scratch: %s", key, setup.restart_reason)
    run: MlflowTracker | None = None
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
                        {"variant": variant, "seed": str(seed), "dataset": p.data.dataset,
                         "dvc_stage.train": f"train@{key}"})
        if setup.previous_run:
            run.set_tags({"continues_run": setup.previous_run["run_id"]})
    run.set_tags(pipeline_tags(p, root, run))
    run.log_params(flatten(mlflow_params(setup)))
    status = "FAILED"
    try:
        with run.system_metrics() if p.mlflow.system_metrics else contextlib.nullcontext():
            result = train_variant(setup, run, p.mlflow.experiment)
        status = "FINISHED"
    finally:
        run.finish(status)
    write_json(metrics, result.metrics)
    probe_names = [setup.probe.name] if setup.probe is not None else []
    result.history.export(plots, exclude=(*PROGRESS_SERIES, *probe_names))
    if curves is not None:
        result.history.export(curves, include=probe_names, kimg_column=True)
    run.log_metrics({f"train/{k}": float(v) for k, v in result.metrics.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool)})
    if result.resumed_from_kimg is not None:
        run.set_tags({"resumed_from_kimg": f"{result.resumed_from_kimg:.3f}"})
    m = result.metrics
    best = f", best {m['best']['metric']} {m['best']['value']:.4g} at {m['best']['kimg']:.3g} kimg" \
        if m.get("best") and m["best"].get("metric") else ""
    typer.echo(f"train {key}: {m['kimg']:.1f} kimg, {m['g_steps']} G steps, "
               f"{m['images_per_s']:.0f} img/s{best} -> {result.checkpoint}")
