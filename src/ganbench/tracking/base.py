"""The interface the training loop and the stages log through; they never import mlflow."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np


class Tracker(Protocol):
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_image(self, image: np.ndarray, key: str, step: int) -> None: ...

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...


class NullTracker:
    """Accepts everything, keeps nothing (tests, benchmarks, stages without a run)."""

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


class MultiTracker:
    """Fan out to several trackers."""

    def __init__(self, *trackers: Tracker) -> None:
        self.trackers = trackers

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for t in self.trackers:
            t.log_metrics(metrics, step)

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        for t in self.trackers:
            t.log_image(image, key, step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        for t in self.trackers:
            t.log_artifact(path, artifact_path)
