"""A run's step-indexed scalars, kept beside its checkpoint and mirrored for ``dvc plots``.

The history is the record that survives anything: it lives in the persisted model
folder (``models/<variant>/history.csv``), is written right before each checkpoint, and
on resume is cut back to the checkpoint's step, so it never holds a step twice.  The
MLflow run is filled from it (:meth:`MlflowTracker.sync`), and the DVC plots file is a
copy of its loss series.

File format (both files): long CSV ``step,name,value``, one row per scalar, rows in
logging order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path

from ganbench.io import SERIES_COLUMNS, read_series_csv, series_errors, write_text
from ganbench.tracking.base import NullTracker, Row

FIELDS = SERIES_COLUMNS


class History(NullTracker):
    """Buffered, append-only scalar history: a :class:`~ganbench.tracking.base.Tracker`
    that keeps the scalars and nothing else."""

    def __init__(self, path: Path, rows: Iterable[Row] = ()) -> None:
        self.path = Path(path)
        self.rows: list[Row] = list(rows)
        self._committed = len(self.rows)

    @classmethod
    def resume(cls, path: Path, step: int) -> History:
        """The history at ``path`` cut back to rows of steps ≤ ``step`` (a missing file is
        an empty history)."""
        return cls(path, [r for r in read_rows(path) if r[0] <= step])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if step is None:
            raise ValueError("history rows need a step")
        self.rows.extend((int(step), str(k), float(v)) for k, v in metrics.items())

    def commit(self) -> None:
        """Write every row to :attr:`path` (atomically)."""
        write_text(self.path, format_rows(self.rows))
        self._committed = len(self.rows)

    @property
    def committed_rows(self) -> list[Row]:
        """The rows on disk: those a resumed session will have (never more)."""
        return self.rows[: self._committed]

    def export(self, path: Path, exclude: Iterable[str] = (), include: Iterable[str] | None = None,
               kimg_column: bool = False) -> None:
        """Write rows to ``path`` (a plots file): those named in ``include`` (all when
        None) and not in ``exclude``. ``kimg_column`` adds the ``kimg`` logged at each
        row's step as a column (``step,kimg,name,value``), so curves can be drawn against
        images seen."""
        skip = set(exclude)
        keep = None if include is None else set(include)
        rows = [r for r in self.rows if r[1] not in skip and (keep is None or r[1] in keep)]
        if not kimg_column:
            write_text(path, format_rows(rows))
            return
        kimg = {step: value for step, name, value in self.rows if name == "kimg"}
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("step", "kimg", *FIELDS[1:]))
        for step, name, value in rows:
            writer.writerow((step, f"{kimg.get(step, float('nan')):.6g}", name, f"{value:.6g}"))
        write_text(path, buf.getvalue())

    def names(self) -> list[str]:
        return sorted({r[1] for r in self.rows})

    def rows_after(self, step: int) -> list[Row]:
        return [r for r in self.rows if r[0] > step]

    @property
    def last_step(self) -> int:
        return max((r[0] for r in self.rows), default=0)


def format_rows(rows: Iterable[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIELDS)
    for step, name, value in rows:
        writer.writerow((step, name, f"{value:.6g}"))
    return buf.getvalue()


def read_rows(path: Path) -> list[Row]:
    fix = "delete the model folder and re-run training"
    rows = read_series_csv(path, fix, exact=True)
    with series_errors(path, fix):
        return [(int(r["step"]), r["name"], float(r["value"])) for r in rows]


def wide(rows: Iterable[Row]) -> dict[str, list[tuple[int, float]]]:
    """name → [(step, value), …] (for reports)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for step, name, value in rows:
        out.setdefault(name, []).append((step, value))
    return out
