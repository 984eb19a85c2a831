"""What a metric's name says: its family, its sample count N, and which way is better.

Metric names carry N as a suffix: ``fid2k`` (N = 2000), ``fd_domain10k`` (10 000),
``fid500`` (500), ``fid1.5k`` (1500).  ``<metric>_std`` keys are the spread of
``<metric>`` (KID over subsets), never metrics of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Direction = Literal["lower", "higher"]

_NAME = re.compile(r"^(?P<family>[A-Za-z_]+?)_?(?P<count>\d+(?:\.\d+)?)(?P<k>k?)$")
SPREAD_SUFFIX = "_std"

#: Families where a smaller value is better, then those where a larger one is.
LOWER_IS_BETTER = ("fid", "kid", "fd", "class_kl", "kl")
HIGHER_IS_BETTER = ("precision", "recall", "classes_covered", "coverage", "density", "accuracy", "is")


@dataclass(frozen=True)
class MetricName:
    """A parsed metric name: ``fid2k`` → family ``fid``, count 2000, direction lower."""

    name: str
    family: str
    count: int | None
    direction: Direction | None

    @property
    def arrow(self) -> str:
        return {"lower": "↓", "higher": "↑"}.get(self.direction or "", "")


def parse_metric(name: str) -> MetricName:
    """Parse ``name``; a name without a count keeps ``count=None``."""
    m = _NAME.match(name)
    if m is None:
        family, count = name, None
    else:
        family = m["family"]
        count = round(float(m["count"]) * (1000 if m["k"] else 1))
    return MetricName(name, family, count, direction_of(family))


def direction_of(family: str) -> Direction | None:
    """``lower`` for distances and divergences, ``higher`` for precision/recall/coverage."""
    first = family.split("_")[0]
    if family in LOWER_IS_BETTER or first in ("fid", "kid", "fd") or family.endswith("_kl"):
        return "lower"
    if family in HIGHER_IS_BETTER or first in ("precision", "recall") or family.startswith("classes_covered"):
        return "higher"
    return None


def is_spread(key: str, keys: set[str] | frozenset[str]) -> bool:
    """``kid2k_std`` is a spread when ``kid2k`` is also a key."""
    return key.endswith(SPREAD_SUFFIX) and key[: -len(SPREAD_SUFFIX)] in keys
