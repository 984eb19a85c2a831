"""``ganbench sample VARIANT``: the sample@<variant> DVC stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.sampling.api import sample_checkpoint
from ganbench.sampling.files import make_grid, save_png, save_samples
from ganbench.tracking.mlflow_run import open_stage_run
from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()


@app.command("sample")
@clean_errors
def sample(
    variant: Annotated[str, typer.Argument(help="Registered variant name, e.g. dcgan.")],
    params: ParamsOption = Path("params.yaml"),
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint to sample.")] = Path("models/dcgan/checkpoint.pt"),
    run: Annotated[Path, typer.Option(help="run.json naming the MLflow run to log into.")] = Path(
        "models/dcgan/run.json"),
    out: Annotated[Path, typer.Option(help="Samples file to write (uint8 N×C×H×W).")] = Path("samples/dcgan.npz"),
    grid: Annotated[Path, typer.Option(help="Grid PNG to write.")] = Path("samples/dcgan.png"),
) -> None:
    """Draw sample.num images from CHECKPOINT with a fixed seed; write OUT and GRID."""
    p = load(params)
    drawn = sample_checkpoint(checkpoint, p.sample, device=p.runtime.device)
    save_samples(drawn.images, out, meta=drawn.meta)
    save_png(make_grid(drawn.grid, nrow=drawn.nrow), grid)
    tracker = open_stage_run(p.mlflow, repo_root(params), run, variant, "sample")
    tracker.log_artifact(grid, "samples")
    typer.echo(f"sample {variant}: {len(drawn.images)} images -> {out}, grid -> {grid}")
