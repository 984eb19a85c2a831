"""Stage ``probe-reference``: the domain classifier's features of training images, the
reference of the training-time evaluation (which picks ``best.pt``). Training-split
images only: the test split decides nothing that is chosen during training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ClassifierOption, ParamsOption, ProcessedOption, clean_errors, load
from ganbench_pipeline.reference import real_images

app = typer.Typer()

#: The split the training-time evaluation is measured against.
SPLIT = "train"


@app.command("probe-reference")
@clean_errors
def probe_reference(
    params: ParamsOption = Path("params.yaml"),
    processed: ProcessedOption = Path("data/processed"),
    classifier: ClassifierOption = Path("models/classifier/classifier.pt"),
    out: Annotated[Path, typer.Option(help="Folder for features.npz and meta.json.")] = Path(
        "data/probe-reference"),
) -> None:
    """Classifier features, labels and statistics of the first train.eval_num_real images
    of the training split (0 = all)."""
    from ganbench.io import write_json
    from ganbench.metrics.extract import DOMAIN_EXTRACTOR, DOMAIN_RESIZE, domain_features
    from ganbench.metrics.reference import save_reference

    p = load(params)
    images, labels, meta = real_images(processed, SPLIT, p.train.eval_num_real, "train.eval_num_real")
    feats, _, info = domain_features(images, classifier, p.runtime)
    ref_meta = {"feature_extractor": f"{DOMAIN_EXTRACTOR} {info['feature_dim']}-d",
                "weights_sha256": info["weights_sha256"], "resize": DOMAIN_RESIZE, "reference_split": SPLIT,
                "dataset": meta.get("dataset"), "num_real": len(images),
                "image_shape": [int(s) for s in images.shape[1:]]}
    save_reference(out / "features.npz", feats, ref_meta, labels=labels)
    write_json(out / "meta.json", ref_meta)
    typer.echo(f"probe-reference: {len(images)} {SPLIT} images -> {out / 'features.npz'} "
               f"({info['images_per_s']:.0f} img/s)")
