"""Metrics chosen by name in params (``evaluate.metrics``), like variants and objectives.

A metric is a :class:`MetricSpec`: the feature space it reads (``"inception"``: pytorch-fid's
pool3 features; ``"domain"``: the domain classifier's penultimate features and class
predictions) and a function from the :class:`Features` of generated and real images to
named values.  The evaluation computes each feature space once, whatever the number of
metrics that share it.  Adding a metric is one module in ``metrics/library/``, named as
the metric, that calls :func:`register_metric` (see that package).

Every value's name carries the sample count N it was made with (``fid2k``, ``kid2k``,
``kid2k_std``, ``fd_domain10k``), so numbers made differently never share a name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ganbench.registry import Registry

Space = Literal["inception", "domain"]
#: (lowest, highest) value a metric can take; None: unbounded on that side.
Range = tuple[float | None, float | None]


@dataclass(frozen=True)
class Features:
    """One feature space's view of the generated and the real images.

    ``fake`` (N_gen, D) and ``real`` (N_real, D) are float64 feature rows;
    ``real_mu`` (D,) / ``real_sigma`` (D, D) are the reference statistics when they were
    cached (else computed from ``real``); ``fake_pred`` (N_gen,) are predicted classes,
    ``real_labels`` (N_real,) the reference labels and ``real_pred`` (N_real,) the same
    classifier's predictions on the reference images (domain space only);
    ``requested`` (N_gen,) the classes a conditional generator was asked for, or None;
    ``provenance`` says how the features were made (extractor, weights, N, split, …)."""

    space: Space
    fake: np.ndarray
    real: np.ndarray
    provenance: dict[str, Any]
    real_mu: np.ndarray | None = None
    real_sigma: np.ndarray | None = None
    fake_pred: np.ndarray | None = None
    real_labels: np.ndarray | None = None
    real_pred: np.ndarray | None = None
    requested: np.ndarray | None = None
    num_classes: int = 0

    @property
    def num_gen(self) -> int:
        return int(self.fake.shape[0])


@dataclass(frozen=True)
class MetricResult:
    """Named values (their names carry N), what the metric adds to the provenance, and
    per value name its evaluation noise (:class:`ganbench.metrics.bootstrap.EvalNoise`
    as a dict), stored in that value's provenance as ``eval_noise``."""

    values: dict[str, float]
    provenance: dict[str, Any] = field(default_factory=dict)
    noise: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    space: Space
    #: (features, evaluate config) → values.
    compute: Callable[[Features, Any], MetricResult]
    #: Which direction is better, for each value-name prefix (e.g. {"fid": "lower"}).
    better: dict[str, Literal["lower", "higher"]]
    description: str = ""
    #: The values each value-name prefix can take: (low, high), None for an open end, or
    #: a function of the value's provenance giving them (class_kl's maximum follows from
    #: the reference's class histogram). A gate outside this range can never fail.
    attainable: dict[str, Range | Callable[[dict[str, Any]], Range]] = field(default_factory=dict)

    def attainable_range(self, prefix: str, provenance: dict[str, Any]) -> Range:
        found = self.attainable.get(prefix, (None, None))
        return found(provenance) if callable(found) else found


METRICS: Registry[MetricSpec] = Registry("metric")


def register_metric(spec: MetricSpec) -> MetricSpec:
    return METRICS.register(spec.name)(spec)


_VALUE = re.compile(r"^(?P<prefix>[a-z_]+?)(?P<n>\d+k?)(?P<std>_std)?$")


def value_spec(name: str) -> tuple[MetricSpec, str]:
    """The registered metric that writes the value ``name`` (``fid2k``, ``class_kl1k``,
    ``kid250_std``) and the value's prefix (``fid``, ``class_kl``); KeyError if none does."""
    match = _VALUE.match(name)
    # Every metric is loaded, whichever name is asked for: a command that reads a
    # direction always loads the same code (the code its DVC stage declares).
    specs = [METRICS.get(spec_name) for spec_name in METRICS.names()]
    if match is not None:
        for spec in specs:
            if match["prefix"] in spec.better:
                return spec, match["prefix"]
    raise KeyError(f"no registered metric writes a value named {name!r}")


def direction(name: str) -> Literal["lower", "higher"] | None:
    """Which way is better for the value ``name``, as its metric declares
    (``MetricSpec.better``); None for a name no registered metric writes."""
    try:
        spec, prefix = value_spec(name.removesuffix("_std"))
    except KeyError:
        return None
    return spec.better[prefix]


def with_n(prefix: str, n: int) -> str:
    """``fid`` + 2000 → ``fid2k``; ``fid`` + 500 → ``fid500``."""
    return f"{prefix}{n // 1000}k" if n > 0 and n % 1000 == 0 else f"{prefix}{n}"


# Every metric is a module of ganbench/metrics/library/, named as the metric.
METRICS.lazy_package("ganbench.metrics.library")
