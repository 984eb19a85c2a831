"""What a metric's name says: its family and its sample count N (which way is better is
the metric's own declaration, recorded with every score: ``MetricSpec.better``).

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


@dataclass(frozen=True)
class MetricName:
    """A parsed metric name: ``fid2k`` → family ``fid``, count 2000."""

    name: str
    family: str
    count: int | None


def parse_metric(name: str) -> MetricName:
    """Parse ``name``; a name without a count keeps ``count=None``."""
    m = _NAME.match(name)
    if m is None:
        family, count = name, None
    else:
        family = m["family"]
        count = round(float(m["count"]) * (1000 if m["k"] else 1))
    return MetricName(name, family, count)


def is_spread(key: str, keys: set[str] | frozenset[str]) -> bool:
    """``kid2k_std`` is a spread when ``kid2k`` is also a key."""
    return key.endswith(SPREAD_SUFFIX) and key[: -len(SPREAD_SUFFIX)] in keys
