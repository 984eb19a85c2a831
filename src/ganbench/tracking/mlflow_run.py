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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.config.schema import MlflowConfig
from ganbench.io import write_json
from ganbench.tracking.base import NullTracker, Row, Tracker

log = logging.getLogger("ganbench")

#: A metric the training loop logs at every flush: its last step is how far a run was synced.
PROGRESS_KEY = "kimg"
_BATCH = 500  # MLflow's log_batch takes at most 1000 metrics

#: MLflow 3's experiment tag for the kind of work an experiment holds, and its value for
#: classic model training (the UI's ``ExperimentKind.CUSTOM_MODEL_DEVELOPMENT``; the other
#: value, ``genai_development``, opens on traces).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: The runs table of an experiment in MLflow 3's UI. Its GenAI/model-training switch lives
#: in the browser (``localStorage``, GenAI by default), and MLflow 3.17's UI does not read
#: the experiment's kind tag; ``workflowType`` in the link selects model training.
RUNS_PAGE = "#/experiments/{experiment_id}/runs?workflowType=machine_learning"
#: What ``mlflow ui`` serves by default (the page of a sqlite store).
DEFAULT_UI = "http://127.0.0.1:5000"

#: Metric name prefixes: evaluation values (``eval/fid2k``) and the training summary
#: (``train/g_steps``); the training curves (``loss_D``, ``kimg``, the training-time
#: ``fd_domain2k``) and MLflow's ``system/`` metrics keep their names. MLflow's chart view
#: puts prefixed sections first, in name order, then the unprefixed ("Model metrics") and
#: ``system/`` ones: ``eval`` comes first.
EVAL_PREFIX = "eval/"
TRAIN_PREFIX = "train/"
#: Evaluation values whose names follow from params alone (metric → the EvaluateConfig
#: field holding its N): a new run holds them first (see :func:`lead_eval_keys`).
_NAMED_BY_N = {"fid": "num_gen", "kid": "num_gen", "fd_domain": "domain_num_gen", "kid_domain": "domain_num_gen"}
#: The step of those placeholders: below every real step (the stages log at step 0).
PLACEHOLDER_STEP = -1


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
    (for a local store; a tracking server keeps its own artifact root), marked as model
    training (:data:`EXPERIMENT_KIND_TAG`), also when it exists without that mark."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        ensure_experiment_kind(client, exp)
        return exp.experiment_id
    location = None
    if tracking_uri.startswith(("sqlite:", "file:")) or "://" not in tracking_uri:
        location = (main_repo_root(root) / "mlartifacts" / name).resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location,
                                        tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    except Exception:  # created concurrently by another stage
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        ensure_experiment_kind(client, exp)
        return exp.experiment_id


def ensure_experiment_kind(client: Any, experiment: Any) -> None:
    """Mark ``experiment`` as model training unless it already has a kind (one someone
    chose is kept)."""
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)


def runs_page(tracking_uri: str, experiment_id: str) -> str:
    """The address of the experiment's runs table in ``mlflow ui`` (or the tracking
    server's own UI)."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else DEFAULT_UI
    return f"{base}/{RUNS_PAGE.format(experiment_id=experiment_id)}"


def lead_eval_keys(evaluate: Any) -> list[str]:
    """The evaluation values of ``evaluate.metrics`` whose names follow from params
    (``eval/fid2k``, ``eval/fd_domain10k``, …), in that order.

    MLflow lists a run's metrics in the order they were first logged (a SQL store returns
    them so), and its compare view plots the first metric the runs share; a new run logs
    these first, as NaN at :data:`PLACEHOLDER_STEP`, so that they lead instead of the
    system metrics sampled seconds into training. The evaluate stage logs the values at
    step 0."""
    from ganbench.metrics.registry import with_n

    return [EVAL_PREFIX + with_n(name, int(getattr(evaluate, _NAMED_BY_N[name])))
            for name in evaluate.metrics if name in _NAMED_BY_N]


def source_tags(command: str, root: Path) -> dict[str, str]:
    """What MLflow records as a run's source: the command, the source type and, in a git
    repository, the commit (as MLflow does for projects)."""
    tags = {"mlflow.source.name": command, "mlflow.source.type": "LOCAL"}
    commit = git_commit(root)
    if commit != "unknown":
        tags["mlflow.source.git.commit"] = commit
    return tags


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
        #: The pipeline run this run is nested under (set when it is attached to one).
        self.parent_id: str | None = None

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
        """Log the params the run lacks. MLflow refuses to change a logged param, so a
        resumed run keeps the values it was created with (its tags and metrics say how
        far it went)."""
        from mlflow.entities import Param

        existing = self.client.get_run(self.run_id).data.params
        items = [Param(k, _param_str(v)) for k, v in params.items() if k not in existing]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_inputs(self, datasets: Sequence[Any]) -> None:
        """Record ``mlflow.entities.DatasetInput`` s (the run lists each dataset once)."""
        self.client.log_inputs(self.run_id, datasets=list(datasets))

    def has_inputs(self) -> bool:
        inputs = self.client.get_run(self.run_id).inputs
        return bool(inputs is not None and inputs.dataset_inputs)

    def model_steps(self) -> set[int]:
        """The steps at which models were logged as outputs of this run."""
        outputs = self.client.get_run(self.run_id).outputs
        return {int(m.step) for m in (outputs.model_outputs if outputs is not None else [])}

    def log_placeholders(self, keys: Sequence[str]) -> None:
        """NaN at :data:`PLACEHOLDER_STEP` for ``keys``, in that order (see :func:`lead_eval_keys`)."""
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        if keys:
            self.client.log_batch(self.run_id, metrics=[Metric(k, float("nan"), ts, PLACEHOLDER_STEP)
                                                        for k in keys])

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


def start_run(cfg: MlflowConfig, root: Path, run_name: str, tags: Mapping[str, str], command: str = "ganbench",
              first_metrics: Sequence[str] = ()) -> MlflowTracker:
    """Create a new run in ``cfg.experiment`` (the train stage calls this), its source
    the stage ``command``, holding ``first_metrics`` before anything else (NaN
    placeholders, see :func:`lead_eval_keys`)."""
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(cfg, root)
    exp_id = experiment_id(uri, cfg.experiment, root)
    client = MlflowClient(uri)
    all_tags = {"mlflow.runName": run_name, "git_commit": git_commit(root), **source_tags(command, root), **tags}
    run = client.create_run(exp_id, tags=all_tags, run_name=run_name)
    tracker = MlflowTracker(uri, run.info.run_id)
    tracker.log_placeholders(first_metrics)
    return tracker


def find_run(cfg: MlflowConfig, root: Path, run_id: str) -> MlflowTracker | None:
    """The run ``run_id`` in the configured store, or None when the store lacks it."""
    from mlflow.exceptions import MlflowException

    tracker = MlflowTracker(resolve_tracking_uri(cfg, root), run_id)
    try:
        tracker.client.get_run(run_id)
    except MlflowException:
        return None
    return tracker


def run_reference(value: Any) -> dict[str, str] | None:
    """A run reference ``{"run_id", "experiment"}`` read from ``value`` (a run.json's
    content, or a training result's ``mlflow_run``); None when it names no run."""
    if not isinstance(value, Mapping) or value.get("run_id") is None:
        return None
    return {"run_id": str(value["run_id"]), "experiment": str(value.get("experiment", ""))}


def read_run_file(path: Path) -> dict[str, str] | None:
    """``{"run_id", "experiment"}`` from a run.json, or None when missing or unreadable."""
    try:
        return run_reference(json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        return None


def write_run_file(path: Path, run_id: str, experiment: str) -> None:
    write_json(path, {"run_id": run_id, "experiment": experiment})


def open_stage_run(cfg: MlflowConfig, root: Path, run_file: Path, variant: str, stage: str,
                   params: Any = None) -> Tracker:
    """The training run of ``variant`` named by ``run_file`` (the model folder's run.json)
    for a later stage (sample, evaluate): see :func:`open_run`."""
    info = read_run_file(run_file)
    if info is None:
        log.warning("%s is missing or unreadable: %s@%s is not logged to MLflow", run_file, stage, variant)
        return NullTracker()
    return open_run(cfg, root, info, variant, stage, params)


def open_run(cfg: MlflowConfig, root: Path, info: Mapping[str, str] | None, variant: str, stage: str,
             params: Any = None) -> Tracker:
    """The training run ``info`` (``{"run_id", "experiment"}``) of ``variant`` for a later
    stage, tagged with the stage (and, given ``params``, the pipeline); a warning and a
    :class:`NullTracker` when there is none or it cannot be found."""
    if info is None:
        log.warning("no MLflow run is recorded for %s (trained with mlflow.offline): %s@%s is not logged",
                    variant, stage, variant)
        return NullTracker()
    try:
        tracker = find_run(cfg, root, info["run_id"])
    except Exception as exc:  # an unreachable server must not stop a pure stage
        log.warning("MLflow is unreachable (%s): %s@%s is not logged", type(exc).__name__, stage, variant)
        return NullTracker()
    if tracker is None:
        log.warning("MLflow run %s is not in %s, e.g. after `dvc pull` on another machine: %s@%s "
                    "is not logged to MLflow", info["run_id"], resolve_tracking_uri(cfg, root), stage, variant)
        return NullTracker()
    try:
        tracker.set_tags({f"dvc_stage.{stage}": f"{stage}@{variant}"})
        if params is not None:
            from ganbench.tracking.pipeline_run import attach_to_pipeline

            attach_to_pipeline(params, root, tracker)
    except Exception as exc:  # the server went away since: the stage's results are still written
        log.warning("MLflow stopped answering (%s): %s@%s is not logged", type(exc).__name__, stage, variant)
        return NullTracker()
    return tracker
