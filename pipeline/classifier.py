"""Stage ``classifier``: the domain classifier (features and class predictions for the
domain metrics), trained on the preprocessed train split, scored on the test split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load

app = typer.Typer()
log = logging.getLogger("ganbench")

#: The accuracy the domain features are trusted at, per dataset (issue bar; recorded).
ACCURACY_BAR = {"fashion-mnist": 0.93, "mnist": 0.99}


@app.command("classifier")
@clean_errors
def classifier(
    params: ParamsOption = Path("params.yaml"),
    processed: Annotated[Path, typer.Option(help="Folder written by the preprocess stage.")] = Path(
        "data/processed"),
    out: Annotated[Path, typer.Option(help="Classifier weights file to write.")] = Path(
        "models/classifier/classifier.pt"),
    metrics: Annotated[Path, typer.Option(help="Metrics JSON to write (test accuracy, cost).")] = Path(
        "metrics/classifier.json"),
) -> None:
    """Train the domain classifier (params section ``classifier``) and record its test accuracy."""
    from dataclasses import asdict

    from ganbench.config import to_dict
    from ganbench.data.dataset import load_meta, load_split
    from ganbench.io import write_json
    from ganbench.metrics.domain import ClassifierConfig, save_classifier, train_classifier
    from ganbench.progress import show_progress

    p = load(params)
    meta = load_meta(processed)
    train_x, train_y = load_split(processed, "train")
    test_x, test_y = load_split(processed, "test")
    recipe = {**to_dict(p.classifier), "crop": min(p.classifier.crop, int(train_x.shape[-1]))}
    cfg = ClassifierConfig(**recipe, in_channels=int(train_x.shape[1]),
                           num_classes=int(meta["num_classes"]), image_size=int(train_x.shape[-1]))
    model, result = train_classifier(train_x, train_y, test_x, test_y, cfg, progress=show_progress())
    sha = save_classifier(model, cfg, result, out)
    bar = ACCURACY_BAR.get(str(meta.get("dataset")))
    summary = {**asdict(result), "dataset": meta.get("dataset"), "weights_sha256": sha,
               "accuracy_bar": bar, "meets_bar": None if bar is None else result.test_accuracy >= bar}
    write_json(metrics, summary)
    if bar is not None and result.test_accuracy < bar:
        log.warning("classifier: test accuracy %.4f is below the %.2f expected for %s; the domain "
                    "metrics are less trustworthy (raise classifier.epochs or width)",
                    result.test_accuracy, bar, meta.get("dataset"))
    typer.echo(f"classifier: test accuracy {result.test_accuracy:.4f} in {result.train_seconds:.0f} s "
               f"-> {out} (sha256 {sha[:12]}…)")
