"""``report.md``: the same content as index.html, with images as files beside it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

from ganbench.report.aggregate import format_p
from ganbench.report.build import Report, tests_caption
from ganbench.report.textfmt import mean_pm, signed, value_pm


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align_left: int = 1) -> list[str]:
    def clean(x: str) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    seps = [":--" if i < align_left else "--:" for i in range(len(header))]
    out = ["| " + " | ".join(clean(h) for h in header) + " |", "|" + "|".join(seps) + "|"]
    out += ["| " + " | ".join(clean(c) for c in r) + " |" for r in rows]
    return out


def render_markdown(report: Report, images: Mapping[str, str]) -> str:
    """The report as Markdown; ``images`` maps ``curves``, ``losses`` and run keys to
    paths relative to report.md."""
    pct = f"{report.options.confidence:.0%}"
    lines = [f"# {report.options.title}", "", report.budget, ""]
    lines += [f"> {n}" for n in report.notes] + ([""] if report.notes else [])
    lines += [f"> **Warning:** {w}" for w in report.warnings] + ([""] if report.warnings else [])

    arrows = {"lower": "↓", "higher": "↑"}
    lines += ["## Results", "", (f"Mean over seeds ± half-width of the {pct} Student-t interval; with one seed "
                                 "the score ± its evaluation noise (eval.: a bootstrap over the generated "
                                 "samples; the training-seed spread is unknown). ↓ lower is better, ↑ higher "
                                 "is better; **bold**: significantly better than every other variant after "
                                 "the Holm correction (needs ≥ 2 seeds each); [Pn] = protocol of a split "
                                 "column."), ""]
    header = ["variant", "seeds"] + [f"{c.label} {arrows.get(c.direction or '', '')}".strip() for c in report.columns]
    rows = []
    for v in report.variants:
        cells = [v, str(len(report.seeds(v)))]
        for c in report.columns:
            s = report.summaries.get((v, c))
            if s is None:
                cells.append("—")
                continue
            mean, pm = mean_pm(s)
            noise = report.eval_noise(v, c)
            if noise:
                mean, pm = value_pm(s.mean, (noise["high"] - noise["low"]) / 2)
                pm += " (eval.)"
            if v in report.best(c):
                mean = f"**{mean}**"
            cells.append(f"{mean} {pm}".strip() if pm else f"{mean} (n = 1)")
        rows.append(cells)
    lines += _table(header, rows, align_left=1) + [""]
    for flag in dict.fromkeys(report.flags.values()):
        lines.append(f"- ⚠ {flag}")
    if report.flags:
        lines.append("")

    lines += ["## Pairwise tests (Welch's t-test, unequal variances, Holm-adjusted)", ""]
    if report.comparisons:
        prow = []
        for c in report.comparisons:
            hw = max((s.half_width for s in (c.sa, c.sb) if not math.isnan(s.half_width)), default=None)
            p = format_p(c.test.p) if c.test and not math.isnan(c.test.p) else "—"
            holm = format_p(c.p_adjusted) if not math.isnan(c.p_adjusted) else "—"
            prow.append([c.column.label, f"{c.a} vs {c.b}", signed(c.diff, hw), p, holm,
                         c.verdict + (f" ({c.better} better)" if c.better else "")])
        lines += _table(["metric", "A vs B", "mean A − B", "p", "Holm p", "verdict"], prow, align_left=2)
        lines += [""] + ([report.untested, ""] if report.untested else []) + [tests_caption(report), ""]
    else:
        lines += [report.untested or "Only one variant: nothing to compare.", ""]

    lines += ["## Training cost", "", report.budget, ""]
    keys = list(report.costs[0].cells) if report.costs else []
    lines += _table(["variant"] + keys, [[r.variant] + [r.cells[k] for k in keys] for r in report.costs]) + [""]
    lines += [("Cost columns: `kimg` = thousands of real images shown to the discriminator, G/D steps = "
               "optimizer steps, EMA half-life = the generator EMA's half-life in effect at the end of training, "
               "after the ramp-up (train.ema_rampup), in kimg and in generator steps; wall-clock and images/s were "
               "measured on the machine that trained."), ""]

    for name, title in (("curves", "Training curves"), ("losses", "Losses")):
        lines += [f"## {title}", ""]
        lines += [f"![{title}]({images[name]})", ""] if name in images else ["Not recorded.", ""]

    lines += ["## Samples", ""]
    for v in report.variants:
        lines += [f"### {v}", ""]
        for g in (g for g in report.grids if g.variant == v):
            cap = f"seed {g.seed}" + (", one row per class" if g.conditional else "")
            lines.append(f"![{g.key}: {cap}]({images[g.key]})" if g.key in images else f"{g.key}: no grid")
        lines.append("")

    lines += ["## How the scores were made", ""]
    for p in report.protocols.protocols:
        lines.append(f"Protocol {p.number} ({', '.join(p.runs)}; metrics: {', '.join(p.metrics)}):")
        lines += [f"- {k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in p.fields.items()]
        for ver in p.versions:
            lines.append(f"- versions: {json.dumps(ver, sort_keys=True)}")
        lines.append("")
    return "\n".join(lines)
