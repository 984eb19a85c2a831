"""The data layer: find and verify IDX datasets, preprocess them, load the tensors.

* :mod:`ganbench.data.idx` — IDX reader/writer (raw or gzip).
* :mod:`ganbench.data.sources` — dataset registry and checksum-verified ``fetch``.
* :mod:`ganbench.data.preprocess` — IDX → float32 tensors in [-1, 1].
* :mod:`ganbench.data.dataset` — ``load_split`` / ``load_meta`` for consumers.
"""

from ganbench.data.dataset import load_meta, load_split
from ganbench.data.idx import read_idx, write_idx
from ganbench.data.preprocess import preprocess
from ganbench.data.sources import DATASETS, DatasetSpec, fetch, read_manifest

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "fetch",
    "load_meta",
    "load_split",
    "preprocess",
    "read_idx",
    "read_manifest",
    "write_idx",
]
