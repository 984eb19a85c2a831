"""Training-time curves and loss curves as PNG bytes (matplotlib, Agg canvas).

No pyplot and no global state: each figure is a :class:`matplotlib.figure.Figure` on its
own :class:`FigureCanvasAgg`; style settings apply inside an ``rc_context`` only.  PNGs
carry no metadata (no "Software" chunk, no date), so equal inputs give equal bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ganbench.metrics.registry import direction as metric_direction
from ganbench.report.inputs import Row, Run

#: Okabe & Ito's colour-blind-safe palette (yellow left out: unreadable on white).
VARIANT_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000")
#: Paul Tol's "muted" scheme for the series inside one loss panel.
SERIES_COLOURS = ("#332288", "#44AA99", "#AA4499", "#DDCC77", "#88CCEE", "#882255", "#117733", "#999933")
#: Names in a curves/losses file that are an x axis, not a series.
AXIS_NAMES = frozenset({"kimg", "images_seen", "step", "g_step", "epoch", "wall_clock_s"})


@dataclass(frozen=True)
class FigureStyle:
    """Knobs of every figure (sizes in inches at ``dpi``)."""

    dpi: int = 144
    width: float = 9.5
    panel_height: float = 3.1
    max_columns: int = 2
    font_size: float = 9.5
    seed_alpha: float = 0.35
    seed_width: float = 0.9
    mean_width: float = 2.2
    log_ratio: float = 30.0  # log y axis when max/min of a positive panel exceeds this


def variant_colours(variants: Sequence[str]) -> dict[str, str]:
    """variant → colour, stable in the order of ``variants``."""
    return {v: VARIANT_COLOURS[i % len(VARIANT_COLOURS)] for i, v in enumerate(variants)}


def _rc(style: FigureStyle) -> dict[str, object]:
    return {
        "font.family": "DejaVu Sans", "font.size": style.font_size, "axes.titlesize": style.font_size + 1,
        "axes.titleweight": "bold", "axes.labelcolor": "#374151", "axes.edgecolor": "#9ca3af",
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": "#e5e7eb",
        "grid.linewidth": 0.8, "xtick.color": "#4b5563", "ytick.color": "#4b5563", "legend.frameon": False,
        "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
        "path.simplify": True, "svg.hashsalt": "ganbench",
    }


def png_bytes(fig: object, dpi: int) -> bytes:
    """Encode a Figure as PNG without metadata (byte-stable)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})  # type: ignore[attr-defined]
    return buf.getvalue()


def series(rows: Sequence[Row]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name → (steps, values), steps ascending (a step logged twice keeps its last value)."""
    out: dict[str, dict[int, float]] = {}
    for step, name, value in rows:
        out.setdefault(name, {})[step] = value
    return {k: (np.array(sorted(d), dtype=float), np.array([d[s] for s in sorted(d)], dtype=float))
            for k, d in out.items()}


def _x_axis(named: Mapping[str, tuple[np.ndarray, np.ndarray]], steps: np.ndarray, use_kimg: bool) -> np.ndarray:
    """``steps`` mapped to kimg through the file's own kimg series (interpolated)."""
    if not use_kimg:
        return steps
    ks, kv = named["kimg"]
    return np.interp(steps, ks, kv)


def _mean_line(lines: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray] | None:
    """The mean over seeds at the x values every seed shares (None when fewer than two)."""
    if len(lines) < 2:
        return None
    common = set(lines[0][0].tolist())
    for x, _ in lines[1:]:
        common &= set(x.tolist())
    if len(common) < 2:
        return None
    xs = np.array(sorted(common))
    ys = np.mean([np.interp(xs, x, y) for x, y in lines], axis=0)
    return xs, ys


def _grid(n: int, style: FigureStyle) -> tuple[int, int]:
    cols = max(1, min(style.max_columns, n))
    return math.ceil(n / cols), cols


def _new_figure(n_panels: int, style: FigureStyle) -> tuple[object, list[object]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols = _grid(n_panels, style)
    fig = Figure(figsize=(style.width, style.panel_height * rows + 0.7), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _maybe_log(ax: object, values: Sequence[np.ndarray], style: FigureStyle) -> None:
    allv = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if allv.size and allv.min() > 0 and allv.max() / allv.min() > style.log_ratio:
        ax.set_yscale("log")  # type: ignore[attr-defined]


def curves_figure(runs: Sequence[Run], variants: Sequence[str], style: FigureStyle = FigureStyle()) -> bytes | None:
    """One panel per training-time metric (e.g. ``fd_domain2k``), every variant in it: thin
    lines per seed, a thick line for the mean over seeds; x = kimg when every curve file
    has a ``kimg`` series, else the generator step.  None when no run has curves."""
    from matplotlib import rc_context
    from matplotlib.lines import Line2D

    named = {r.key: series(r.curves) for r in runs if r.curves}
    names = list(dict.fromkeys(n for s in named.values() for n in s if n not in AXIS_NAMES))
    if not names:
        return None
    use_kimg = all("kimg" in s for s in named.values())
    colours = variant_colours(variants)
    with rc_context(_rc(style)):
        fig, axes = _new_figure(len(names), style)
        for ax, name in zip(axes, names):
            plotted = []
            for v in variants:
                lines = []
                for r in runs:
                    s = named.get(r.key)
                    if r.variant != v or not s or name not in s:
                        continue
                    steps, vals = s[name]
                    x = _x_axis(s, steps, use_kimg)
                    lines.append((x, vals))
                    plotted.append(vals)
                    ax.plot(x, vals, color=colours[v], lw=style.seed_width, alpha=style.seed_alpha)
                mean = _mean_line(lines) or (lines[0] if len(lines) == 1 else None)
                if mean is not None:
                    ax.plot(*mean, color=colours[v], lw=style.mean_width)
            _maybe_log(ax, plotted, style)
            arrow = {"lower": "↓", "higher": "↑"}.get(metric_direction(name) or "", "")
            ax.set_title(f"{name} {arrow}".strip(), loc="left")
            ax.set_xlabel("kimg (thousands of real images shown to D)" if use_kimg else "generator step")
            ax.set_ylabel(name)
        handles = [Line2D([], [], color=colours[v], lw=style.mean_width, label=v) for v in variants]
        if any(sum(r.variant == v for r in runs if r.key in named) > 1 for v in variants):
            handles += [Line2D([], [], color="#6b7280", lw=style.seed_width, alpha=0.6, label="one seed"),
                        Line2D([], [], color="#6b7280", lw=style.mean_width, label="mean over seeds")]
        fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 7))
        return png_bytes(fig, style.dpi)


def losses_figure(runs: Sequence[Run], variants: Sequence[str], style: FigureStyle = FigureStyle()) -> bytes | None:
    """One panel per variant (its objective's own scale): each loss series in its own
    colour, thin per seed, thick mean over seeds; x = generator step.  None when no run
    has losses."""
    from matplotlib import rc_context
    from matplotlib.lines import Line2D

    shown = [v for v in variants if any(r.variant == v and r.losses for r in runs)]
    if not shown:
        return None
    colours = variant_colours(variants)
    with rc_context(_rc(style)):
        fig, axes = _new_figure(len(shown), style)
        for ax, v in zip(axes, shown):
            per_run = [series(r.losses) for r in runs if r.variant == v and r.losses]
            names = list(dict.fromkeys(n for s in per_run for n in s if n not in AXIS_NAMES))
            handles = []
            for i, name in enumerate(names):
                colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
                lines = [s[name] for s in per_run if name in s]
                for x, y in lines:
                    ax.plot(x, y, color=colour, lw=style.seed_width, alpha=style.seed_alpha)
                mean = _mean_line(lines) or (lines[0] if len(lines) == 1 else None)
                if mean is not None:
                    ax.plot(*mean, color=colour, lw=style.mean_width * 0.75)
                handles.append(Line2D([], [], color=colour, lw=2, label=name))
            ax.set_title(f"{v}  ({len(per_run)} seed{'s' if len(per_run) != 1 else ''})", loc="left",
                         color=colours[v])
            ax.set_xlabel("generator step")
            ax.set_ylabel("loss")
            ax.axhline(0, color="#9ca3af", lw=0.6, zorder=0)
            ax.legend(handles=handles, loc="best", fontsize=style.font_size - 1)
        return png_bytes(fig, style.dpi)
