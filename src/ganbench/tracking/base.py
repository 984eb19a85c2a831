"""The one interface every record of a run goes through: the training loop, the train
stage and the later stages log to a :class:`Tracker` and never import mlflow.

Implementations: :class:`NullTracker` (keeps nothing: no MLflow run, a non-main rank,
tests), :class:`~ganbench.tracking.history.History` (the run's scalars on disk),
:class:`~ganbench.tracking.mlflow_run.MlflowTracker` (one MLflow run),
:class:`~ganbench.tracking.resilient.ResilientRun` (an MLflow run that survives an
outage) and :class:`Routed` (scalars to one tracker, the rest to another).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

#: One scalar of a run's history: (generator step, name, value).
Row = tuple[int, str, float]


@runtime_checkable
class Tracker(Protocol):
    """Where a run's scalars, grids, files and tags go.

    ``run_id`` names the run that keeps them (None when nothing is kept anywhere a later
    session could find). ``sync`` sends the history rows the run lacks (rows of steps it
    already holds are skipped) and returns how many scalars were sent."""

    run_id: str | None

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_image(self, image: np.ndarray, key: str, step: int) -> None: ...

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...

    def log_dict(self, data: Mapping[str, object], artifact_file: str) -> None: ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    def sync(self, rows: Sequence[Row]) -> int: ...


class NullTracker:
    """Accepts everything, keeps nothing (no MLflow run, a non-main rank, tests)."""

    run_id: str | None = None

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        pass

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        pass

    def log_dict(self, data: Mapping[str, object], artifact_file: str) -> None:
        pass

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def sync(self, rows: Sequence[Row]) -> int:
        return 0


class Routed:
    """Scalars to ``scalars``, everything else to ``rest``: the training loop's tracker,
    whose scalars go into the run's history on disk and reach the MLflow run (``rest``)
    through :meth:`Tracker.sync` at each checkpoint, while grids go to the run at once."""

    def __init__(self, scalars: Tracker, rest: Tracker) -> None:
        self.scalars = scalars
        self.rest = rest

    @property
    def run_id(self) -> str | None:
        return self.rest.run_id

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.scalars.log_metrics(metrics, step)

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        self.rest.log_image(image, key, step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.rest.log_artifact(path, artifact_path)

    def log_dict(self, data: Mapping[str, object], artifact_file: str) -> None:
        self.rest.log_dict(data, artifact_file)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.rest.set_tags(tags)

    def sync(self, rows: Sequence[Row]) -> int:
        return self.rest.sync(rows)
