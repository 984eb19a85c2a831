"""The report's content, computed once from the runs, then written as HTML, Markdown and CSV.

:func:`analyse` is pure (runs → :class:`Report`); :func:`write_report` renders and writes
``index.html`` (self-contained: figures and grids embedded as base64 PNG), ``report.md``
(figures and grids as PNG files beside it), ``metrics.csv`` (one row per variant,
metric and protocol), ``comparisons.csv`` (one row per pair of variants and metric) and
``runs.csv`` (one row per run).  Equal inputs give byte-identical files.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.io import write_bytes
from ganbench.report.aggregate import (
    Column,
    Comparison,
    Summary,
    columns,
    directions,
    compare,
    pairs,
    summarize,
    summarize_runs,
    untested,
)
from ganbench.report.figures import FigureStyle, curves_figure, losses_figure, variant_colours
from ganbench.report.inputs import Run, is_number
from ganbench.report.protocols import (
    INCEPTION_MIN_SAMPLES,
    PROTOCOL_FIELDS,
    ProtocolTable,
    group_protocols,
    protocol_difference,
    small_sample_flag,
)
from ganbench.report.textfmt import count, duration, sig

#: budget mode → (unit, what it means)
BUDGET_UNITS = {
    "g_steps": ("generator steps", ""),
    "kimg": ("kimg", "thousands of real images shown to the discriminator"),
    "seconds": ("seconds", "training wall-clock on the machine that trained: not reproducible elsewhere"),
}


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of the report."""

    title: str = "ganbench report"
    confidence: float = 0.95          # level of the Student-t interval on each mean
    alpha: float = 0.05               # significance level of the pairwise Welch tests
    inception_min_samples: int = INCEPTION_MIN_SAMPLES
    figures: FigureStyle = field(default_factory=FigureStyle)


@dataclass(frozen=True)
class Grid:
    """One sample grid: its run, PNG bytes (None when missing) and whether rows are classes."""

    key: str
    variant: str
    seed: int
    png: bytes | None
    conditional: bool


@dataclass(frozen=True)
class CostRow:
    """What one variant's training cost, aggregated over its seeds (display strings)."""

    variant: str
    cells: dict[str, str]


@dataclass
class Report:
    """Everything the renderers show; built by :func:`analyse`."""

    options: ReportOptions
    runs: list[Run]
    variants: list[str]
    metrics: list[str]
    protocols: ProtocolTable
    columns: list[Column]
    summaries: dict[tuple[str, Column], Summary]
    comparisons: list[Comparison]
    untested: str | None
    noise: dict[tuple[str, Column], dict[str, Any]]
    flags: dict[Column, str]
    warnings: list[str]
    notes: list[str]
    budget: str
    costs: list[CostRow]
    grids: list[Grid]
    curves_png: bytes | None
    losses_png: bytes | None

    @property
    def colours(self) -> dict[str, str]:
        return variant_colours(self.variants)

    def seeds(self, variant: str) -> list[int]:
        return [r.id.seed for r in self.runs if r.variant == variant]

    def best(self, col: Column) -> set[str]:
        """The variant with the best mean on ``col`` when that is a verdict: every variant
        of the column has ≥ 2 seeds and the best one is significantly better than each
        other one after the Holm correction over the table; else none (so also with one
        seed, a tie at the top, an unknown direction or a single variant)."""
        sums = {v: s for (v, c), s in self.summaries.items() if c == col}
        if len(sums) < 2 or col.direction is None or any(s.n < 2 for s in sums.values()):
            return set()
        top = (min if col.direction == "lower" else max)(s.mean for s in sums.values())
        leaders = [v for v, s in sums.items() if s.mean == top]
        if len(leaders) != 1:
            return set()
        wins = {c.b if c.a == leaders[0] else c.a for c in self.comparisons
                if c.column == col and c.better == leaders[0] and c.significant}
        return set(leaders) if wins == set(sums) - set(leaders) else set()

    def eval_noise(self, variant: str, col: Column) -> dict[str, Any] | None:
        """The evaluation-noise interval of a single-seed score (None with ≥ 2 seeds)."""
        return self.noise.get((variant, col))


# ---------------------------------------------------------------------------- analysis


def metric_order(runs: Sequence[Run]) -> list[str]:
    """Every metric of every run, in order of first appearance (file order)."""
    return list(dict.fromkeys(m for r in runs for m in r.scores))


def budget_sentence(runs: Sequence[Run]) -> tuple[str, str | None]:
    """(the sentence, a warning when runs trained with different budgets)."""
    def one(r: Run) -> tuple[str, Any]:
        return str(r.train.get("budget", "unknown")), r.train.get("budget_amount")

    budgets = {one(r) for r in runs}
    if len(budgets) == 1:
        mode, amount = next(iter(budgets))
        amount_s = sig(float(amount)) if is_number(amount) else "an unknown amount of"
        unit, meaning = BUDGET_UNITS.get(mode, (mode, ""))
        return (f"Every variant trained for {amount_s} {unit} (budget `{mode}`"
                f"{': ' + meaning if meaning else ''}).", None)
    groups: dict[tuple[str, Any], list[str]] = {}
    for r in runs:
        groups.setdefault(one(r), []).append(r.key)
    parts = [f"{mode} {sig(float(a)) if is_number(a) else a}: {', '.join(keys)}" for (mode, a), keys in groups.items()]
    text = "The runs did not all train with the same budget — " + "; ".join(parts) + "."
    return text, ("**Different training budgets**: " + "; ".join(parts)
                  + ". Scores of runs with different budgets measure different amounts of training.")


def _values(runs: Sequence[Run], key: str) -> list[float]:
    return [float(r.train[key]) for r in runs if is_number(r.train.get(key))]


def _num_cell(xs: Sequence[float], fmt: Any = sig, spread: bool = False) -> str:
    """Mean over seeds; ``(min–max)`` when seeds differ, or ``± sd`` with ``spread``."""
    if not xs:
        return "—"
    s = summarize(xs)
    if len(set(xs)) == 1:
        return fmt(xs[0])
    if spread and s.n > 1:
        return f"{fmt(s.mean)} ± {fmt(s.std)}"
    return f"{fmt(s.mean)} ({fmt(min(xs))}–{fmt(max(xs))})"


def _text_cell(runs: Sequence[Run], key: str) -> str:
    vals = list(dict.fromkeys(str(r.train.get(key)) for r in runs if r.train.get(key) is not None))
    return ", ".join(vals) or "—"


def _ema_cell(runs: Sequence[Run]) -> str:
    """The EMA half-life in effect at the end of training (after the ramp-up): ``2.4 kimg
    / 75 G steps``; the nominal ``ema_kimg`` for runs that did not record it."""
    kimg, steps = _values(runs, "ema_half_life_kimg"), _values(runs, "ema_half_life_g_steps")
    if kimg and steps:
        return f"{_num_cell(kimg)} kimg / {_num_cell(steps)} G steps"
    nominal = _values(runs, "ema_kimg")
    return f"{_num_cell(nominal)} kimg (nominal)" if nominal else "—"


def cost_rows(runs: Sequence[Run], variants: Sequence[str]) -> list[CostRow]:
    """Per variant: loss, kimg, G and D steps, D:G, batch, wall-clock, images/s, sizes, device."""
    out = []
    for v in variants:
        rs = [r for r in runs if r.variant == v]
        g, d = _values(rs, "g_steps"), _values(rs, "d_steps")
        ratio = [b / a for a, b in zip(g, d) if a] if len(g) == len(d) else []
        cells = {
            "seeds": str(len(rs)),
            "loss": _text_cell(rs, "loss"),
            "kimg": _num_cell(_values(rs, "kimg")),
            "G steps": _num_cell(g),
            "D steps": _num_cell(d),
            "D:G": _num_cell(ratio, lambda x: f"{x:.2g}") if ratio else "—",
            "batch": _num_cell(_values(rs, "batch_size")),
            "EMA half-life": _ema_cell(rs),
            "train wall-clock": _num_cell(_values(rs, "wall_clock_s"), duration, spread=True),
            "images/s": _num_cell(_values(rs, "images_per_s"), lambda x: f"{x:,.0f}", spread=True),
            "eval wall-clock": _num_cell(_values(rs, "eval_wall_clock_s"), duration, spread=True),
            "params G / D": f'{_num_cell(_values(rs, "params_G"), count)} / '
                            f'{_num_cell(_values(rs, "params_D"), count)}',
            "device": _text_cell(rs, "device"),
        }
        out.append(CostRow(v, cells))
    return out


NOISE_NOTE = ("a score's ± eval. noise is only the spread over bootstrap resamples of the generated samples "
              "(how much it moves with other samples of the same trained model), not over training seeds")


def seed_note(variants: Sequence[str], runs: Sequence[Run]) -> str | None:
    """One sentence when some variant has a single seed (its training-seed spread is unknown)."""
    single = [v for v in variants if sum(r.variant == v for r in runs) < 2]
    if not single:
        return None
    if len(single) == len(variants):
        return ("Each variant has a single seed, so the training-seed spread is unknown: "
                f"{NOISE_NOTE}; no pairwise test is possible and no best value is marked. "
                "`dvc exp run -S 'seeds=[0,1,2]'` gives seed intervals and tests.")
    return (f"{', '.join(single)} {'has' if len(single) == 1 else 'have'} a single seed, so the "
            f"training-seed spread is unknown there: {NOISE_NOTE}; no test for it and no best value "
            "is marked where it takes part.")


def untested_sentence(variants: Sequence[str], cols: Sequence[Column],
                      summaries: Mapping[tuple[str, Column], Summary], flat: Sequence[Comparison] = ()
                      ) -> str | None:
    """The pairs with no test, in one sentence (None when every pair was tested): a single
    seed on either side, or (``flat``) seeds that agree exactly within each variant."""
    skipped = untested(variants, cols, summaries)
    if not skipped and not flat:
        return None
    total = len(pairs(variants, cols, summaries))
    why = []
    if skipped:
        single = list(dict.fromkeys(v for col, a, b in skipped for v in (a, b) if summaries[(v, col)].n < 2))
        who = "every variant has" if set(single) == set(variants) else (
            f"{', '.join(single)} {'has' if len(single) == 1 else 'have'}")
        why.append(f"{len(skipped)} because {who} a single seed there, so no training-seed spread is known")
    if flat:
        where = ", ".join(f"{c.column.label} ({c.a} vs {c.b})" for c in flat)
        why.append(f"{len(flat)} because every seed gave the same value within each variant (zero spread: "
                   f"the t-test is undefined) ({where})")
    return f"No test for {len(skipped) + len(flat)} of the {total} pairs × metrics: {'; '.join(why)}."


def describe_runs(keys: set[str] | frozenset[str], runs: Sequence[Run]) -> str:
    """``dcgan, wgan_gp (seeds 0, 2)``: a variant by name when all its seeds are in ``keys``."""
    parts = []
    for v in dict.fromkeys(r.variant for r in runs):
        seeds = [r.id.seed for r in runs if r.variant == v]
        inside = [r.id.seed for r in runs if r.variant == v and r.key in keys]
        if inside and len(inside) == len(seeds):
            parts.append(v)
        elif inside:
            parts.append(f"{v} (seed{'s' if len(inside) > 1 else ''} {', '.join(map(str, inside))})")
    return ", ".join(parts)


def field_differing(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """:func:`protocol_difference` of two protocols that were grouped apart; a field that
    does not apply and is recorded on one side only (kept apart when its other scores
    disagree) is named too."""
    return protocol_difference(a, b) or next(
        f"{f} {a.get(f)} vs {b.get(f)}" for f in PROTOCOL_FIELDS if a.get(f) != b.get(f))


def analyse(runs: Sequence[Run], options: ReportOptions = ReportOptions(), *, figures: bool = True) -> Report:
    """Group, aggregate, compare and draw (pure: no files are written)."""
    runs = list(runs)
    variants = list(dict.fromkeys(r.variant for r in runs))
    metrics = metric_order(runs)
    table = group_protocols(runs, metrics)
    cols = columns(metrics, table, directions(runs, metrics))
    summaries = summarize_runs(runs, variants, cols, table, options.confidence)
    comparisons = compare(variants, cols, summaries, options.alpha)
    # Seeds that agree exactly within each variant but differ between them: no spread, no test.
    untestable = [math.isnan(c.test.p) and c.diff != 0 for c in comparisons]
    flat = [c for c, no in zip(comparisons, untestable) if no]
    comparisons = [c for c, no in zip(comparisons, untestable) if not no]

    warnings: list[str] = []
    for m in table.mixed(metrics):
        groups = []
        numbers = table.numbers(m)
        for n in numbers:
            members = {k for k, mm in table.get(n).members if mm == m}
            groups.append(f"P{n}: {describe_runs(members, runs)}")
        first = table.get(numbers[0]).fields
        differ = [f"P{numbers[0]} vs P{n}: {field_differing(first, table.get(n).fields)}" for n in numbers[1:]]
        warnings.append(f"**{m} was measured with different protocols** ({'; '.join(groups)}; "
                        f"{'; '.join(differ)}): its scores are split into one column per protocol and never "
                        "compared across them. See “How the scores were made”.")
    unknown = [p.number for p in table.protocols if not p.known]
    if unknown:
        warnings.append("Some scores carry no provenance (protocol "
                        + ", ".join(f"P{n}" for n in unknown) + "): how they were made is unknown.")
    flags = {}
    for col in cols:
        flag = small_sample_flag(col.metric, table.get(col.protocol), options.inception_min_samples)
        if flag:
            flags[col] = flag
    budget, budget_warning = budget_sentence(runs)
    if budget_warning:
        warnings.append(budget_warning)
    conditional = {bool(r.train.get("conditional")) for r in runs}
    if len(conditional) > 1:
        cond = [r.key for r in runs if r.train.get("conditional")]
        warnings.append(f"Only some runs are class-conditional ({', '.join(cond)}): conditional and "
                        "unconditional generators solve different tasks.")

    noise = {}
    for (v, col), s in summaries.items():
        if s.n == 1:
            run = next(r for r in runs if r.variant == v and table.of.get((r.key, col.metric)) == col.protocol)
            interval = run.provenance.get(col.metric, {}).get("eval_noise")
            if isinstance(interval, Mapping) and is_number(interval.get("low")) and is_number(interval.get("high")):
                noise[(v, col)] = dict(interval)

    notes = [n for n in (seed_note(variants, runs),) if n]
    missing = [r.key for r in runs if r.grid is None]
    if missing:
        notes.append(f"No sample grid for {', '.join(missing)}.")
    grids = [Grid(r.key, r.variant, r.id.seed, r.grid, bool(r.train.get("conditional"))) for r in runs]
    curves = curves_figure(runs, variants, options.figures) if figures else None
    losses = losses_figure(runs, variants, options.figures) if figures else None
    return Report(options, runs, variants, metrics, table, cols, summaries, comparisons,
                  untested_sentence(variants, cols, summaries, flat), noise, flags, warnings, notes, budget,
                  cost_rows(runs, variants), grids, curves, losses)


def tests_caption(report: Report) -> str:
    """How the pairwise tests were made and read (the HTML page and report.md)."""
    n_tests = max((c.family for c in report.comparisons), default=0)
    alpha = report.options.alpha
    return (f"Welch's t-test (two-sided, unequal variances, Welch–Satterthwaite df) on the seeds of each "
            f"pair. The p-values are adjusted with Holm's step-down method over all {n_tests} tests of this "
            f"table (pairs × metrics), and a difference is called at Holm-adjusted p < {alpha:g}, which keeps "
            f"the chance of any false call below {alpha:g} when no variant differs.")


# ---------------------------------------------------------------------------- CSV


def _num(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else repr(float(x))


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def metrics_csv(report: Report) -> str:
    """variant,metric,protocol,direction,n,mean,std,ci_low,ci_high,confidence,values,flag, and
    for a single seed its evaluation-noise interval eval_low,eval_high,eval_se."""
    rows = []
    for v in report.variants:
        for col in report.columns:
            s = report.summaries.get((v, col))
            if s is None:
                continue
            noise = report.eval_noise(v, col) or {}
            rows.append([v, col.metric, col.protocol, col.direction or "", s.n, _num(s.mean), _num(s.std),
                         _num(s.ci_low), _num(s.ci_high), s.confidence,
                         " ".join(_num(x) for x in s.values), report.flags.get(col, ""),
                         *(_num(noise.get(k)) for k in ("low", "high", "se"))])
    return _csv(["variant", "metric", "protocol", "direction", "n", "mean", "std", "ci_low", "ci_high",
                 "confidence", "values", "flag", "eval_low", "eval_high", "eval_se"], rows)


def comparisons_csv(report: Report) -> str:
    """metric,protocol,a,b,n_a,n_b,mean_a,mean_b,diff,t,df,p,p_holm,significant,better,verdict."""
    rows = []
    for c in report.comparisons:
        t = c.test
        rows.append([c.column.metric, c.column.protocol, c.a, c.b, c.sa.n, c.sb.n, _num(c.sa.mean),
                     _num(c.sb.mean), _num(c.diff), _num(t.t if t else None), _num(t.df if t else None),
                     _num(t.p if t else None), _num(c.p_adjusted), int(c.significant), c.better or "", c.verdict])
    return _csv(["metric", "protocol", "a", "b", "n_a", "n_b", "mean_a", "mean_b", "diff", "t", "df", "p",
                 "p_holm", "significant", "better", "verdict"], rows)


TRAIN_NUMBERS = ("budget_amount", "kimg", "images_seen", "g_steps", "d_steps", "batch_size", "ema_kimg",
                 "ema_rampup", "ema_half_life_kimg", "ema_half_life_g_steps",
                 "wall_clock_s", "images_per_s", "eval_wall_clock_s", "params_G", "params_D")


def runs_csv(report: Report) -> str:
    """One row per run: key, variant, seed, every metric (with protocol), train numbers."""
    header = ["key", "variant", "seed", "budget"]
    header += [f"{m}" for m in report.metrics] + [f"{m}_protocol" for m in report.metrics]
    header += list(TRAIN_NUMBERS)
    rows = []
    for r in report.runs:
        row: list[Any] = [r.key, r.variant, r.id.seed, r.train.get("budget", "")]
        row += [_num(r.scores.get(m)) for m in report.metrics]
        row += [report.protocols.of.get((r.key, m), "") for m in report.metrics]
        row += [_num(r.train[k]) if is_number(r.train.get(k)) else "" for k in TRAIN_NUMBERS]
        rows.append(row)
    return _csv(header, rows)


# ---------------------------------------------------------------------------- files


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """Write every file of the report into ``out_dir``; returns name → path."""
    from ganbench.report.html import render_html
    from ganbench.report.markdown import render_markdown

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    images: dict[str, str] = {}
    for name, png in (("curves", report.curves_png), ("losses", report.losses_png)):
        if png is not None:
            write_bytes(out_dir / "figures" / f"{name}.png", png)
            images[name] = f"figures/{name}.png"
    for g in report.grids:
        if g.png is not None:
            write_bytes(out_dir / "samples" / f"{g.key}.png", g.png)
            images[g.key] = f"samples/{g.key}.png"
    texts: Mapping[str, str] = {
        "index.html": render_html(report),
        "report.md": render_markdown(report, images),
        "metrics.csv": metrics_csv(report),
        "comparisons.csv": comparisons_csv(report),
        "runs.csv": runs_csv(report),
    }
    for name, text in texts.items():
        write_bytes(out_dir / name, text.encode("utf-8"))
        files[name] = out_dir / name
    return files


def build_report(runs: Sequence[Run], out_dir: Path, options: ReportOptions = ReportOptions()) -> Report:
    """:func:`analyse` then :func:`write_report`."""
    report = analyse(runs, options)
    write_report(report, out_dir)
    return report
