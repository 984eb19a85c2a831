"""Progress bars for long work (training, sampling, feature extraction).

One helper for the whole package: a tqdm bar on stderr, drawn only on an interactive
terminal and never in CI logs (``$CI`` or ``$GANBENCH_NO_PROGRESS`` set)."""

from __future__ import annotations

import os
import sys
from typing import Any


def show_progress() -> bool:
    if os.environ.get("CI") or os.environ.get("GANBENCH_NO_PROGRESS"):
        return False
    return sys.stderr is not None and sys.stderr.isatty()


def progress_bar(total: int, desc: str, unit: str = "img", enabled: bool = True) -> Any:
    """A tqdm bar (``update``, ``set_postfix``, ``close``) that is silent unless
    ``enabled`` and :func:`show_progress` both allow it."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True,
                disable=not (enabled and show_progress()), dynamic_ncols=True, leave=False)
