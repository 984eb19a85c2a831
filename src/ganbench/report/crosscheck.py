"""Cross-check: the numbers in the DVC metrics files against the MLflow runs.

Each run's ``models/<key>/run.json`` names its MLflow run.  Every number of
``metrics/eval/<key>.json`` must be in that run under ``eval/<name>`` (``eval/fid2k``,
``eval/kid2k_std``, …) and every number of ``metrics/train/<key>.json`` under
``train/<name>``, with the same value.  The stages log their results at step 0 (a new run
holds NaN placeholders of some evaluation names at step -1, which never count); the
value compared is the run's latest, or, when that differs, the latest logged at step 0.
A disagreement is an error; a run the store lacks (say after ``dvc pull`` on another
machine) or an unreachable store is a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ganbench.errors import GanbenchError
from ganbench.report.inputs import Run, is_number
from ganbench.tracking.mlflow_run import EVAL_PREFIX, TRAIN_PREFIX, run_reference

#: Numbers in the metrics files that identify a run rather than measure it.
NOT_LOGGED = frozenset({"seed"})


class MlflowMismatchError(GanbenchError):
    """A metrics file and its MLflow run disagree on a number."""

    def __init__(self, message: str, mismatches: Sequence[Mismatch]) -> None:
        super().__init__(message)
        self.mismatches = list(mismatches)


@dataclass(frozen=True)
class CrossCheckOptions:
    """Tolerances, and whether a number missing from an existing run fails or warns.

    Missing warns by default: when a retrained model samples byte-identical images, DVC
    skips its evaluate stage, and the new MLflow run never receives the (still valid)
    evaluation metrics."""

    rel_tol: float = 1e-6
    abs_tol: float = 1e-12
    missing_metric: Literal["fail", "warn"] = "warn"


@dataclass(frozen=True)
class Expected:
    """One number the run must hold: its MLflow name, value and the file it came from."""

    name: str
    value: float
    source: Path
    stage: str


@dataclass(frozen=True)
class Mismatch:
    key: str
    run_id: str
    expected: Expected
    logged: float | None  # None: not in the run

    def line(self) -> str:
        e = self.expected
        if self.logged is None:
            return (f"MLflow run {self.run_id} ({self.key}) lacks {e.name}: {e.source} has {e.name} = "
                    f"{e.value!r}; re-run `dvc repro {e.stage}` so the run logs it")
        return (f"MLflow run {self.run_id} ({self.key}) disagrees on {e.name}: {e.value!r} in {e.source}, "
                f"{self.logged!r} in MLflow; re-run `dvc repro {e.stage}` so both come from one run")


@dataclass
class CrossCheckResult:
    """Which runs were checked, every mismatch, and the warnings (runs not found)."""

    checked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def raise_for_mismatch(self) -> None:
        """Raise :class:`MlflowMismatchError` (one line) when anything disagreed."""
        if not self.mismatches:
            return
        first = self.mismatches[0].line()
        more = len(self.mismatches) - 1
        if more:
            others = ", ".join(f"{m.key}:{m.expected.name}" for m in self.mismatches[1:6])
            first += f" (and {more} more: {others}{', …' if more > 5 else ''})"
        raise MlflowMismatchError(first, self.mismatches)


def expected_metrics(run: Run) -> list[Expected]:
    """Every number the MLflow run of ``run`` must hold (eval under ``eval/<name>``, train
    under ``train/<name>``); identity numbers (``seed``) and booleans are not logged."""
    out = []
    files = run.files
    for name, value in run.eval.items():
        if name not in NOT_LOGGED and is_number(value):
            out.append(Expected(EVAL_PREFIX + name, float(value), files.get("eval", Path(f"{run.key}.json")),
                                f"evaluate@{run.key}"))
    for name, value in run.train.items():
        if name not in NOT_LOGGED and is_number(value):
            out.append(Expected(TRAIN_PREFIX + name, float(value), files.get("train", Path(f"{run.key}.json")),
                                f"train@{run.key}"))
    return out


def same(a: float, b: float, options: CrossCheckOptions) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=options.rel_tol, abs_tol=options.abs_tol)


def compare_metrics(key: str, run_id: str, expected: Sequence[Expected], logged: Mapping[str, float],
                    options: CrossCheckOptions = CrossCheckOptions(),
                    stage_value: Callable[[str], float | None] | None = None) -> tuple[list[Mismatch], list[str]]:
    """(mismatches, names missing from the run that only warn) — pure but for
    ``stage_value(name)``, asked only when the latest value differs: the value a stage
    logged at step 0, None when no stage logged one (then the name is missing)."""
    mismatches, missing = [], []
    for e in expected:
        value: float | None = float(logged[e.name]) if e.name in logged else None
        if value is not None and not same(e.value, value, options) and stage_value is not None:
            value = stage_value(e.name)  # None: only a training curve of that name, no stage value
        if value is None:
            if options.missing_metric == "fail":
                mismatches.append(Mismatch(key, run_id, e, None))
            else:
                missing.append(e.name)
        elif not same(e.value, value, options):
            mismatches.append(Mismatch(key, run_id, e, value))
    return mismatches, missing


def step_zero_value(client: Any, run_id: str, name: str) -> float | None:
    """The latest value of ``name`` logged at step 0 (where the stages log), or None."""
    history = [m for m in client.get_metric_history(run_id, name) if m.step == 0]
    return float(max(history, key=lambda m: m.timestamp).value) if history else None


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def mlflow_run(run: Run) -> dict[str, str] | None:
    """The MLflow run that holds ``run``'s record, as its training result names it
    (``mlflow_run``: ``{"run_id", "experiment"}``); None when it names none (trained with
    ``mlflow.offline``)."""
    return run_reference(run.train.get("mlflow_run"))


def cross_check(runs: Sequence[Run], tracking_uri: str,
                options: CrossCheckOptions = CrossCheckOptions()) -> CrossCheckResult:
    """Check every run against the MLflow run its training result names."""
    result = CrossCheckResult()
    db = _sqlite_path(tracking_uri)
    if db is not None and not db.is_file():
        result.skipped = [r.key for r in runs]
        result.warnings.append(f"MLflow store {tracking_uri} does not exist (e.g. after `dvc pull` on another "
                               "machine): the report's numbers were not cross-checked against MLflow")
        return result
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from ganbench.tracking.mlflow_run import check_reachable

    why = check_reachable(tracking_uri)  # a server that does not answer: no minutes of retries
    if why is not None:
        result.skipped = [r.key for r in runs]
        result.warnings.append(f"MLflow at {tracking_uri} did not answer ({why}): the report's numbers were "
                               "not cross-checked")
        return result
    client = MlflowClient(tracking_uri)
    for run in runs:
        ref = mlflow_run(run)
        if ref is None:
            result.skipped.append(run.key)
            result.warnings.append(f"the training result of {run.key} names no MLflow run (trained with "
                                   "mlflow.offline): it was not cross-checked against MLflow")
            continue
        run_id = ref["run_id"]
        try:
            logged = client.get_run(run_id).data.metrics
        except Exception as exc:  # noqa: BLE001 (any store failure is a warning, see below)
            if isinstance(exc, MlflowException) and exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                result.skipped.append(run.key)
                result.warnings.append(f"MLflow run {run_id} ({run.key}) is not in {tracking_uri}, e.g. after "
                                       "`dvc pull` on another machine: it was not cross-checked")
                continue
            # an unreachable or broken store is not the report's failure: stop asking it
            result.skipped += [r.key for r in runs if r.key not in result.checked + result.skipped]
            result.warnings.append(f"MLflow at {tracking_uri} did not answer ({type(exc).__name__}): "
                                   f"{', '.join(result.skipped)} not cross-checked")
            return result
        mismatches, missing = compare_metrics(run.key, run_id, expected_metrics(run), logged, options,
                                              lambda name, rid=run_id: step_zero_value(client, rid, name))
        result.mismatches += mismatches
        if missing:
            names = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
            result.warnings.append(f"MLflow run {run_id} ({run.key}) lacks {names} of its metrics files (a "
                                   "stage DVC skipped, e.g. evaluate after a retrain gave identical samples)")
        result.checked.append(run.key)
    return result
