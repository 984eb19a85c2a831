"""``index.html``: one self-contained page (inline CSS, base64 images, no scripts, no
network), readable offline and as an MLflow artifact."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from ganbench.report.aggregate import Column, Comparison, format_p
from ganbench.report.build import Report, tests_caption
from ganbench.report.protocols import PROTOCOL_FIELDS, Protocol
from ganbench.report.textfmt import mean_pm, sig, signed, value_pm

CSS = """
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f4f6f9;--card:#fff;--ink:#0f172a;
--warn-bg:#fff7ed;--warn-line:#f97316;--warn:#7c2d12;--note-bg:#eff6ff;--note-line:#3b82f6;
--good:#047857;--good-bg:#ecfdf5;--bad:#b91c1c}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}
.wrap{max-width:1180px;margin:0 auto;padding:0 24px}
header{background:var(--ink);color:#e2e8f0;padding:30px 0 24px}
header h1{margin:0 0 4px;font-size:1.9rem;letter-spacing:-.01em;color:#fff}
header p{margin:0;color:#cbd5e1}
header .budget{margin-top:10px;font-size:1.02rem;color:#fff}
nav{position:sticky;top:0;z-index:10;background:rgba(255,255,255,.96);border-bottom:1px solid var(--line)}
nav .wrap{display:flex;gap:4px;flex-wrap:wrap;padding-top:6px;padding-bottom:6px}
nav a{color:#334155;text-decoration:none;font-size:.88rem;padding:4px 10px;border-radius:999px}
nav a:hover{background:#e2e8f0}
main{padding:8px 0 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:20px 24px 22px;
margin:18px 0;box-shadow:0 1px 2px rgba(15,23,42,.04)}
h2{font-size:1.22rem;margin:0 0 6px;color:var(--ink)}
h3{font-size:1rem;margin:18px 0 6px;color:var(--ink)}
p.lead{margin:0 0 14px;color:var(--muted)}
code{font:.86em/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;
background:#f1f5f9;padding:1px 5px;border-radius:4px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}
thead th{font-size:.8rem;color:#475569;font-weight:600;border-bottom:2px solid #cbd5e1;vertical-align:bottom}
thead th .dir{display:block;font-weight:400;color:var(--muted);white-space:nowrap}
tbody tr:hover{background:#f8fafc}
td .m{font-weight:600;white-space:nowrap}
td .pm{display:block;font-size:.78rem;color:var(--muted);white-space:nowrap}
td.best .m{color:var(--good)}
td.best .m::after{content:" ★";font-size:.75em}
td.none{color:#cbd5e1}
.sw{display:inline-block;width:11px;height:11px;border-radius:3px;margin-right:7px;vertical-align:-1px}
.vn{font-weight:600;white-space:nowrap}
.badge{display:inline-block;font-size:.7rem;font-weight:600;padding:0 7px;border-radius:999px;
background:#e0e7ff;color:#3730a3;margin-left:4px}
.flag{color:#c2410c;font-weight:700;text-decoration:none}
.callout{border-left:4px solid;border-radius:6px;padding:10px 14px;margin:10px 0}
.warn{background:var(--warn-bg);border-color:var(--warn-line);color:var(--warn)}
.note{background:var(--note-bg);border-color:var(--note-line);color:#1e3a8a}
.callout p{margin:0}.callout p+p{margin-top:6px}
.caption,figcaption{color:var(--muted);font-size:.85rem;margin-top:8px}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:10px 0 0;font-size:.85rem;color:#475569}
ol.flags{font-size:.85rem;color:var(--warn);margin:10px 0 0;padding-left:20px}
figure{margin:0}
figure img.plot{width:100%;height:auto;display:block}
tr.metric th{background:#f8fafc;text-align:left;font-size:.9rem;color:var(--ink);border-bottom:1px solid #cbd5e1}
td.verdict{text-align:left}
.sig{color:var(--good);font-weight:600}.sig.nodir{color:var(--ink)}
.ns{color:var(--muted)}.na{color:#94a3b8;font-style:italic}
.variant-grids{margin:14px 0 22px}
.variant-grids h3{margin:0 0 8px}
.grids{display:grid;gap:14px}
.grids figure{background:#f8fafc;border:1px solid var(--line);border-radius:8px;padding:8px}
.grids img{width:100%;height:auto;display:block;image-rendering:pixelated;border-radius:4px;background:#000}
.grids figcaption{text-align:center;margin-top:6px}
table.prov td,table.prov th{text-align:left;font-size:.84rem;padding:5px 8px}
table.prov td.k{color:var(--muted);white-space:nowrap}
table.prov td.diff{color:#c2410c;font-weight:700;background:#fff7ed}
th[scope=row]{white-space:nowrap;text-align:left}
table.cost td{white-space:nowrap}
th[scope=row] .pm{display:block;font-size:.75rem;color:var(--muted);font-weight:400;margin-left:18px}
thead th .mn{white-space:nowrap}
table.pairs th,table.pairs td:first-child,table.pairs td.p{white-space:nowrap}
table.results td,table.results th{padding-left:8px;padding-right:8px}
header code{background:rgba(255,255,255,.14);color:#fff}
footer{color:var(--muted);font-size:.82rem;padding:6px 0 30px}
footer p{margin:4px 0}
"""


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _inline_md(text: str) -> str:
    """``**bold**`` and ```code``` of a warning line → HTML (after escaping)."""
    out = esc(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _variant(report: Report, v: str) -> str:
    return f'<span class="sw" style="background:{report.colours[v]}"></span><span class="vn">{esc(v)}</span>'


def _header(report: Report) -> str:
    datasets = list(dict.fromkeys(str(p.fields["dataset"]) for p in report.protocols.protocols
                                  if p.fields.get("dataset")))
    seeds = sorted({len(report.seeds(v)) for v in report.variants})
    seed_txt = f"{seeds[0]} seed{'s' if seeds[0] != 1 else ''} each" if len(seeds) == 1 else "seeds: " + ", ".join(
        f"{v} {len(report.seeds(v))}" for v in report.variants)
    nv, nr = len(report.variants), len(report.runs)
    bits = [f"{nv} variant{'s' if nv != 1 else ''} ({', '.join(report.variants)})", seed_txt,
            f"{nr} run{'s' if nr != 1 else ''}"] + ([", ".join(datasets)] if datasets else [])
    return (f'<header><div class="wrap"><h1>{esc(report.options.title)}</h1><p>{esc(" · ".join(bits))}</p>'
            f'<p class="budget">{_inline_md(report.budget)}</p></div></header>')


NAV = (("results", "Results"), ("comparisons", "Pairwise tests"), ("cost", "Training cost"),
       ("curves", "Training curves"), ("losses", "Losses"), ("samples", "Samples"),
       ("provenance", "How scores were made"), ("method", "Method"))


def _nav() -> str:
    links = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in NAV)
    return f'<nav><div class="wrap">{links}</div></nav>'


def _callouts(report: Report) -> str:
    parts = [f'<div class="callout note"><p>{_inline_md(n)}</p></div>' for n in report.notes]
    parts += [f'<div class="callout warn"><p>⚠ {_inline_md(w)}</p></div>' for w in report.warnings]
    return "".join(parts)


def _col_header(report: Report, col: Column, flag_no: dict[Column, int]) -> str:
    arrow = {"lower": "↓", "higher": "↑"}.get(col.direction or "", "")
    badge = f'<span class="badge" title="protocol {col.protocol}">P{col.protocol}</span>' if col.mixed else ""
    flag = (f' <a class="flag" href="#flag-{flag_no[col]}" title="{esc(report.flags[col])}">⚠{flag_no[col]}</a>'
            if col in flag_no else "")
    name = esc(col.metric).replace("_", "_<wbr>")
    return f'<th scope="col">{name}&nbsp;{arrow}{badge}{flag}</th>'


def _cell(report: Report, v: str, col: Column) -> str:
    s = report.summaries.get((v, col))
    if s is None:
        return '<td class="none" title="not measured with this protocol">—</td>'
    mean, pm = mean_pm(s)
    pct = f"{report.options.confidence:.0%}"
    tip = [f"n = {s.n}", "values: " + ", ".join(sig(x) for x in s.values)]
    if s.n > 1:
        tip[1:1] = [f"sd = {sig(s.std, 3)}", f"{pct} CI [{sig(s.ci_low)}, {sig(s.ci_high)}]"]
    noise = report.eval_noise(v, col)
    if noise:
        mean, pm = value_pm(s.mean, (noise["high"] - noise["low"]) / 2)
        pm += " eval. noise"
        tip.append(f"evaluation noise: {noise.get('confidence', 0.95):.0%} interval [{sig(noise['low'])}, "
                   f"{sig(noise['high'])}] from {noise.get('resamples')} bootstrap resamples of the generated "
                   "samples; the training-seed spread is unknown")
    best = " best" if v in report.best(col) else ""
    sub = pm if pm else "n = 1"
    return (f'<td class="num{best}" title="{esc(" · ".join(tip))}"><span class="m">{esc(mean)}</span>'
            f'<span class="pm">{esc(sub)}</span></td>')


def _results(report: Report) -> str:
    texts = list(dict.fromkeys(report.flags.values()))
    flag_no = {col: texts.index(text) + 1 for col, text in report.flags.items()}
    head = "".join(_col_header(report, c, flag_no) for c in report.columns)
    rows = []
    for v in report.variants:
        cells = "".join(_cell(report, v, c) for c in report.columns)
        n = len(report.seeds(v))
        rows.append(f'<tr><th scope="row">{_variant(report, v)}<span class="pm">{n} seed{"s" if n != 1 else ""}'
                    f'</span></th>{cells}</tr>')
    pct = f"{report.options.confidence:.0%}"
    flags = "".join(f'<li id="flag-{i}">{esc(text)}</li>' for i, text in enumerate(texts, 1))
    legend = ('<div class="legend"><span>↓ lower is better · ↑ higher is better</span><span>mean over '
              f'seeds, below it ± the half-width of the {pct} Student-t interval; with one seed ± the '
              'evaluation noise (bootstrap over the generated samples; training-seed spread unknown)</span>'
              '<span>★ best mean, marked only when every variant has ≥ 2 seeds and it is significantly '
              'better than each other variant after the Holm correction (see the tests)</span>'
              + ('<span><span class="badge">P2</span> protocol of a split column</span>'
                 if any(c.mixed for c in report.columns) else "")
              + '<span>hover a cell for n, sd, interval and every seed</span></div>')
    return (f'<section id="results"><h2>Results</h2><p class="lead">One row per variant, one column per '
            f'metric; every cell aggregates the variant\'s seeds.</p>{_callouts(report)}'
            f'<div class="scroll"><table class="results"><thead><tr><th scope="col">variant</th>'
            f'{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            f'{legend}{f"<ol class=flags>{flags}</ol>" if flags else ""}</section>')


def _verdict_class(c: Comparison) -> str:
    if c.test is None or math.isnan(c.test.p):
        return "na"
    if not c.significant:
        return "ns"
    return "sig" if c.better else "sig nodir"


def _comparisons(report: Report) -> str:
    if not report.comparisons:
        text = report.untested or "Only one variant: nothing to compare."
        return f'<section id="comparisons"><h2>Pairwise tests</h2><p class="lead">{esc(text)}</p></section>'
    body = []
    for col in report.columns:
        rows = [c for c in report.comparisons if c.column == col]
        if not rows:
            continue
        body.append(f'<tr class="metric"><th colspan="7">{esc(col.label)} '
                    f'<span class="dir">{esc({"lower": "↓", "higher": "↑"}.get(col.direction or "", ""))}'
                    '</span></th></tr>')
        for c in rows:
            hw = max((s.half_width for s in (c.sa, c.sb) if not math.isnan(s.half_width)), default=None)
            t = c.test
            tcell = f"{t.t:.2f}".replace("-", "−") if t and not math.isnan(t.t) else "—"
            dfcell = f"{t.df:.1f}" if t and not math.isnan(t.df) else "—"
            pcell = _p_cell(t.p) if t else "—"
            holm_cell = _p_cell(c.p_adjusted)
            better = f' <span class="sig">({esc(c.better)} better)</span>' if c.better else ""
            body.append(f'<tr><td>{_variant(report, c.a)} vs {_variant(report, c.b)}</td>'
                        f'<td>{esc(signed(c.diff, hw))}</td><td>{tcell}</td><td>{dfcell}</td><td class="p">{pcell}</td>'
                        f'<td class="p">{holm_cell}</td>'
                        f'<td class="verdict"><span class="{_verdict_class(c)}">{esc(c.verdict)}</span>{better}'
                        '</td></tr>')
    untested = f'<p class="caption">{esc(report.untested)}</p>' if report.untested else ""
    return (f'<section id="comparisons"><h2>Pairwise tests</h2><p class="lead">Difference of means (A − B) '
            'and a plain verdict for every pair of variants with ≥ 2 seeds each, within one protocol.</p>'
            '<div class="scroll"><table class="pairs"><thead><tr><th>A vs B</th><th>mean A − B</th>'
            '<th>Welch t</th><th>df</th><th>p</th><th>Holm p</th><th style="text-align:left">verdict</th></tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table></div>{untested}'
            f'<p class="caption">{esc(tests_caption(report))}</p></section>')


def _p_cell(p: float) -> str:
    return "—" if math.isnan(p) else esc(format_p(p).removeprefix("p = ").replace("p ", ""))


def _cost(report: Report) -> str:
    keys = list(report.costs[0].cells) if report.costs else []
    head = "".join(f"<th>{esc(k)}</th>" for k in keys)
    rows = "".join(f'<tr><th scope="row">{_variant(report, r.variant)}</th>'
                   + "".join(f"<td>{esc(r.cells[k])}</td>" for k in keys) + "</tr>" for r in report.costs)
    caption = ("kimg: thousands of real images shown to the discriminator; G/D steps: optimizer updates "
               "(D:G = discriminator steps per generator step); EMA half-life: the generator EMA's half-life "
               "in effect at the end of training, after the ramp-up (train.ema_rampup), in kimg and in "
               "generator steps; wall-clock and images/s were measured on the machine that trained (mean ± sd "
               "over seeds; "
               "a range in brackets when seeds differ).")
    return (f'<section id="cost"><h2>Training cost</h2><p class="lead">{_inline_md(report.budget)}</p>'
            f'<div class="scroll"><table class="cost"><thead><tr><th>variant</th>{head}</tr></thead>'
            f'<tbody>{rows}</tbody></table></div><p class="caption">{esc(caption)}</p></section>')


def _figure(anchor: str, title: str, png: bytes | None, alt: str, caption: str, missing: str) -> str:
    if png is None:
        return f'<section id="{anchor}"><h2>{esc(title)}</h2><p class="lead">{esc(missing)}</p></section>'
    return (f'<section id="{anchor}"><h2>{esc(title)}</h2><figure><img class="plot" src="{data_uri(png)}" '
            f'alt="{esc(alt)}"><figcaption>{esc(caption)}</figcaption></figure></section>')


def _samples(report: Report) -> str:
    blocks = []
    for v in report.variants:
        figs = []
        for g in (g for g in report.grids if g.variant == v):
            if g.png is None:
                figs.append(f'<figure><figcaption>seed {g.seed}: no grid</figcaption></figure>')
                continue
            cap = f"seed {g.seed}" + (" · one row per class" if g.conditional else "")
            figs.append(f'<figure><img src="{data_uri(g.png)}" alt="{esc(g.key)} samples">'
                        f'<figcaption>{esc(cap)}</figcaption></figure>')
        cols = max(1, min(len(figs), 4))
        blocks.append(f'<div class="variant-grids"><h3>{_variant(report, v)}</h3><div class="grids" '
                      f'style="grid-template-columns:repeat({cols},minmax(0,340px))">'
                      f'{"".join(figs)}</div></div>')
    return ('<section id="samples"><h2>Samples</h2><p class="lead">The sample grid of every run, seeds '
            'side by side (upscaled without smoothing; class-conditional runs have one row per class).</p>'
            f'{"".join(blocks)}</section>')


def _fmt_field(value: Any) -> str:
    if value is None:
        return "—"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _members(report: Report, proto: Protocol) -> str:
    by_variant: dict[str, list[int]] = {}
    keys = set(proto.runs)
    for r in report.runs:
        if r.key in keys:
            by_variant.setdefault(r.variant, []).append(r.id.seed)
    return "; ".join(f"{v} (seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))})" for v, s in by_variant.items())


def differing_fields(report: Report) -> set[tuple[int, str]]:
    """(protocol, field) pairs that differ between protocols of the same metric."""
    out = set()
    for m in report.protocols.mixed(report.metrics):
        protos = [report.protocols.get(n) for n in report.protocols.numbers(m)]
        for f in PROTOCOL_FIELDS:
            if len({_fmt_field(p.fields.get(f)) for p in protos}) > 1:
                out |= {(p.number, f) for p in protos}
    return out


def _value_cell(f: str, value: Any, hot: bool) -> str:
    text = _fmt_field(value)
    shown = text[:12] + "…" if f == "weights_sha256" and len(text) > 16 else text
    cls = ' class="diff"' if hot else ""
    return f'<td{cls} title="{esc(text)}">{esc(shown)}</td>'


def _provenance(report: Report) -> str:
    diff = differing_fields(report)
    protos = report.protocols.protocols
    head = "".join(f'<th id="protocol-{p.number}"><span class="badge">P{p.number}</span></th>' for p in protos)
    all_runs = len(report.runs)
    rows = ['<tr><td class="k">metrics</td>' + "".join(f"<td>{esc(', '.join(p.metrics))}</td>" for p in protos)
            + "</tr>",
            '<tr><td class="k">runs</td>' + "".join(
                f"<td>{esc('all ' + str(all_runs) if len(p.runs) == all_runs else _members(report, p))}</td>"
                for p in protos) + "</tr>"]
    for f in PROTOCOL_FIELDS:
        rows.append(f'<tr><td class="k">{esc(f)}</td>'
                    + "".join(_value_cell(f, p.fields.get(f), (p.number, f) in diff) for p in protos) + "</tr>")
    rows.append('<tr><td class="k">versions</td>' + "".join(
        "<td>" + ("<br>".join(esc(", ".join(f"{k} {v}" for k, v in sorted(ver.items()))) for ver in p.versions)
                  or "—") + "</td>" for p in protos) + "</tr>")
    mixed = report.protocols.mixed(report.metrics)
    intro = ("Scores are comparable only within one protocol (a column here): every field must match. "
             "Each metric's knobs (KID subset size, precision/recall k) belong to its protocol, so one "
             "evaluation usually spans several. "
             + ("Cells in orange differ between protocols of the same metric." if mixed else
                "Each metric was measured with a single protocol."))
    return (f'<section id="provenance"><h2>How the scores were made</h2><p class="lead">{esc(intro)}</p>'
            f'<div class="scroll"><table class="prov"><thead><tr><th>field</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div></section>')


def _method(report: Report) -> str:
    pct = f"{report.options.confidence:.0%}"
    lines = [
        (f"Each cell is the mean over seeds with its {pct} Student-t interval, mean ± t(n−1)·sd/√n, "
         "sd being the sample standard deviation (n − 1 in the denominator). With one seed the "
         "training-seed spread is unknown and no such interval exists."),
        ("With one seed a cell shows the evaluation noise instead: the interval of the score over "
         "bootstrap resamples of the generated samples (the reference fixed), which says nothing of "
         "another training seed."),
        ("Pairwise tests: Welch's t-test, which does not assume equal variances, Holm-adjusted over the "
         "table; ★ only for a variant significantly better than every other after that correction. Scores "
         "made with different protocols are never aggregated or compared together. Metric names carry "
         "their sample count N (fid2k: 2000 generated images)."),
        "This page is self-contained: images are embedded, nothing is loaded from the network.",
    ]
    return '<footer id="method"><div class="wrap">' + "".join(f"<p>{esc(x)}</p>" for x in lines) + "</div></footer>"


def render_html(report: Report) -> str:
    """The whole page as one string."""
    curves_cap = ("The cheap domain metric measured during training, per variant: thin lines are single "
                  "seeds, the thick line their mean at shared steps. Lower is better for distances.")
    losses_cap = ("Objective scalars per generator step, one panel per variant (each objective on its own "
                  "scale): thin lines are single seeds, thick lines their mean.")
    sections: Sequence[str] = [
        _results(report), _comparisons(report), _cost(report),
        _figure("curves", "Training curves", report.curves_png, "training-time metric curves per variant",
                curves_cap, "No training-time curves were recorded (plots/curves/<run>.csv)."),
        _figure("losses", "Losses", report.losses_png, "loss curves per variant", losses_cap,
                "No loss curves were recorded (plots/losses/<run>.csv)."),
        _samples(report), _provenance(report),
    ]
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{esc(report.options.title)}</title><style>{CSS}</style></head><body>"
            f"{_header(report)}{_nav()}<main><div class=\"wrap\">{''.join(sections)}</div></main>"
            f"{_method(report)}</body></html>\n")
