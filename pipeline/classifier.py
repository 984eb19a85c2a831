"""Stage ``classifier``: the domain classifier (features and class predictions for the
domain metrics), trained on the preprocessed train split. It reads no test image: its
accuracy on the reference split is measured by the ``domain-reference`` stage, which
reads that split anyway (and warns below the dataset's bar)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, ProcessedOption, clean_errors, load

app = typer.Typer()


@app.command("classifier")
@clean_errors
def classifier(
    params: ParamsOption = Path("params.yaml"),
    processed: ProcessedOption = Path("data/processed"),
    out: Annotated[Path, typer.Option(help="Classifier weights file to write.")] = Path(
        "models/classifier/classifier.pt"),
    metrics: Annotated[Path, typer.Option(help="Metrics JSON to write (training accuracy, cost).")] = Path(
        "metrics/classifier.json"),
) -> None:
    """Train the domain classifier (params section ``classifier``) on the training split."""
    from dataclasses import asdict

    from ganbench.config import to_dict
    from ganbench.data.dataset import load_meta, load_split
    from ganbench.classifier.config import ClassifierConfig
    from ganbench.classifier.io import save_classifier
    from ganbench.classifier.training import train_classifier
    from ganbench.progress import show_progress
    from ganbench.results import write_result

    p = load(params)
    meta = load_meta(processed)
    train_x, train_y = load_split(processed, "train")
    recipe = {**to_dict(p.classifier), "crop": min(p.classifier.crop, int(train_x.shape[-1]))}
    cfg = ClassifierConfig(**recipe, in_channels=int(train_x.shape[1]),
                           num_classes=int(meta["num_classes"]), image_size=int(train_x.shape[-1]))
    model, result = train_classifier(train_x, train_y, cfg, progress=show_progress())
    sha = save_classifier(model, cfg, result, out)
    write_result(metrics, {**asdict(result), "dataset": meta.get("dataset"), "weights_sha256": sha},
                 headline=("train_accuracy", "final_loss", "train_seconds", "train_images_per_second"))
    typer.echo(f"classifier: training accuracy {result.train_accuracy:.4f} in {result.train_seconds:.0f} s "
               f"-> {out} (sha256 {sha[:12]}…)")
