"""Experiment tracking: the one :class:`~.base.Tracker` interface (the loop and the stages
log through it), the run's persisted scalar :mod:`.history` (and its ``dvc plots`` copy),
and the MLflow run (:mod:`.mlflow_run`, :mod:`.resilient`)."""

from ganbench.tracking.base import NullTracker, Routed, Row, Tracker
from ganbench.tracking.history import History

__all__ = ["History", "NullTracker", "Routed", "Row", "Tracker"]
