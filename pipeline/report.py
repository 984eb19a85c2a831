"""``ganbench report``: the report DVC stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()


@app.command("report")
@clean_errors
def report(
    params: ParamsOption = Path("params.yaml"),
    train_metrics: Annotated[Path, typer.Option(help="Folder of train metrics JSON.")] = Path("metrics/train"),
    eval_metrics: Annotated[Path, typer.Option(help="Folder of evaluation metrics JSON.")] = Path("metrics/eval"),
    samples: Annotated[Path, typer.Option(help="Folder of sample grids (<variant>.png).")] = Path("samples"),
    models: Annotated[Path, typer.Option(help="Folder of model folders holding run.json.")] = Path("models"),
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("reports"),
) -> None:
    """Compare every variant's metrics in one table → OUT; logged to each variant's run."""
    from ganbench.report import build_report
    from ganbench.tracking.mlflow_run import open_stage_run

    p = load(params)
    keys = [f"{v}-{s}" for v in p.variants for s in p.seeds]
    df = build_report(keys, train_metrics, eval_metrics, samples, out)
    for key in keys:
        tracker = open_stage_run(p.mlflow, repo_root(params), models / key / "run.json", key, "report", p)
        for name in ("report.md", "metrics.csv", "index.html"):
            tracker.log_artifact(out / name, "report")
    typer.echo(df.to_string(index=False))
