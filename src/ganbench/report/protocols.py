"""Protocols in the report: which scores may be put side by side.

Each metric of each run carries a provenance dict (see :mod:`ganbench.report.inputs`);
its protocol and :func:`protocol_difference` come from :mod:`ganbench.protocol` (shared
with ``ganbench check``).  Scores are grouped by protocol, and a metric measured with
several protocols becomes one column per protocol, never compared across them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# PROTOCOL_FIELDS and protocol_difference are also the report's names for them.
from ganbench.protocol import NOT_APPLICABLE_FIELDS, PROTOCOL_FIELDS, protocol, protocol_difference  # noqa: F401
from ganbench.report.inputs import Run
from ganbench.report.names import parse_metric

#: Below this many samples an Inception FID is biased and its 2048-d covariance is
#: rank-deficient: the score is not comparable with published FIDs.
INCEPTION_MIN_SAMPLES = 2048
NOT_PUBLISHED_COMPARABLE = "not comparable with published FIDs"


def _key(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, default=str)


def provenance_key(prov: Mapping[str, Any]) -> str:
    """Scores are comparable only when their keys are equal."""
    return _key(protocol(prov))


@dataclass
class Protocol:
    """One group: its number (from 1), its fields, and the (run key, metric) scores in it."""

    number: int
    fields: dict[str, Any]
    members: list[tuple[str, str]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(m for _, m in self.members))

    @property
    def runs(self) -> list[str]:
        return list(dict.fromkeys(k for k, _ in self.members))

    @property
    def known(self) -> bool:
        """False when no provenance was recorded for these scores."""
        return any(v is not None for v in self.fields.values())


@dataclass
class ProtocolTable:
    """Every protocol in the report and which one each (run key, metric) score used."""

    protocols: list[Protocol]
    of: dict[tuple[str, str], int]

    def numbers(self, metric: str) -> list[int]:
        """The protocols ``metric`` was measured with, in order."""
        return sorted({n for (_, m), n in self.of.items() if m == metric})

    def mixed(self, metrics: Sequence[str]) -> list[str]:
        """Metrics measured with more than one protocol."""
        return [m for m in metrics if len(self.numbers(m)) > 1]

    def get(self, number: int) -> Protocol:
        return self.protocols[number - 1]


def _fill_not_applicable(protos: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Give a score whose not-applicable field is None the value that the other scores of
    its metric and otherwise equal protocol share, when exactly one such value exists
    (in place). With several values, None stays None: its own group."""
    for name in NOT_APPLICABLE_FIELDS:
        values: dict[str, set[str]] = {}
        def rest(score: tuple[str, str], proto: dict[str, Any]) -> str:
            return json.dumps([score[1], {f: v for f, v in proto.items() if f != name}], sort_keys=True,
                              default=str)
        for score, proto in protos.items():
            if proto[name] is not None:
                values.setdefault(rest(score, proto), set()).add(json.dumps(proto[name], default=str))
        for score, proto in protos.items():
            found = values.get(rest(score, proto), set())
            if proto[name] is None and len(found) == 1:
                proto[name] = json.loads(next(iter(found)))


def group_protocols(runs: Sequence[Run], metrics: Sequence[str]) -> ProtocolTable:
    """Number protocols in order of first use (runs in order, metrics in ``metrics`` order)."""
    protos: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        for metric in metrics:
            if metric in run.scores:
                protos[(run.key, metric)] = protocol(run.provenance.get(metric, {}))
    _fill_not_applicable(protos)
    by_key: dict[str, Protocol] = {}
    of: dict[tuple[str, str], int] = {}
    for run in runs:
        for metric in metrics:
            if metric not in run.scores:
                continue
            prov = run.provenance.get(metric, {})
            fields = protos[(run.key, metric)]
            key = _key(fields)
            if key not in by_key:
                by_key[key] = Protocol(len(by_key) + 1, fields)
            group = by_key[key]
            group.members.append((run.key, metric))
            versions = prov.get("versions")
            if versions and versions not in group.versions:
                group.versions.append(versions)
            of[(run.key, metric)] = group.number
    return ProtocolTable(list(by_key.values()), of)


def is_inception_fid(metric: str, prov: Mapping[str, Any]) -> bool:
    extractor = str(prov.get("feature_extractor") or "").lower()
    return parse_metric(metric).family == "fid" and ("inception" in extractor or not extractor)


def small_sample_flag(metric: str, proto: Protocol, min_samples: int = INCEPTION_MIN_SAMPLES) -> str | None:
    """A one-line caveat when an Inception FID used fewer than ``min_samples`` images on
    either side (N generated falls back to the count in the metric's name)."""
    if not is_inception_fid(metric, proto.fields):
        return None
    n_gen = proto.fields.get("num_gen") or parse_metric(metric).count
    n_real = proto.fields.get("num_real")
    small = [f"{label} = {n}" for label, n in (("N generated", n_gen), ("N real", n_real))
             if isinstance(n, int) and n < min_samples]
    if not small:
        return None
    return (f"{metric}: {', '.join(small)} < {min_samples} (the Inception feature dimension): the "
            f"covariance is rank-deficient and FID is biased upward; {NOT_PUBLISHED_COMPARABLE} "
            "(those use 50k samples). Compare it only within this report.")
