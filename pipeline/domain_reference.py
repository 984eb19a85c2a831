"""Stage ``domain-reference``: the domain classifier's features of the real reference images."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ClassifierOption, ParamsOption, ProcessedOption, clean_errors, load
from ganbench_pipeline.reference import real_images

app = typer.Typer()
log = logging.getLogger("ganbench")


@app.command("domain-reference")
@clean_errors
def domain_reference(
    params: ParamsOption = Path("params.yaml"),
    processed: ProcessedOption = Path("data/processed"),
    classifier: ClassifierOption = Path("models/classifier/classifier.pt"),
    out: Annotated[Path, typer.Option(help="Folder for features.npz, predictions.npz and meta.json.")] = Path(
        "data/domain-reference"),
) -> None:
    """Classifier features, labels and statistics of the first evaluate.domain_num_real
    images of evaluate.reference_split (0 = all), the classifier's predicted classes of them
    (predictions.npz: what class coverage compares the samples' predictions with) and its
    accuracy on them."""
    from ganbench.io import write_json
    from ganbench.metrics.coverage import save_predictions
    from ganbench.classifier.config import accuracy_check
    from ganbench.metrics.extract import DOMAIN_EXTRACTOR, DOMAIN_RESIZE, domain_features
    from ganbench.metrics.reference import save_reference

    p = load(params)
    cfg = p.evaluate
    images, labels, meta = real_images(processed, cfg.reference_split, cfg.domain_num_real,
                                       "evaluate.domain_num_real")
    feats, preds, info = domain_features(images, classifier, p.runtime)
    ref_meta = {"feature_extractor": f"{DOMAIN_EXTRACTOR} {info['feature_dim']}-d",
                "weights_sha256": info["weights_sha256"],
                "resize": DOMAIN_RESIZE, "reference_split": cfg.reference_split,
                "dataset": meta.get("dataset"), "num_real": len(images),
                "image_shape": [int(s) for s in images.shape[1:]],
                "accuracy_on_reference": float((preds == labels).mean())}
    ref_meta.update(accuracy_check(meta.get("dataset"), ref_meta["accuracy_on_reference"]))
    if ref_meta["meets_bar"] is False:
        log.warning("domain-reference: the classifier's accuracy on the %s split, %.4f, is below the %.2f "
                    "expected for %s; the domain metrics are less trustworthy (raise classifier.epochs or "
                    "width)", cfg.reference_split, ref_meta["accuracy_on_reference"], ref_meta["accuracy_bar"],
                    meta.get("dataset"))
    save_reference(out / "features.npz", feats, ref_meta, labels=labels)
    save_predictions(out / "predictions.npz", preds, {k: ref_meta[k] for k in (
        "weights_sha256", "reference_split", "dataset", "num_real")})
    write_json(out / "meta.json", ref_meta)
    typer.echo(f"domain-reference: {len(images)} {cfg.reference_split} images -> {out / 'features.npz'} "
               f"({info['images_per_s']:.0f} img/s, accuracy {ref_meta['accuracy_on_reference']:.4f})")
