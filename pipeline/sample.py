"""``ganbench sample VARIANT``: the sample@<variant> DVC stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.sampling import make_grid, save_png, save_samples
from ganbench.sampling_stage import sample_checkpoint
from ganbench.tracking import open_run
from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()


@app.command("sample")
@clean_errors
def sample(
    variant: Annotated[str, typer.Argument(help="Registered variant name, e.g. dcgan.")],
    params: ParamsOption = Path("params.yaml"),
    models: Annotated[Path, typer.Option(help="Folder holding models/<variant>/.")] = Path("models"),
    out: Annotated[Path, typer.Option(help="Folder for <variant>.npz and <variant>.png.")] = Path("samples"),
) -> None:
    """Draw sample.num images from VARIANT's checkpoint with a fixed seed."""
    p = load(params)
    images, grid_images, nrow = sample_checkpoint(models / variant / "checkpoint.pt", p.sample)
    npz, png = out / f"{variant}.npz", out / f"{variant}.png"
    save_samples(images, npz)
    save_png(make_grid(grid_images, nrow=nrow), png)
    run = open_run(p.mlflow, repo_root(params), models / variant / "run.json", variant, "sample")
    run.log_artifact(png, "samples")
    typer.echo(f"sample {variant}: {len(images)} images -> {npz}, grid -> {png}")
