"""``ganbench check``: gate evaluated metrics on committed thresholds (CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import clean_errors

app = typer.Typer()

#: Exit codes: 0 all within bounds, 1 a metric breaches its bound, 2 a metric is missing,
#: 3 a metric's protocol differs between its seeds or from the one its bound was set under.
BREACH, MISSING, PROTOCOL = 1, 2, 3


@app.command("check")
@clean_errors
def check(
    thresholds: Annotated[Path, typer.Option(help="YAML {variant: {metric: bound}}.")] = Path(
        ".ci/thresholds.yaml"),
    eval_metrics: Annotated[Path, typer.Option(help="Folder of evaluation metrics JSON.")] = Path("metrics/eval"),
    baseline: Annotated[Path | None, typer.Option(
        help="Instead of the gates: compare every value exactly with this folder of baseline metrics "
             "(relative 1e-6 for torch-only scores, 1e-5 for ONNX Runtime's Inception).")] = None,
) -> None:
    """Gate the mean over seeds of every metric in THRESHOLDS (metrics/eval/<variant>-<seed>.json):
    print metric, value, bound and margin; exit 1 on a breach, 2 on a missing metric, 3 when
    a metric's protocol differs between seeds or from the one declared by the thresholds'
    protocol_from (the eval results the bounds were set from).

    With --baseline DIR: every value of every run in DIR must be reproduced within float
    rounding (see ganbench.baseline); exit 1 on a difference, 2 on a missing or
    incomparable value (another protocol, or other numerics)."""
    if baseline is not None:
        _check_baseline(eval_metrics, baseline)
        return
    from ganbench.thresholds import PROTOCOL_KEY, protocol_source
    from ganbench.thresholds import check as check_thresholds
    from ganbench.thresholds import load_thresholds

    source = protocol_source(thresholds)
    rows = check_thresholds(load_thresholds(thresholds), eval_metrics, source)
    typer.echo(f"{'':4} {'variant':<10} {'metric':<20} {'seeds':>5} {'mean':>10} {'bound':>12} {'margin':>10}")
    for r in rows:
        status = "ok" if r["ok"] else ("MISS" if r["value"] is None else "PROT" if r["refused"] else "FAIL")
        value = "missing" if r["value"] is None else f"{r['value']:.4g}"
        margin = ""
        if r["value"] is not None and not r["refused"]:
            margin = f"{(r['value'] - r['bound']) if r['direction'] == 'min' else (r['bound'] - r['value']):+.4g}"
        bound = f"{r['direction']} {r['bound']:.4g}"
        typer.echo(f"{status:4} {r['variant']:<10} {r['metric']:<20} {r['seeds']:>5} {value:>10} {bound:>12} "
                   f"{margin:>10}")
    if source is not None:
        from ganbench.thresholds import unattainable

        for line in unattainable(load_thresholds(thresholds), source):
            typer.echo(f"check: warning: {line}", err=True)
    if source is None:
        typer.echo(f"check: {thresholds} declares no protocol ({PROTOCOL_KEY}: <folder of the eval results the "
                   "bounds were set from>), so bounds are matched by metric name only", err=True)
    refused = [r for r in rows if r["refused"]]
    for r in refused:
        typer.echo(f"check: {r['variant']} {r['metric']} not gated: {r['refused']}", err=True)
    if refused:
        raise typer.Exit(code=PROTOCOL)
    if any(r["value"] is None for r in rows):
        typer.echo("check: a metric is missing (was it made with another N, or is a seed missing?)", err=True)
        raise typer.Exit(code=MISSING)
    if not all(r["ok"] for r in rows):
        raise typer.Exit(code=BREACH)


def _check_baseline(eval_metrics: Path, baseline: Path) -> None:
    from ganbench.baseline import compare

    rows = compare(eval_metrics, baseline)
    typer.echo(f"{'':4} {'run':<12} {'metric':<20} {'baseline':>22} {'this run':>22} {'rel. diff':>9} {'rtol':>6}")
    for r in rows:
        status = "ok" if r.ok else ("MISS" if r.problem else "DIFF")
        shown = [repr(v) if v is not None else "-" for v in (r.baseline, r.value)]
        diff = f"{r.rel_diff:.1e}" if r.rel_diff is not None else "-"
        typer.echo(f"{status:4} {r.run:<12} {r.metric:<20} {shown[0]:>22} {shown[1]:>22} {diff:>9} {r.rtol:>6.0e}"
                   + (f"  ({r.problem})" if r.problem else ""))
    if any(r.problem for r in rows):
        typer.echo("check: a baseline value is missing here or was made under other numerics", err=True)
        raise typer.Exit(code=MISSING)
    if not all(r.ok for r in rows):
        typer.echo(f"check: {sum(not r.ok for r in rows)} value(s) differ from the baseline beyond float "
                   "rounding: the change altered the numbers (re-measure and commit a new baseline if "
                   "that was intended)", err=True)
        raise typer.Exit(code=BREACH)
    typer.echo(f"check: all {len(rows)} values reproduce the baseline")
