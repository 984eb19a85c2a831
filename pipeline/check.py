"""``ganbench check``: fail when an evaluated FID is above its committed threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.thresholds import check as check_thresholds
from ganbench.thresholds import load_thresholds
from ganbench_pipeline.common import clean_errors

app = typer.Typer()


@app.command("check")
@clean_errors
def check(
    thresholds: Annotated[Path, typer.Option(help="YAML {variant: {metric: max}}.")] = Path(".ci/fid_thresholds.yaml"),
    eval_metrics: Annotated[Path, typer.Option(help="Folder of evaluation metrics JSON.")] = Path("metrics/eval"),
) -> None:
    """Compare metrics/eval/<variant>.json against THRESHOLDS; exit 1 on any miss."""
    rows = check_thresholds(load_thresholds(thresholds), eval_metrics)
    for r in rows:
        status = "ok  " if r["ok"] else "FAIL"
        value = "missing" if r["value"] is None else f"{r['value']:.3f}"
        typer.echo(f"{status} {r['variant']}: {r['metric']} = {value} (max {r['max']:.3f})")
    if not all(r["ok"] for r in rows):
        raise typer.Exit(code=1)
