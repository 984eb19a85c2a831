"""``ganbench sample VARIANT --seed N``: the sample@<variant>-<seed> DVC stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()


@app.command("sample")
@clean_errors
def sample(
    variant: Annotated[str, typer.Argument(help="Registered variant name, e.g. dcgan.")],
    seed: Annotated[int, typer.Option(help="Training seed of the run to sample.")] = 0,
    params: ParamsOption = Path("params.yaml"),
    checkpoint: Annotated[Path, typer.Option(help="The last checkpoint.")] = Path("models/dcgan-0/checkpoint.pt"),
    best: Annotated[Path, typer.Option(help="The best checkpoint (sample.checkpoint: best).")] = Path(
        "models/dcgan-0/best.pt"),
    run: Annotated[Path, typer.Option(help="run.json naming the MLflow run to log into.")] = Path(
        "models/dcgan-0/run.json"),
    out: Annotated[Path, typer.Option(help="Samples file to write (uint8 N×C×H×W).")] = Path(
        "samples/dcgan-0.npz"),
    grid: Annotated[Path, typer.Option(help="Grid PNG to write.")] = Path("samples/dcgan-0.png"),
) -> None:
    """Draw sample.num images from the sample.checkpoint (last or best) with a fixed
    seed; write OUT and GRID."""
    from ganbench.sampling.api import sample_checkpoint
    from ganbench.sampling.files import make_grid, save_png, save_samples
    from ganbench.tracking.mlflow_run import open_stage_run

    p = load(params)
    drawn = sample_checkpoint(best if p.sample.checkpoint == "best" else checkpoint, p.sample,
                              device=p.runtime.device, variant=variant)
    meta = {**drawn.meta, "checkpoint": p.sample.checkpoint, "train_seed": seed}
    save_samples(drawn.images, out, meta=meta)
    save_png(make_grid(drawn.grid, nrow=drawn.nrow), grid)
    tracker = open_stage_run(p.mlflow, repo_root(params), run, f"{variant}-{seed}", "sample", p)
    tracker.log_artifact(grid, "samples")
    typer.echo(f"sample {variant}-{seed}: {len(drawn.images)} images from the {p.sample.checkpoint} "
               f"checkpoint -> {out}, grid -> {grid}")
