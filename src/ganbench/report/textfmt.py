"""Numbers as people read them: a mean with as many decimals as its interval supports."""

from __future__ import annotations

import math

from ganbench.report.aggregate import Summary


def sig(x: float, digits: int = 4) -> str:
    """``x`` with at most ``digits`` significant digits (trailing zeros dropped), no
    exponent for everyday magnitudes: ``0.96``, ``372.8``, ``4,375``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x == 0:
        return "0"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    mag = math.floor(math.log10(abs(x)))
    if mag < -4 or mag >= 9:
        return f"{x:.{digits - 1}e}"
    decimals = max(0, digits - 1 - mag)
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def decimals_for(half_width: float) -> int:
    """Decimals that show two significant digits of ``half_width``."""
    if not half_width or math.isnan(half_width) or math.isinf(half_width):
        return -1
    return max(0, 1 - math.floor(math.log10(abs(half_width))))


def mean_pm(s: Summary, max_sig: int = 6) -> tuple[str, str]:
    """(``"42.9"``, ``"± 1.3"``): two significant digits of the half-width, the mean to the
    same decimals (at most ``max_sig`` significant digits); ``""`` when n = 1."""
    if s.n < 2:
        return sig(s.mean), ""
    return value_pm(s.mean, s.half_width, max_sig)


def value_pm(value: float, half_width: float, max_sig: int = 6) -> tuple[str, str]:
    """:func:`mean_pm` for any value and half-width (an evaluation-noise interval, say)."""
    if half_width is None or math.isnan(half_width):
        return sig(value), ""
    if half_width == 0:
        return sig(value), "± 0"
    d = decimals_for(half_width)
    if value:
        d = min(d, max(0, max_sig - 1 - math.floor(math.log10(abs(value)))))
    return f"{value:,.{d}f}", f"± {half_width:,.{d}f}"


def signed(x: float, like: float | None = None) -> str:
    """A difference with its sign, decimals matched to ``like`` (a half-width) when known."""
    d = decimals_for(like) if like is not None else -1
    if d >= 0 and x:
        d = min(d, max(0, 5 - math.floor(math.log10(abs(x)))))
    body = f"{abs(x):,.{d}f}" if d >= 0 else sig(abs(x))
    return ("−" if x < 0 else "+") + body if x != 0 else "0"


def duration(seconds: float) -> str:
    """``45 s``, ``12.3 min``, ``2.1 h``."""
    if seconds is None or math.isnan(seconds):
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def count(x: float) -> str:
    """Parameter counts: ``3.58 M``, ``812 k``."""
    if x is None or math.isnan(x):
        return "—"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f} M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.0f} k"
    return f"{x:,.0f}"
