"""``ganbench evaluate VARIANT --seed N``: the evaluate@<variant>-<seed> DVC stage: every
metric in evaluate.metrics, each with its provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ClassifierOption, ParamsOption, clean_errors, load, repo_root

app = typer.Typer()


@app.command("evaluate")
@clean_errors
def evaluate(
    variant: Annotated[str, typer.Argument(help="Registered variant name, e.g. dcgan.")],
    seed: Annotated[int, typer.Option(help="Training seed of the run to evaluate.")] = 0,
    params: ParamsOption = Path("params.yaml"),
    samples: Annotated[Path, typer.Option(help="Samples file written by the sample stage.")] = Path(
        "samples/dcgan-0.npz"),
    reference: Annotated[Path, typer.Option(help="Inception reference file.")] = Path("data/reference/stats.npz"),
    weights: Annotated[Path, typer.Option(help="Inception weights file.")] = Path(
        "models/inception/pt_inception-2015-12-05-6726825d.pth"),
    classifier: ClassifierOption = Path("models/classifier/classifier.pt"),
    domain_reference: Annotated[Path, typer.Option(help="Domain reference file.")] = Path(
        "data/domain-reference/features.npz"),
    domain_predictions: Annotated[Path, typer.Option(help="The classifier's predictions on the domain "
                                                          "reference images.")] = Path(
        "data/domain-reference/predictions.npz"),
    run: Annotated[Path, typer.Option(help="run.json naming the MLflow run to log into.")] = Path(
        "models/dcgan-0/run.json"),
    out: Annotated[Path, typer.Option(help="Metrics JSON to write.")] = Path("metrics/eval/dcgan-0.json"),
    timing: Annotated[Path | None, typer.Option(help="Also write the feature extractors' speed here.")] = None,
) -> None:
    """Every metric of evaluate.metrics for VARIANT's samples, with full provenance."""
    from ganbench.io import write_json
    from ganbench.metrics.evaluate import Sources, evaluate_samples
    from ganbench.results import is_headline, write_result
    from ganbench.sampling.files import load_samples
    from ganbench.tracking.mlflow_run import EVAL_PREFIX, open_stage_run

    p = load(params)
    images, sample_meta = load_samples(samples)
    result = evaluate_samples(images, sample_meta, p.evaluate, p.runtime,
                              Sources(inception_reference=reference, inception_weights=weights,
                                      classifier=classifier, domain_reference=domain_reference,
                                      domain_predictions=domain_predictions))
    key = f"{variant}-{seed}"
    spent = result.pop("timing")  # how fast, not what: kept out of the metrics file
    result = {"variant": variant, "seed": seed, **result}
    # The scores (and their spreads) are what `dvc metrics show` prints; the rest beside them.
    write_result(out, result, headline=[k for k, v in result.items() if is_headline(v) and k != "seed"])
    if timing is not None:
        write_json(timing, spent)
    tracker = open_stage_run(p.mlflow, repo_root(params), run, key, "evaluate", p)
    scalars = {k: float(v) for k, v in result.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seed"}
    metrics = {EVAL_PREFIX + k: v for k, v in scalars.items()}
    for name, prov in result["provenance"].items():  # each score's evaluation-noise interval
        noise = prov.get("eval_noise") or {}
        metrics.update({f"eval_noise/{name}_{k}": float(noise[k]) for k in ("low", "high", "se") if k in noise})
    tracker.log_metrics(metrics)
    tracker.log_dict({**result, "timing": spent}, f"eval/{key}.json")
    shown = ", ".join(f"{k} {v:.4g}" for k, v in scalars.items() if not k.endswith("_std"))
    typer.echo(f"evaluate {key}: {shown}")
