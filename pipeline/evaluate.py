"""``ganbench evaluate VARIANT``: the evaluate@<variant> DVC stage (Inception FID)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ganbench.errors import DataError
from ganbench.metrics.fid import compute_fid
from ganbench.tracking import open_run
from ganbench.utils import write_json
from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()


def load_samples(path: Path) -> np.ndarray:
    try:
        with np.load(path) as npz:
            images = npz["images"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"samples file {path} is missing or unreadable ({type(exc).__name__}); "
                        "re-run the sample stage (`dvc repro sample@<variant>`)") from None
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DataError(f"{path}: 'images' must be uint8 N×C×H×W, got {images.dtype} {images.shape}; "
                        "re-run the sample stage")
    return images


@app.command("evaluate")
@clean_errors
def evaluate(
    variant: Annotated[str, typer.Argument(help="Registered variant name, e.g. dcgan.")],
    params: ParamsOption = Path("params.yaml"),
    samples: Annotated[Path, typer.Option(help="Folder holding <variant>.npz.")] = Path("samples"),
    reference: Annotated[Path, typer.Option(help="Reference statistics file.")] = Path("data/reference/stats.npz"),
    weights: Annotated[Path, typer.Option(help="Inception weights file.")] = Path(
        "models/inception/pt_inception-2015-12-05-6726825d.pth"),
    models: Annotated[Path, typer.Option(help="Folder holding models/<variant>/run.json.")] = Path("models"),
    out: Annotated[Path, typer.Option(help="Folder for metrics/eval/<variant>.json.")] = Path("metrics/eval"),
) -> None:
    """FID of VARIANT's samples against the reference split, with full provenance."""
    p = load(params)
    images = load_samples(samples / f"{variant}.npz")
    result = compute_fid(images, reference, weights, p.evaluate)
    result = {"variant": variant, **result}
    write_json(out / f"{variant}.json", result)
    run = open_run(p.mlflow, repo_root(params), models / variant / "run.json", variant, "evaluate")
    scalars = {k: float(v) for k, v in result.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    run.log_metrics(scalars)
    run.log_dict(result, f"eval/{variant}.json")
    run.set_tags({"fid.weights_sha256": str(result.get("provenance", {}).get("weights_sha256", ""))})
    name = next(k for k in result if k.startswith("fid"))
    typer.echo(f"evaluate {variant}: {name} = {result[name]:.3f} "
               f"(N gen {result.get('num_gen')}, N real {result.get('num_real')})")
