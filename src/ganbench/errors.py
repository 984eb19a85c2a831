"""Errors that reach the user as one line naming the problem and the fix."""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` with control characters (say a newline inside a misspelt params key)
    written as escapes, so a message always stays on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class GanbenchError(Exception):
    """Base class: ``str(err)`` is a complete, user-facing message (problem + fix), on one
    line whatever the names it quotes contain."""

    def __str__(self) -> str:
        return one_line(super().__str__())


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
