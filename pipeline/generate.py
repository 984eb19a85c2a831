"""``ganbench generate CHECKPOINT``: images from any variant's checkpoint, no dataset needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import clean_errors

app = typer.Typer()


@app.command("generate")
@clean_errors
def generate(
    checkpoint: Annotated[Path, typer.Argument(help="models/<variant>/checkpoint.pt")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of images.")] = 64,
    seed: Annotated[int, typer.Option(help="Latent seed.")] = 1,
    truncation: Annotated[float, typer.Option(help="Truncation ψ (mapping-network variants).")] = 1.0,
    interpolate: Annotated[bool, typer.Option("--interpolate", help="Walk between two latents.")] = False,
    class_index: Annotated[int | None, typer.Option("--class", help="Class label (conditional models).")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Sample the raw weights, not the EMA generator.")] = False,
    out: Annotated[Path, typer.Option(help="Output PNG grid.")] = Path("grid.png"),
) -> None:
    """Write a grid of N generated images to OUT."""
    from ganbench.errors import GanbenchError
    from ganbench.sampling.api import generate_from_checkpoint
    from ganbench.sampling.files import make_grid, save_png

    try:
        images, nrow = generate_from_checkpoint(checkpoint, n=n, seed=seed, truncation=truncation,
                                                interpolate=interpolate, class_index=class_index,
                                                generator="raw" if raw else "ema")
    except ValueError as exc:
        raise GanbenchError(str(exc)) from None
    save_png(make_grid(images, nrow=nrow), out)
    typer.echo(f"generate: {len(images)} images -> {out}")
