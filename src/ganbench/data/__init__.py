"""The data layer: find and verify IDX datasets, preprocess them, load the tensors.

* :mod:`ganbench.data.idx` — IDX reader/writer (raw or gzip).
* :mod:`ganbench.data.sources` — dataset registry and checksum-verified ``fetch``.
* :mod:`ganbench.data.preprocess` — IDX → float32 tensors in [-1, 1].
* :mod:`ganbench.data.dataset` — ``load_split`` / ``load_meta`` for consumers.
"""
