"""Experiment tracking: the :class:`~.base.Tracker` interface the loop sees, the run's
persisted scalar :mod:`.history` (and its ``dvc plots`` copy), and the MLflow run
(:mod:`.mlflow_run`)."""

from ganbench.tracking.base import MultiTracker, NullTracker, Tracker
from ganbench.tracking.history import History

__all__ = ["History", "MultiTracker", "NullTracker", "Tracker"]
