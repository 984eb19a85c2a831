"""``ganbench evaluate VARIANT``: the evaluate@<variant> DVC stage (FID with provenance)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.io import write_json
from ganbench.metrics.fid import compute_fid
from ganbench.sampling.files import load_samples
from ganbench.tracking.mlflow_run import open_stage_run
from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()


@app.command("evaluate")
@clean_errors
def evaluate(
    variant: Annotated[str, typer.Argument(help="Registered variant name, e.g. dcgan.")],
    params: ParamsOption = Path("params.yaml"),
    samples: Annotated[Path, typer.Option(help="Samples file written by the sample stage.")] = Path(
        "samples/dcgan.npz"),
    reference: Annotated[Path, typer.Option(help="Reference statistics file.")] = Path("data/reference/stats.npz"),
    weights: Annotated[Path, typer.Option(help="Inception weights file.")] = Path(
        "models/inception/pt_inception-2015-12-05-6726825d.pth"),
    run: Annotated[Path, typer.Option(help="run.json naming the MLflow run to log into.")] = Path(
        "models/dcgan/run.json"),
    out: Annotated[Path, typer.Option(help="Metrics JSON to write.")] = Path("metrics/eval/dcgan.json"),
) -> None:
    """FID of VARIANT's samples against the reference statistics, with full provenance."""
    p = load(params)
    images, sample_meta = load_samples(samples)
    result = compute_fid(images, reference, weights, batch_size=p.runtime.eval_batch_size,
                         device=p.runtime.device, sample_meta=sample_meta)
    result = {"variant": variant, **result}
    write_json(out, result)
    tracker = open_stage_run(p.mlflow, repo_root(params), run, variant, "evaluate")
    scalars = {k: float(v) for k, v in result.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    tracker.log_metrics(scalars)
    tracker.log_dict(result, f"eval/{variant}.json")
    tracker.set_tags({"fid.weights_sha256": str(result["provenance"]["weights_sha256"])})
    name = result["metric"]
    typer.echo(f"evaluate {variant}: {name} = {result[name]:.3f} "
               f"(N gen {result['num_gen']}, N real {result['num_real']})")
