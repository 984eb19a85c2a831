"""Stage ``preprocess``: data/raw/<dataset>/ → data/processed/{train,test}.pt + meta.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load

app = typer.Typer()


@app.command("preprocess")
@clean_errors
def preprocess(
    params: ParamsOption = Path("params.yaml"),
    raw: Annotated[
        Path, typer.Option("--raw", help="Raw data root written by `download` (reads RAW/<dataset>/).")
    ] = Path("data/raw"),
    out: Annotated[
        Path, typer.Option("--out", help="Output folder for train.pt, test.pt and meta.json.")
    ] = Path("data/processed"),
) -> None:
    """Decode the IDX files to float32 tensors in [-1, 1], padded to data.resolution."""
    from ganbench.data.preprocess import preprocess as run_preprocess

    cfg = load(params).data
    meta = run_preprocess(raw / cfg.dataset, out, cfg)
    counts = ", ".join(f"{split} {s['count']}" for split, s in meta["splits"].items())
    typer.echo(
        f"preprocess: {meta['dataset']}: {counts} images at "
        f"{meta['channels']}x{meta['resolution']}x{meta['resolution']} in [-1, 1] -> {out}"
    )
