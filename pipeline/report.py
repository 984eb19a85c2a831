"""``ganbench report``: the report DVC stage."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

if TYPE_CHECKING:
    from ganbench.config import Params
    from ganbench.report import RunId

app = typer.Typer()
log = logging.getLogger("ganbench")

#: Files of the report logged into every run's MLflow artifacts (under report/).
LOGGED = ("index.html", "report.md", "metrics.csv", "comparisons.csv", "runs.csv")


def runs_of(p: Params) -> list[RunId]:
    """Every (variant, seed) run of the params, variants outermost."""
    from ganbench.report import run_ids

    return run_ids(p.variants, p.seeds)


@app.command("report")
@clean_errors
def report(
    params: ParamsOption = Path("params.yaml"),
    train_metrics: Annotated[Path, typer.Option(help="Folder of train metrics JSON (<variant>-<seed>.json).")] = Path(
        "metrics/train"),
    eval_metrics: Annotated[Path, typer.Option(help="Folder of evaluation metrics JSON.")] = Path("metrics/eval"),
    samples: Annotated[Path, typer.Option(help="Folder of sample grids (<variant>-<seed>.png).")] = Path("samples"),
    losses: Annotated[Path, typer.Option(help="Folder of loss CSVs (step,name,value).")] = Path("plots/losses"),
    curves: Annotated[Path, typer.Option(help="Folder of training-time metric CSVs.")] = Path("plots/curves"),
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("reports"),
    mlflow_check: Annotated[bool, typer.Option(help="Cross-check every number against the MLflow runs.")] = True,
) -> None:
    """Compare every variant over its seeds → OUT (index.html, report.md, CSVs). Every number
    is first checked against its MLflow run; the report is then logged into every run."""
    from ganbench.report import ReportOptions, ReportPaths, build_report, cross_check, load_runs
    from ganbench.report.crosscheck import mlflow_run
    from ganbench.tracking.mlflow_run import MlflowTracker, open_run, resolve_tracking_uri, runs_page

    p = load(params)
    root = repo_root(params)
    ids = runs_of(p)
    runs = load_runs(ids, ReportPaths(train_metrics, eval_metrics, samples, losses, curves))
    if mlflow_check and p.mlflow.offline:
        log.info("mlflow.offline: the report's numbers are not cross-checked against MLflow")
    elif mlflow_check:
        result = cross_check(runs, resolve_tracking_uri(p.mlflow, root))
        for line in result.warnings:
            log.warning(line)
        result.raise_for_mismatch()
        log.info("MLflow cross-check: %d run(s) agree, %d not checked", len(result.checked), len(result.skipped))
    options = ReportOptions()
    rep = build_report(runs, out, options)
    pipelines: dict[str, MlflowTracker] = {}
    for run in runs:  # the MLflow run each training result names (metrics/train/<key>.provenance.json)
        tracker = open_run(p.mlflow, root, mlflow_run(run), run.key, "report", p)
        for name in LOGGED:
            tracker.log_artifact(out / name, "report")
        if isinstance(tracker, MlflowTracker) and tracker.parent_id:
            pipelines.setdefault(tracker.parent_id, MlflowTracker(tracker.tracking_uri, tracker.parent_id))
    for parent in pipelines.values():  # the pipeline run's row shows the report too
        for name in LOGGED:
            parent.log_artifact(out / name, "report")
        experiment = parent.client.get_run(parent.run_id).info.experiment_id
        server = "" if parent.tracking_uri.startswith(("http:", "https:")) else \
            f" (after `mlflow ui --backend-store-uri {parent.tracking_uri}`)"
        typer.echo(f"MLflow: pipeline run {parent.run_id}; its runs: {runs_page(parent.tracking_uri, experiment)}"
                   f"{server}")
    for line in rep.warnings:
        log.warning(line.replace("**", ""))
    typer.echo(f"{out / 'index.html'}: {len(rep.variants)} variants, {len(rep.runs)} runs, "
               f"{len(rep.columns)} metric columns, {sum(c.significant for c in rep.comparisons)} of "
               f"{len(rep.comparisons)} pairwise differences at p < {options.alpha:g}")
