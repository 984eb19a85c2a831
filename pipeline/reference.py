"""Stage ``reference``: Inception features and statistics of the real reference images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench_pipeline.common import ParamsOption, ProcessedOption, clean_errors, load

app = typer.Typer()


def real_images(processed: Path, split: str, n: int, key: str):  # noqa: ANN201 - (uint8 array, meta)
    """The first ``n`` (0 = all) images of ``split`` as uint8, and the data's meta."""
    from ganbench.data.dataset import load_meta, load_split
    from ganbench.errors import DataError
    from ganbench.sampling.generate import to_uint8

    meta = load_meta(processed)
    images, labels = load_split(processed, split)
    if n > len(images):
        raise DataError(f"{key} is {n} but the {split} split has {len(images)} images; lower {key} "
                        "in params.yaml (0 = all)")
    n = n or len(images)
    return to_uint8(images[:n]).numpy(), labels[:n].numpy(), meta


@app.command("reference")
@clean_errors
def reference(
    params: ParamsOption = Path("params.yaml"),
    processed: ProcessedOption = Path("data/processed"),
    weights: Annotated[Path, typer.Option(help="Inception weights file.")] = Path(
        "models/inception/pt_inception-2015-12-05-6726825d.pth"),
    out: Annotated[Path, typer.Option(help="Folder for stats.npz and meta.json.")] = Path("data/reference"),
) -> None:
    """Inception pool3 features and statistics of the first evaluate.num_real images of
    evaluate.reference_split."""
    from ganbench.io import write_json
    from ganbench.metrics.extract import INCEPTION_EXTRACTOR, inception_features
    from ganbench.metrics.reference import save_reference

    p = load(params)
    cfg = p.evaluate
    images, _, meta = real_images(processed, cfg.reference_split, cfg.num_real, "evaluate.num_real")
    feats, info = inception_features(images, weights, p.runtime, cfg.inception_preprocess)
    ref_meta = {"feature_extractor": INCEPTION_EXTRACTOR, "weights_sha256": info["weights_sha256"],
                "weights_source": info["weights_source"], "resize": info["resize"],
                "reference_split": cfg.reference_split, "dataset": meta.get("dataset"),
                "num_real": len(images), "image_shape": [int(s) for s in images.shape[1:]]}
    save_reference(out / "stats.npz", feats, ref_meta)
    write_json(out / "meta.json", ref_meta)
    typer.echo(f"reference: {len(images)} {meta.get('dataset', '?')} {cfg.reference_split} images -> "
               f"{out / 'stats.npz'} ({info['engine']}, {info['images_per_s']:.1f} img/s, "
               f"weights {info['weights_sha256'][:12]}…)")
