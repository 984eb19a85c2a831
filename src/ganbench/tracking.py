"""Experiment tracking: the interface the training loop sees, and its MLflow adapter.

The loop and the stages receive a :class:`Tracker`; they never import mlflow.
``MlflowTracker`` logs into one MLflow run (one run per trained variant, shared by
the train, sample, evaluate and report stages through ``models/<variant>/run.json``);
``NullTracker`` drops everything (tests, benchmarks); ``CsvLossWriter`` and
``MultiTracker`` let a stage send the same scalars to several places.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ganbench.config import MlflowConfig
from ganbench.errors import GanbenchError


class Tracker(Protocol):
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_image(self, image: np.ndarray, key: str, step: int) -> None: ...

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...


class NullTracker:
    """Accepts everything, keeps nothing."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        pass

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
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


class CsvLossWriter(NullTracker):
    """Appends step-indexed scalars to a CSV (for ``dvc plots``). Columns are fixed
    by the first row; the file is rewritten whole on every flush (it stays small)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def resume_from(self, step: int) -> None:
        """Keep the rows an earlier session wrote up to ``step`` (resuming a checkpoint)."""
        if self.path.is_file():
            with self.path.open(newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if step is None:
            return
        self.rows.append({"step": step, **{k: _fmt(v) for k, v in metrics.items()}})
        fields = list(self.rows[0].keys())
        from ganbench.utils import atomic_path

        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


class MlflowTracker:
    """Logs into one existing MLflow run through an explicit client (no global state)."""

    def __init__(self, tracking_uri: str, run_id: str) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.client = MlflowClient(tracking_uri)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        batch = [Metric(k, float(v), ts, step or 0) for k, v in metrics.items()]
        for i in range(0, len(batch), 500):  # MLflow's batch limit is 1000 metrics
            self.client.log_batch(self.run_id, metrics=batch[i : i + 500])

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        self.client.log_image(self.run_id, image, key=key, step=step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _param_str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> None:
        self.client.log_dict(self.run_id, dict(data), artifact_file)

    def system_metrics(self) -> SystemMetrics:
        return SystemMetrics(self)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


def _param_str(v: Any) -> str:
    s = json.dumps(v) if isinstance(v, (list, tuple, dict)) else str(v)
    return s[:6000]


class SystemMetrics:
    """Context manager sampling CPU/memory/disk (and GPU) into the run while training."""

    def __init__(self, tracker: MlflowTracker, interval_s: float = 10.0) -> None:
        self.tracker = tracker
        self.interval_s = interval_s
        self.monitor = None

    def __enter__(self) -> SystemMetrics:
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self.monitor = SystemMetricsMonitor(
                self.tracker.run_id,
                sampling_interval=self.interval_s,
                resume_logging=True,
                tracking_uri=self.tracker.tracking_uri,
            )
            self.monitor.start()
        except Exception:  # psutil missing or monitor failure must not stop training
            self.monitor = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.monitor is not None:
            self.monitor.finish()


# --------------------------------------------------------------------------- runs


def main_repo_root(root: Path) -> Path:
    """The user's repository, also when DVC runs us in a temporary copy.

    ``dvc exp run --temp/--queue`` executes inside ``<repo>/.dvc/tmp/exps/<tmp>/``;
    runs logged relative to that copy would vanish with it."""
    root = Path(root).resolve()
    parts = root.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return root


def resolve_tracking_uri(cfg: MlflowConfig, root: Path, env: Mapping[str, str] | None = None) -> str:
    """params ``mlflow.tracking_uri`` → ``$MLFLOW_TRACKING_URI`` → ``sqlite:///<repo>/mlflow.db``.

    A relative sqlite path is made absolute against the main repository root."""
    env = os.environ if env is None else env
    uri = cfg.tracking_uri or env.get("MLFLOW_TRACKING_URI")
    base = main_repo_root(root)
    if not uri:
        return f"sqlite:///{base / 'mlflow.db'}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        rel = uri[len("sqlite:///") :]
        return f"sqlite:///{(base / rel).resolve()}"
    return uri


def experiment_id(tracking_uri: str, name: str, root: Path) -> str:
    """Get the experiment, creating it once with an artifact location inside the repo."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = (main_repo_root(root) / "mlartifacts" / name).resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # created concurrently by another stage
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def start_run(cfg: MlflowConfig, root: Path, variant: str, tags: Mapping[str, str]) -> MlflowTracker:
    """Create the variant's run (the train stage calls this)."""
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(cfg, root)
    exp_id = experiment_id(uri, cfg.experiment, root)
    client = MlflowClient(uri)
    all_tags = {"mlflow.runName": variant, "variant": variant, "git_commit": git_commit(root), **tags}
    run = client.create_run(exp_id, tags=all_tags, run_name=variant)
    return MlflowTracker(uri, run.info.run_id)


def write_run_file(path: Path, tracker: MlflowTracker, experiment: str) -> None:
    from ganbench.utils import write_json

    write_json(path, {"run_id": tracker.run_id, "tracking_uri": tracker.tracking_uri,
                      "experiment": experiment})


def open_run(cfg: MlflowConfig, root: Path, run_file: Path, variant: str, stage: str) -> MlflowTracker:
    """Reopen the run the train stage recorded in ``run_file`` (sample/evaluate/report)."""
    from mlflow.exceptions import MlflowException

    try:
        info = json.loads(Path(run_file).read_text())
        run_id = info["run_id"]
    except (OSError, ValueError, KeyError):
        raise GanbenchError(f"{run_file} is missing or unreadable; re-run training "
                            f"(`dvc repro -f train@{variant}`)") from None
    uri = resolve_tracking_uri(cfg, root)
    tracker = MlflowTracker(uri, run_id)
    try:
        tracker.client.get_run(run_id)
    except MlflowException:
        raise GanbenchError(f"MLflow run {run_id} from {run_file} is not in {uri}; the tracking "
                            f"store was moved or deleted: re-run training (`dvc repro -f train@{variant}`) "
                            "or set mlflow.tracking_uri back") from None
    tracker.set_tags({f"dvc_stage.{stage}": f"{stage}@{variant}"})
    return tracker


def log_artifacts(tracker: Tracker, paths: Sequence[Path], artifact_path: str | None = None) -> None:
    for p in paths:
        if Path(p).exists():
            tracker.log_artifact(Path(p), artifact_path)
