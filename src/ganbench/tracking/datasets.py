"""The data a run was trained and evaluated on, as MLflow dataset inputs.

Each run records two inputs: the training split (context ``training``) and the split the
evaluation compares against, ``evaluate.reference_split`` (context ``evaluation``). A
dataset is named ``<dataset>-<split>``; its digest is the start of the sha256 of the
preprocessed tensors file (``data/processed/<split>.pt``, byte-stable), as the preprocess
stage recorded it in ``meta.json``, so two runs on the same tensors show the same digest; its source is the folder the IDX files come from
(``data.source_dir``, ``$GANBENCH_DATA_DIR`` or the Debian package's folder, in the
download stage's order), or the processed data folder when they were downloaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: The MLflow input tag that says what a dataset was used for.
CONTEXT_TAG = "mlflow.data.context"
DIGEST_CHARS = 16


#: Where Debian's dataset packages install (``dataset-fashion-mnist`` →
#: ``/usr/share/datasets/fashion-mnist``, the folder ganbench.data.sources registers). The
#: registry is not imported here: the train stage, which records the datasets, would then
#: depend on the download code, and retrain whenever that changes.
DEBIAN_DATASETS = Path("/usr/share/datasets")
#: The folder variable the download stage reads (ganbench.data.sources.ENV_VAR).
ENV_VAR = "GANBENCH_DATA_DIR"


def data_source(cfg: Any, processed: Path, root: Path, env: dict[str, str] | None = None) -> str:
    """Where ``cfg.dataset``'s files come from, as an absolute folder (see the module docstring)."""
    from ganbench.tracking.mlflow_run import main_repo_root

    env = dict(os.environ) if env is None else env
    for folder in (cfg.source_dir, env.get(ENV_VAR)):
        if folder:
            return str((Path(root) / Path(folder).expanduser()).resolve())
    debian = DEBIAN_DATASETS / cfg.dataset
    if debian.is_dir():
        return str(debian)
    processed = (Path(root) / processed).resolve()
    main, here = main_repo_root(root), Path(root).resolve()
    return str(main / processed.relative_to(here)) if processed.is_relative_to(here) else str(processed)


def split_digest(meta: dict[str, Any], split: str, processed: Path) -> str:
    """The start of the split file's sha256 as the preprocess stage recorded it in
    ``meta.json``: the file itself is not read (the train stage records the test split
    without opening it)."""
    from ganbench.errors import DataError

    sha = meta["splits"][split].get("sha256")
    if not sha:
        raise DataError(f"{processed / 'meta.json'} records no sha256 for the {split} split (made by an "
                        "older ganbench); rerun the preprocess stage: dvc repro preprocess")
    return str(sha)[:DIGEST_CHARS]


def data_inputs(params: Any, processed: Path, root: Path) -> list[Any]:
    """The training split and the evaluation's reference split as
    ``mlflow.entities.DatasetInput`` s."""
    import numpy as np
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.types.schema import Schema, TensorSpec

    from ganbench.data.dataset import load_meta

    processed = Path(processed)
    meta = load_meta(processed)
    source = json.dumps({"uri": data_source(params.data, processed, root)})
    inputs = []
    for split, context in (("train", "training"), (params.evaluate.reference_split, "evaluation")):
        info = meta["splits"][split]
        shape = [-1, *info["shape"][1:]]
        schema = {"mlflow_tensorspec": {
            "features": Schema([TensorSpec(np.dtype(np.float32), tuple(shape), "images")]).to_json(),
            "targets": Schema([TensorSpec(np.dtype(np.int64), (-1,), "labels")]).to_json()}}
        profile = {"images": info["count"], "shape": info["shape"], "value_range": meta.get("value_range"),
                   "class_counts": info.get("class_counts")}
        dataset = Dataset(name=f"{meta['dataset']}-{split}", digest=split_digest(meta, split, processed),
                          source_type="local", source=source, schema=json.dumps(schema),
                          profile=json.dumps(profile))
        inputs.append(DatasetInput(dataset, [InputTag(CONTEXT_TAG, context)]))
    return inputs
