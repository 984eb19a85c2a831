"""Errors that reach the user as one line naming the problem and the fix."""

from __future__ import annotations


class GanbenchError(Exception):
    """Base class: ``str(err)`` is a complete, user-facing message (problem + fix)."""


class ParamsError(GanbenchError):
    """A params.yaml key is unknown, missing or of the wrong type."""


class DataError(GanbenchError):
    """A dataset is missing, truncated, corrupt or fails its checksum."""


class CheckpointError(GanbenchError):
    """A checkpoint cannot be read or does not match the expected layout."""


class WeightsError(GanbenchError):
    """Feature-extractor weights are missing or have an unknown hash."""


class TrainingDivergedError(GanbenchError):
    """A loss or a weight became NaN or infinite during training."""


class TrainingInterrupted(GanbenchError):
    """Training was stopped by a signal after writing a checkpoint."""


class MetricError(GanbenchError):
    """A metric cannot be computed honestly (non-finite, complex, too few samples)."""
