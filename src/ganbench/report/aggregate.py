"""Seeds → per-variant statistics, and pairwise tests between variants.

Pure functions on numbers.  For each variant and metric: n seeds, mean, sample standard
deviation (ddof = 1) and a Student-t confidence interval
``mean ± t_{(1+c)/2, n-1} · sd / √n``.  For each pair of variants and metric: the
difference of means and Welch's t-test (unequal variances, Welch–Satterthwaite degrees
of freedom), two-sided, with its p-value adjusted by Holm's step-down method over every
test of the table (all pairs × metrics; Holm 1979), and the verdict read from the
adjusted p-value.  With n = 1 on either side no spread is known and no test is made.
Scores are only ever aggregated or compared within one protocol.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from scipy import stats

from ganbench.metrics.registry import direction as metric_direction
from ganbench.report.inputs import Run
from ganbench.report.names import Direction
from ganbench.report.protocols import ProtocolTable

NAN = float("nan")


@dataclass(frozen=True)
class Summary:
    """One variant's scores for one metric over its seeds. ``std``, ``half_width`` and the
    interval are NaN when n < 2 (no spread is known)."""

    values: tuple[float, ...]
    mean: float
    std: float
    half_width: float
    confidence: float

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def ci_low(self) -> float:
        return self.mean - self.half_width

    @property
    def ci_high(self) -> float:
        return self.mean + self.half_width


def t_quantile(confidence: float, df: float) -> float:
    """The two-sided Student-t critical value, e.g. 4.3027 for 95 % and df = 2."""
    return float(stats.t.ppf(0.5 + confidence / 2, df))


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, sample std (ddof 1) and the t-interval half-width of ``values`` (n ≥ 1)."""
    xs = tuple(float(v) for v in values)
    if not xs:
        raise ValueError("summarize needs at least one value")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return Summary(xs, mean, NAN, NAN, confidence)
    if len(set(xs)) == 1:  # exactly no spread (the sum below would leave rounding noise)
        return Summary(xs, xs[0], 0.0, 0.0, confidence)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    return Summary(xs, mean, std, t_quantile(confidence, n - 1) * std / math.sqrt(n), confidence)


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variances t-test of mean(a) − mean(b); t, df, p are NaN when
    neither side has any spread."""

    diff: float
    t: float
    df: float
    p: float


def welch(a: Summary, b: Summary) -> Welch | None:
    """The two-sided test, or None when either side has n < 2."""
    if a.n < 2 or b.n < 2:
        return None
    diff = a.mean - b.mean
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    se2 = va + vb
    if se2 == 0.0:
        return Welch(diff, NAN, NAN, NAN)
    t = diff / math.sqrt(se2)
    df = se2**2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    p = float(2 * stats.t.sf(abs(t), df))
    return Welch(diff, t, df, p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni step-down adjusted p-values, in input order: sorted ascending, the
    i-th smallest (from 1) of m becomes ``max_{j ≤ i} min(1, (m − j + 1) p_(j))``.  A test
    is significant at family-wise level α when its adjusted p-value is below α."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    m = len(pvalues)
    out = [NAN] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def format_p(p: float) -> str:
    """Two significant digits: ``p = 0.31``, ``p = 0.055``, ``p = 0.0042``; ``p < 0.001``."""
    if math.isnan(p):
        return "p undefined"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2g}"


@dataclass(frozen=True)
class Column:
    """A metric measured with one protocol (a metric with two protocols is two columns)."""

    metric: str
    protocol: int
    mixed: bool = False
    #: Which way is better, as the evaluation recorded it (None: unknown, no verdict).
    direction: Direction | None = None

    @property
    def label(self) -> str:
        return f"{self.metric} [P{self.protocol}]" if self.mixed else self.metric


@dataclass(frozen=True)
class Comparison:
    """variant ``a`` vs ``b`` on one column: difference of means, the test, its Holm-adjusted
    p-value (over the ``family`` tests of the table), a plain verdict.

    ``better`` names the variant whose mean is significantly better (None otherwise or
    when the metric has no known direction); ``significant``: adjusted p < alpha."""

    column: Column
    a: str
    b: str
    sa: Summary
    sb: Summary
    test: Welch | None
    verdict: str
    better: str | None
    significant: bool
    p_adjusted: float = NAN
    family: int = 1

    @property
    def diff(self) -> float:
        return self.sa.mean - self.sb.mean


def verdict(a: str, b: str, sa: Summary, sb: Summary, test: Welch | None, direction: Direction | None,
            alpha: float = 0.05, p_adjusted: float | None = None) -> tuple[str, str | None]:
    """(plain-words verdict, the better variant when the difference is significant).

    With ``p_adjusted`` (the test's Holm-adjusted p-value) the decision reads it and the
    text gives both; without, the test stands alone."""
    if test is None:
        single = [name for name, s in ((a, sa), (b, sb)) if s.n < 2]
        return (f"no test possible: n = 1 for {' and '.join(single)}, so no spread is known", None)
    if math.isnan(test.p):
        if test.diff == 0:
            return "no difference: every seed gave the same value on both sides", None
        return "no test possible: every seed gave the same value within each variant (no spread)", None
    p = test.p if p_adjusted is None else p_adjusted
    shown = format_p(test.p) + ("" if p_adjusted is None else f", Holm-adjusted {format_p(p_adjusted)}")
    if p >= alpha:
        return f"no clear difference ({shown})", None
    lower, higher = (a, b) if test.diff < 0 else (b, a)
    better = {"lower": lower, "higher": higher}.get(direction or "")
    if direction == "higher":  # say it the way the metric is read
        return f"{higher} higher than {lower}, {shown}", better
    return f"{lower} lower than {higher}, {shown}", better


def columns(metrics: Sequence[str], table: ProtocolTable,
            directions: Mapping[str, Direction | None] | None = None) -> list[Column]:
    """One column per (metric, protocol), metrics in order, each with its direction."""
    out = []
    for m in metrics:
        numbers = table.numbers(m)
        out += [Column(m, n, mixed=len(numbers) > 1, direction=(directions or {}).get(m)) for n in numbers]
    return out


def directions(runs: Sequence[Run], metrics: Sequence[str]) -> dict[str, Direction | None]:
    """Each metric's direction as its scores' provenance records it (written by the
    evaluation from the metric's own declaration), or, for results made before it was
    recorded, as the registered metric declares it."""
    out: dict[str, Direction | None] = {}
    for m in metrics:
        recorded = {r.provenance.get(m, {}).get("direction") for r in runs} - {None}
        out[m] = recorded.pop() if len(recorded) == 1 else metric_direction(m)
    return out


def summarize_runs(runs: Sequence[Run], variants: Sequence[str], cols: Sequence[Column], table: ProtocolTable,
                   confidence: float = 0.95) -> dict[tuple[str, Column], Summary]:
    """(variant, column) → Summary over the variant's seeds whose score used that protocol."""
    out = {}
    for v in variants:
        for col in cols:
            values = [r.scores[col.metric] for r in runs
                      if r.variant == v and table.of.get((r.key, col.metric)) == col.protocol]
            if values:
                out[(v, col)] = summarize(values, confidence)
    return out


def pairs(variants: Sequence[str], cols: Sequence[Column], summaries: Mapping[tuple[str, Column], Summary]
          ) -> list[tuple[Column, str, str]]:
    """Every pair of variants (in ``variants`` order) on every column both have."""
    return [(col, a, b) for col in cols for a, b in combinations(variants, 2)
            if (a, col) in summaries and (b, col) in summaries]


def untested(variants: Sequence[str], cols: Sequence[Column], summaries: Mapping[tuple[str, Column], Summary]
             ) -> list[tuple[Column, str, str]]:
    """The pairs with a single seed on either side: no spread is known, so no test."""
    return [(col, a, b) for col, a, b in pairs(variants, cols, summaries)
            if summaries[(a, col)].n < 2 or summaries[(b, col)].n < 2]


def compare(variants: Sequence[str], cols: Sequence[Column], summaries: Mapping[tuple[str, Column], Summary],
            alpha: float = 0.05) -> list[Comparison]:
    """Welch's test for every pair (:func:`pairs`) with ≥ 2 seeds on both sides, each
    p-value Holm-adjusted over all those tests (the table's family: pairs × metrics)."""
    tested = []
    for col, a, b in pairs(variants, cols, summaries):
        test = welch(summaries[(a, col)], summaries[(b, col)])
        if test is not None:
            tested.append((col, a, b, test))
    finite = [i for i, (*_, t) in enumerate(tested) if not math.isnan(t.p)]
    adjusted = dict(zip(finite, holm([tested[i][3].p for i in finite])))
    out = []
    for i, (col, a, b, test) in enumerate(tested):
        sa, sb = summaries[(a, col)], summaries[(b, col)]
        p_adj = adjusted.get(i, NAN)
        text, better = verdict(a, b, sa, sb, test, col.direction, alpha, None if math.isnan(p_adj) else p_adj)
        out.append(Comparison(col, a, b, sa, sb, test, text, better, p_adj < alpha, p_adj, len(finite)))
    return out
