"""Stage ``download``: find, verify and copy the dataset's IDX files into data/raw/<dataset>/."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()


@app.command("download")
@clean_errors
def download(
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[
        Path, typer.Option("--out", help="Raw data root; files go to OUT/<dataset>/.")
    ] = Path("data/raw"),
) -> None:
    """Copy a checksum-verified copy of the dataset into OUT/<dataset>/ (with manifest.json)."""
    from ganbench.data.sources import fetch

    cfg = load(params).data
    if cfg.source_dir and not Path(cfg.source_dir).expanduser().is_absolute():
        # A relative data.source_dir is relative to the folder holding params.yaml.
        cfg = dataclasses.replace(cfg, source_dir=str(repo_root(params) / cfg.source_dir))
    dest = out / cfg.dataset
    manifest = fetch(cfg, dest)
    source = manifest["source"]
    typer.echo(
        f"download: {cfg.dataset}: {len(manifest['files'])} files verified from "
        f"{source['kind']} ({source['from']}) -> {dest}"
    )
