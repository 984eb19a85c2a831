"""``ganbench train VARIANT``: the train@<variant> DVC stage."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from ganbench.config import flatten, to_dict
from ganbench.models import VARIANTS
from ganbench.models.base import variant_config_to_dict
from ganbench.tracking import CsvLossWriter, MultiTracker, start_run, write_run_file
from ganbench.training.run import train_variant
from ganbench.utils import write_json
from ganbench_pipeline.common import ParamsOption, clean_errors, load, repo_root

app = typer.Typer()


@app.command("train")
@clean_errors
def train(
    variant: Annotated[str, typer.Argument(help="Registered variant name, e.g. dcgan.")],
    params: ParamsOption = Path("params.yaml"),
    processed: Annotated[Path, typer.Option(help="Preprocessed data folder.")] = Path("data/processed"),
    models: Annotated[Path, typer.Option(help="Folder for models/<variant>/.")] = Path("models"),
    metrics: Annotated[Path, typer.Option(help="Folder for metrics/train/<variant>.json.")] = Path("metrics/train"),
    plots: Annotated[Path, typer.Option(help="Folder for plots/<variant>/losses.csv.")] = Path("plots"),
) -> None:
    """Train VARIANT on the preprocessed training split; log the run to MLflow."""
    p = load(params)
    if variant not in p.variants:
        raise typer.BadParameter(f"{variant!r} is not in params 'variants' ({', '.join(p.variants)})")
    vcfg = VARIANTS.get(variant).parse(p.variant_section(variant), prefix=variant)
    out_dir = models / variant
    out_dir.mkdir(parents=True, exist_ok=True)
    run = start_run(p.mlflow, repo_root(params), variant,
                    {"dataset": p.data.dataset, "dvc_stage.train": f"train@{variant}"})
    run.log_params(flatten({"variant": variant, "data": to_dict(p.data), "train": to_dict(p.train),
                            variant: variant_config_to_dict(vcfg)}))
    write_run_file(out_dir / "run.json", run, p.mlflow.experiment)
    losses_csv = CsvLossWriter(plots / variant / "losses.csv")
    status = "FAILED"
    try:
        with run.system_metrics() if p.mlflow.system_metrics else contextlib.nullcontext():
            result = train_variant(p, variant, processed, out_dir, MultiTracker(run, losses_csv),
                                   on_resume=lambda state: losses_csv.resume_from(state.step))
        status = "FINISHED"
    finally:
        run.finish(status)
    write_json(metrics / f"{variant}.json", result.metrics)
    run.log_metrics({f"train/{k}": float(v) for k, v in result.metrics.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool)})
    if result.resumed_from_kimg is not None:
        run.set_tags({"resumed_from_kimg": f"{result.resumed_from_kimg:.3f}"})
    typer.echo(f"train {variant}: {result.metrics['kimg']:.1f} kimg, {result.metrics['g_steps']} G steps, "
               f"{result.metrics['images_per_s']:.0f} img/s -> {result.checkpoint}")
