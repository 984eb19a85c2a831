"""``ganbench check``: gate evaluated metrics on committed thresholds (CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import clean_errors

app = typer.Typer()

#: Exit codes: 0 all within bounds, 1 a metric breaches its bound, 2 a metric is missing.
BREACH, MISSING = 1, 2


@app.command("check")
@clean_errors
def check(
    thresholds: Annotated[Path, typer.Option(help="YAML {variant: {metric: max}}.")] = Path(".ci/fid_thresholds.yaml"),
    eval_metrics: Annotated[Path, typer.Option(help="Folder of evaluation metrics JSON.")] = Path("metrics/eval"),
) -> None:
    """Compare metrics/eval/<variant>.json against THRESHOLDS: print metric, value,
    threshold and margin; exit 1 on a breach, 2 on a missing metric."""
    from ganbench.thresholds import check as check_thresholds
    from ganbench.thresholds import load_thresholds

    rows = check_thresholds(load_thresholds(thresholds), eval_metrics)
    typer.echo(f"{'':4} {'variant':<10} {'metric':<16} {'value':>10} {'max':>10} {'margin':>10}")
    for r in rows:
        status = "ok" if r["ok"] else ("MISS" if r["value"] is None else "FAIL")
        value = "missing" if r["value"] is None else f"{r['value']:.3f}"
        margin = "" if r["value"] is None else f"{r['max'] - r['value']:+.3f}"
        typer.echo(f"{status:4} {r['variant']:<10} {r['metric']:<16} {value:>10} {r['max']:>10.3f} {margin:>10}")
    if any(r["value"] is None for r in rows):
        typer.echo("check: a metric is missing (was it made with another N?)", err=True)
        raise typer.Exit(code=MISSING)
    if not all(r["ok"] for r in rows):
        raise typer.Exit(code=BREACH)
