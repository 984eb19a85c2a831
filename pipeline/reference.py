"""Stage ``reference``: Inception statistics of the real reference split (data/reference/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load

app = typer.Typer()


@app.command("reference")
@clean_errors
def reference(
    params: ParamsOption = Path("params.yaml"),
    processed: Annotated[
        Path, typer.Option("--processed", help="Folder written by the preprocess stage.")
    ] = Path("data/processed"),
    weights: Annotated[Path, typer.Option("--weights", help="Inception weights file.")] = Path(
        "models/inception/pt_inception-2015-12-05-6726825d.pth"
    ),
    out: Annotated[
        Path, typer.Option("--out", help="Folder for stats.npz and meta.json.")
    ] = Path("data/reference"),
) -> None:
    """FID reference statistics (mu, sigma) of evaluate.reference_split."""
    from ganbench.data.dataset import load_meta, load_split
    from ganbench.errors import DataError
    from ganbench.metrics.fid import compute_reference, save_stats, to_uint8
    from ganbench.io import write_json

    p = load(params)
    cfg = p.evaluate
    meta = load_meta(processed)
    images, _ = load_split(processed, cfg.reference_split)
    available = int(images.shape[0])
    if cfg.num_real > available:
        raise DataError(
            f"evaluate.num_real is {cfg.num_real} but the {cfg.reference_split} split has "
            f"{available} images; lower evaluate.num_real in params.yaml (0 = all)"
        )
    n = cfg.num_real or available
    real = to_uint8(images[:n])
    del images
    mu, sigma, ref_meta = compute_reference(
        real, weights, batch_size=p.runtime.eval_batch_size, device=p.runtime.device,
        reference_split=cfg.reference_split, dataset=meta.get("dataset"),
    )
    save_stats(out / "stats.npz", mu, sigma, ref_meta)
    write_json(out / "meta.json", ref_meta)
    typer.echo(
        f"reference: {n} {meta.get('dataset', '?')} {cfg.reference_split} images -> "
        f"{out / 'stats.npz'} (weights {ref_meta['weights_sha256'][:12]}…)"
    )
