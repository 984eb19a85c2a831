"""MLflow: one run per trained model, shared by its train, sample, evaluate and report stages.

The train stage creates the run (or continues it when it resumes a checkpoint) and
records its id in ``models/<variant>/run.json`` (``{"run_id", "experiment"}``: no
machine paths, it is a DVC output).  The other stages reopen it to add their results;
when it cannot be found (say after ``dvc pull`` on another machine) they warn and go on,
because tracking never gates a pure stage.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.config.schema import MlflowConfig
from ganbench.io import write_json
from ganbench.tracking.base import NullTracker, Tracker
from ganbench.tracking.history import Row

log = logging.getLogger("ganbench")

#: A metric the training loop logs at every flush: its last step is how far a run was synced.
PROGRESS_KEY = "kimg"
_BATCH = 500  # MLflow's log_batch takes at most 1000 metrics


def main_repo_root(root: Path) -> Path:
    """The user's repository, also when DVC runs us in a temporary copy.

    ``dvc exp run --temp/--queue`` executes inside ``<repo>/.dvc/tmp/exps/<tmp>/``;
    runs logged relative to that copy would vanish with it."""
    root = Path(root).resolve()
    parts = root.parts
    for i in range(len(parts) - 2):
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
    """Get the experiment, creating it once with an artifact location inside the repo
    (for a local store; a tracking server keeps its own artifact root)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if tracking_uri.startswith(("sqlite:", "file:")) or "://" not in tracking_uri:
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


class MlflowTracker:
    """Logs into one existing MLflow run through an explicit client (no global state)."""

    def __init__(self, tracking_uri: str, run_id: str) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.client = MlflowClient(tracking_uri)
        self._synced_step: int | None = None

    # Tracker protocol ----------------------------------------------------------------

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        batch = [Metric(k, float(v), ts, step or 0) for k, v in metrics.items()]
        for i in range(0, len(batch), _BATCH):
            self.client.log_batch(self.run_id, metrics=batch[i : i + _BATCH])

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        self.client.log_image(self.run_id, image, key=key, step=step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    # Run bookkeeping -------------------------------------------------------------------

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(self.run_id).data.params
        items = [Param(k, _param_str(v)) for k, v in params.items() if k not in existing]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> None:
        self.client.log_dict(self.run_id, dict(data), artifact_file)

    def set_running(self) -> None:
        from mlflow.entities import RunStatus

        self.client.update_run(self.run_id, status=RunStatus.to_string(RunStatus.RUNNING))

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)

    def system_metrics(self) -> SystemMetrics:
        return SystemMetrics(self)

    # History replay ----------------------------------------------------------------------

    def synced_step(self) -> int:
        """The last step this run holds metrics for (0 when none)."""
        if self._synced_step is None:
            history = self.client.get_metric_history(self.run_id, PROGRESS_KEY)
            self._synced_step = max((m.step for m in history), default=0)
        return self._synced_step

    def sync(self, rows: Iterable[Row]) -> int:
        """Log the history rows of steps after :meth:`synced_step`, in step order; returns
        how many metrics were sent. Rows at or before it are already in the run."""
        from mlflow.entities import Metric

        done = self.synced_step()
        ts = int(time.time() * 1000)
        pending = [Metric(name, value, ts, step) for step, name, value in rows if step > done]
        for i in range(0, len(pending), _BATCH):
            self.client.log_batch(self.run_id, metrics=pending[i : i + _BATCH])
        if pending:
            self._synced_step = max(m.step for m in pending)
        return len(pending)


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
        except Exception as exc:  # psutil missing or monitor failure must not stop training
            log.warning("system metrics are not recorded (%s)", type(exc).__name__)
            self.monitor = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.monitor is not None:
            self.monitor.finish()


# --------------------------------------------------------------------------- runs


def check_reachable(uri: str, timeout: float = 5.0) -> str | None:
    """None when the tracking store at ``uri`` answers, else why not. Local stores
    (sqlite, file) always answer; a server is asked for its ``/health``."""
    if not uri.startswith(("http://", "https://")):
        return None
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc)) or type(exc).__name__


def quick_failures(uri: str) -> None:
    """Make the MLflow client give up on an unreachable server in seconds rather than
    minutes of retries (training must not stall on logging); the caller's own settings win."""
    if uri.startswith(("http://", "https://")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def start_run(cfg: MlflowConfig, root: Path, run_name: str, tags: Mapping[str, str]) -> MlflowTracker:
    """Create a new run in ``cfg.experiment`` (the train stage calls this)."""
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(cfg, root)
    exp_id = experiment_id(uri, cfg.experiment, root)
    client = MlflowClient(uri)
    all_tags = {"mlflow.runName": run_name, "git_commit": git_commit(root), **tags}
    run = client.create_run(exp_id, tags=all_tags, run_name=run_name)
    return MlflowTracker(uri, run.info.run_id)


def find_run(cfg: MlflowConfig, root: Path, run_id: str) -> MlflowTracker | None:
    """The run ``run_id`` in the configured store, or None when the store lacks it."""
    from mlflow.exceptions import MlflowException

    tracker = MlflowTracker(resolve_tracking_uri(cfg, root), run_id)
    try:
        tracker.client.get_run(run_id)
    except MlflowException:
        return None
    return tracker


def read_run_file(path: Path) -> dict[str, str] | None:
    """``{"run_id", "experiment"}`` from a run.json, or None when missing or unreadable."""
    try:
        info = json.loads(Path(path).read_text())
        return {"run_id": str(info["run_id"]), "experiment": str(info.get("experiment", ""))}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_run_file(path: Path, run_id: str, experiment: str) -> None:
    write_json(path, {"run_id": run_id, "experiment": experiment})


def pipeline_key(params: Any) -> str:
    """A short hash of every result-defining params section: the runs one ``dvc repro``
    of these params trains, samples and evaluates share it."""
    import hashlib

    from ganbench.config.coerce import to_dict

    defining = {k: to_dict(getattr(params, k)) for k in
                ("data", "variants", "seeds", "train", "sample", "evaluate", "classifier")}
    defining["models"] = {k: v for k, v in sorted(params.sections.items()) if k in params.variants}
    blob = json.dumps(defining, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def pipeline_tags(params: Any, root: Path, run: MlflowTracker) -> dict[str, str]:
    """Tags that group a pipeline run's MLflow runs: ``ganbench.pipeline`` (the params
    hash, plus ``dvc_exp`` inside ``dvc exp run``) and ``mlflow.parentRunId``, a parent
    run per pipeline so ``mlflow ui`` nests every variant and seed under it."""
    key = pipeline_key(params)
    client = run.client
    exp_id = client.get_run(run.run_id).info.experiment_id
    parents = client.search_runs([exp_id], filter_string=f"tags.`ganbench.pipeline_parent` = '{key}'",
                                 max_results=1)
    if parents:
        parent_id = parents[0].info.run_id
    else:
        parent = client.create_run(exp_id, run_name=f"pipeline {key}",
                                   tags={"ganbench.pipeline_parent": key, "ganbench.pipeline": key,
                                         "git_commit": git_commit(root)})
        client.set_terminated(parent.info.run_id, "FINISHED")
        parent_id = parent.info.run_id
    tags = {"ganbench.pipeline": key, "mlflow.parentRunId": parent_id}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp"] = os.environ["DVC_EXP_NAME"]
    return tags


def open_stage_run(cfg: MlflowConfig, root: Path, run_file: Path, variant: str, stage: str,
                   params: Any = None) -> Tracker:
    """The training run of ``variant`` for a later stage (sample/evaluate/report), tagged
    with the stage (and, given ``params``, the pipeline); a warning and a
    :class:`NullTracker` when it cannot be found."""
    info = read_run_file(run_file)
    if info is None:
        log.warning("%s is missing or unreadable: %s@%s is not logged to MLflow", run_file, stage, variant)
        return NullTracker()
    try:
        tracker = find_run(cfg, root, info["run_id"])
    except Exception as exc:  # an unreachable server must not stop a pure stage
        log.warning("MLflow is unreachable (%s): %s@%s is not logged", type(exc).__name__, stage, variant)
        return NullTracker()
    if tracker is None:
        log.warning("MLflow run %s (from %s) is not in %s, e.g. after `dvc pull` on another "
                    "machine: %s@%s is not logged to MLflow", info["run_id"], run_file,
                    resolve_tracking_uri(cfg, root), stage, variant)
        return NullTracker()
    tags = {f"dvc_stage.{stage}": f"{stage}@{variant}"}
    if params is not None:
        tags.update(pipeline_tags(params, root, tracker))
    tracker.set_tags(tags)
    return tracker
