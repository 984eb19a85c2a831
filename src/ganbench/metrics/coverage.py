"""Class coverage of generated samples, judged by a classifier's predictions.

A generator that drops classes (mode collapse) can still have a decent FID on a small
sample.  Here a domain classifier (:mod:`ganbench.classifier`) labels every
generated image, and the predicted-class histogram is compared with the histogram of the
*same classifier's predictions* on the reference images (not their true labels: a
classifier that confuses shirts with T-shirts shifts both histograms alike, so the
reference images themselves score 0; against the true labels a 93 %-accurate classifier
gives even the test split a KL above 0):

* ``kl``: ``KL(ref || gen) = sum_c p_c log(p_c / q_c)`` in nats, where ``p`` is the
  reference class distribution and ``q`` the generated one after additive smoothing
  ``q_c = (q_c + eps) / (1 + C eps)`` (``eps`` = :attr:`CoverageConfig.epsilon`,
  default 1e-6).  The smoothing only keeps a class the generator never produces from
  making the divergence infinite; it then contributes ``p_c log(p_c / eps)``
  (~1.15 nats for a 10 % class at the default).  Classes absent from the reference
  contribute 0 (``0 log 0 = 0``).
* ``covered``: how many classes receive at least ``min_share`` (default one half) of
  their reference share, i.e. ``q_c >= min_share * p_c`` (unsmoothed ``q``), among the
  classes present in the reference.

For class-conditional generators, :func:`conditional_accuracy` gives, per class ``c``,
the fraction of samples generated *for* ``c`` that the classifier predicts as ``c``,
and the mean over the classes that were asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.errors import DataError, MetricError


#: What the generated class histogram is compared with (a protocol field of class_kl and
#: classes_covered: scores made against the true labels are another protocol).
CLASS_REFERENCE = "the domain classifier's predictions on the reference images"


@dataclass(frozen=True)
class CoverageConfig:
    """Knobs of :func:`class_coverage`.

    Attributes:
        num_classes: number of classes C of the dataset (labels are 0..C-1).
        epsilon: additive smoothing of the generated distribution inside the KL.
        min_share: a class counts as covered when its generated share is at least
            ``min_share`` times its reference share.
    """

    num_classes: int = 10
    epsilon: float = 1e-6
    min_share: float = 0.5


@dataclass(frozen=True)
class CoverageResult:
    """Histograms (fractions, length C) and the coverage numbers derived from them."""

    kl: float
    covered: int
    num_reference_classes: int
    gen_hist: np.ndarray = field(repr=False)
    ref_hist: np.ndarray = field(repr=False)
    uncovered: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (histograms as lists)."""
        return {
            "kl": self.kl,
            "covered": self.covered,
            "num_reference_classes": self.num_reference_classes,
            "gen_hist": self.gen_hist.tolist(),
            "ref_hist": self.ref_hist.tolist(),
            "uncovered": list(self.uncovered),
        }


@dataclass(frozen=True)
class ConditionalAccuracy:
    """Per-class accuracy of a conditional generator (NaN for classes never requested),
    its mean over the requested classes, and the number of samples per class."""

    per_class: np.ndarray = field(repr=False)
    mean: float
    counts: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (NaN → None)."""
        return {
            "per_class": [None if np.isnan(v) else float(v) for v in self.per_class],
            "mean": None if np.isnan(self.mean) else self.mean,
            "counts": self.counts.tolist(),
        }


def label_array(name: str, labels: Any, num_classes: int) -> np.ndarray:
    """``labels`` as a 1-d int64 array with values in ``0..num_classes-1``."""
    if hasattr(labels, "detach"):  # torch tensor
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise MetricError(f"class coverage: {name} must be a 1-d label array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise MetricError(
            f"class coverage: {name} must hold integer class labels, got {arr.dtype}; pass "
            f"predicted class indices, not scores"
        )
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise MetricError(
            f"class coverage: {name} has labels outside 0..{num_classes - 1} "
            f"(min {arr.min()}, max {arr.max()}); use the classifier trained on this dataset"
        )
    return arr


def class_histogram(labels: Any, num_classes: int) -> np.ndarray:
    """Counts ``(num_classes,)`` int64 of integer ``labels`` ``(N,)`` in 0..C-1."""
    return np.bincount(label_array("labels", labels, num_classes), minlength=num_classes)


def kl_divergence(p: np.ndarray, q: np.ndarray, epsilon: float = 1e-6) -> float:
    """``KL(p || q)`` in nats of two distributions ``(C,)``, with ``q`` smoothed as
    ``(q + epsilon) / (1 + C epsilon)`` and ``0 log 0 = 0`` for ``p``."""
    p = np.asarray(p, dtype=np.float64)
    q = (np.asarray(q, dtype=np.float64) + epsilon) / (1.0 + len(q) * epsilon)
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / q[nz])))


def worst_kl(provenance: dict[str, Any]) -> float:
    """The largest ``class_kl`` a generator can score against the reference recorded in a
    score's provenance: all its samples in one class (the worst such class)."""
    cov = recorded_coverage(provenance)
    ref = np.asarray(cov["ref_hist"], dtype=np.float64)
    epsilon = float(cov.get("epsilon", CoverageConfig().epsilon))
    return max(kl_divergence(ref, np.eye(len(ref))[j], epsilon) for j in range(len(ref)))


def recorded_coverage(provenance: dict[str, Any]) -> dict[str, Any]:
    """The class coverage a score's provenance records (its ``ref_hist`` at least)."""
    cov = provenance.get("coverage")
    if not isinstance(cov, dict) or "ref_hist" not in cov:
        raise KeyError("the provenance records no class coverage (coverage.ref_hist)")
    return cov


def class_coverage(
    gen_predictions: Any, ref_labels: Any, cfg: CoverageConfig | None = None
) -> CoverageResult:
    """Coverage of the reference classes by generated samples.

    Args:
        gen_predictions: ``(N_gen,)`` classifier-predicted classes of generated images.
        ref_labels: ``(N_ref,)`` classes of the reference split: the same classifier's
            predictions on the reference images (what the registered metric passes).
        cfg: class count, smoothing and covered threshold (default :class:`CoverageConfig`).

    Returns:
        :class:`CoverageResult` with ``KL(ref || gen)``, the number of covered classes,
        both histograms (fractions) and the uncovered class indices.

    Raises:
        MetricError: empty inputs or labels outside ``0..C-1``.
    """
    cfg = CoverageConfig() if cfg is None else cfg
    if cfg.num_classes < 1 or cfg.epsilon <= 0 or cfg.min_share < 0:
        raise MetricError(
            f"class coverage needs num_classes >= 1, epsilon > 0 and min_share >= 0, got "
            f"{cfg.num_classes}, {cfg.epsilon}, {cfg.min_share}; fix the coverage settings"
        )
    return coverage_of_counts(class_histogram(gen_predictions, cfg.num_classes),
                              class_histogram(ref_labels, cfg.num_classes), cfg)


def coverage_of_counts(gen: np.ndarray, ref: np.ndarray, cfg: CoverageConfig | None = None) -> CoverageResult:
    """:func:`class_coverage` from class counts ``(C,)`` of the generated and reference sets."""
    cfg = CoverageConfig() if cfg is None else cfg
    if gen.sum() == 0 or ref.sum() == 0:
        raise MetricError(
            f"class coverage needs generated and reference labels, got {int(gen.sum())} and "
            f"{int(ref.sum())}; generate samples / load the reference split first"
        )
    q = gen / gen.sum()
    p = ref / ref.sum()
    present = p > 0
    ok = present & (q >= cfg.min_share * p)
    return CoverageResult(
        kl=kl_divergence(p, q, cfg.epsilon),
        covered=int(ok.sum()),
        num_reference_classes=int(present.sum()),
        gen_hist=q,
        ref_hist=p,
        uncovered=tuple(int(c) for c in np.flatnonzero(present & ~ok)),
    )


def conditional_accuracy(
    requested: Any, predicted: Any, num_classes: int = 10
) -> ConditionalAccuracy:
    """Per-class accuracy of a class-conditional generator.

    Args:
        requested: ``(N,)`` the class each sample was generated for.
        predicted: ``(N,)`` the classifier's prediction for each sample.
        num_classes: C.

    Returns:
        :class:`ConditionalAccuracy`: ``per_class[c]`` = fraction of samples requested
        as ``c`` predicted as ``c`` (NaN when ``c`` was never requested), ``mean`` over
        the requested classes (each class weighted equally), and per-class counts.
    """
    req = label_array("requested", requested, num_classes)
    pred = label_array("predicted", predicted, num_classes)
    if req.shape != pred.shape or req.size == 0:
        raise MetricError(
            f"conditional accuracy needs one prediction per requested label, got "
            f"{req.size} requested and {pred.size} predicted"
        )
    counts = np.bincount(req, minlength=num_classes)
    hits = np.bincount(req[req == pred], minlength=num_classes)
    per_class = np.full(num_classes, np.nan)
    asked = counts > 0
    per_class[asked] = hits[asked] / counts[asked]
    return ConditionalAccuracy(
        per_class=per_class, mean=float(per_class[asked].mean()), counts=counts
    )


# --------------------------------------------------------------------------- reference predictions


def save_predictions(path: Path, predictions: Any, meta: dict[str, Any]) -> None:
    """The classifier's predicted classes of the reference images (the domain-reference
    stage), with how they were made (``weights_sha256``, ``reference_split``,
    ``num_real``); byte-stable."""
    from ganbench.io import save_npz

    save_npz(path, {"predictions": np.asarray(predictions, dtype=np.int64),
                    "meta": np.array(json.dumps(meta, sort_keys=True))})


def load_predictions(path: Path, num_real: int, weights_sha256: str, fix: str) -> np.ndarray:
    """What :func:`save_predictions` wrote, refused unless made by the classifier with
    ``weights_sha256`` on ``num_real`` reference images; ``fix`` says how to remake it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            preds, meta = data["predictions"], json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError, EOFError, json.JSONDecodeError):
        raise DataError(f"reference predictions {path} are missing or unreadable; {fix}") from None
    if meta.get("weights_sha256") != weights_sha256 or len(preds) != num_real:
        raise DataError(f"reference predictions {path} were made by another classifier or on another "
                        f"reference ({len(preds)} predictions for {num_real} images); {fix}")
    return preds
