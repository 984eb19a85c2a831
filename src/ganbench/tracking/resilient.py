"""The training run's MLflow side, made to survive a tracking server that goes away.

Scalars never need buffering here: they live in the run's persisted history and
:meth:`MlflowTracker.sync` sends whatever the server lacks, so a failed sync is simply
retried at the next checkpoint. Progress grids are kept in memory until they are sent;
any still unsent at the end are written as PNG files into ``unsynced/`` beside the
checkpoint and sent by the next session. The generator model is retried at each sync
and, when it never got through, logged by the next session (which logs it whenever the
run lacks the model of its last step). One warning is printed per outage.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ganbench.tracking.base import Row
from ganbench.tracking.mlflow_run import MlflowTracker

log = logging.getLogger("ganbench")
_PNG = re.compile(r"^(?P<key>[A-Za-z0-9_.-]+)@(?P<step>\d+)\.png$")


class ResilientRun:
    """A :class:`~ganbench.tracking.base.Tracker` over an MLflow run that keeps training
    going when the server is unreachable and sends what it missed once it is back.

    Grids and the generator model outlive the session (see :meth:`close`); any other
    record (scalars, files, dicts, tags) is sent at once or, while the server is down,
    at the next sync that gets through."""

    def __init__(self, tracker: MlflowTracker, unsynced_dir: Path) -> None:
        self.tracker = tracker
        self.run_id = tracker.run_id
        self.unsynced_dir = Path(unsynced_dir)
        self.pending: list[tuple[np.ndarray, str, int]] = []
        #: The model logging not done yet (see :meth:`log_model`).
        self.pending_model: Callable[[], object] | None = None
        #: Other records not sent yet, in the order they were made.
        self.pending_calls: list[Callable[[], object]] = []
        self.down = False
        self._load_unsynced()

    def _load_unsynced(self) -> None:
        if not self.unsynced_dir.is_dir():
            return
        from PIL import Image

        for path in sorted(self.unsynced_dir.glob("*.png")):
            m = _PNG.match(path.name)
            if m:
                self.pending.append((np.asarray(Image.open(path)), m["key"], int(m["step"])))

    def _failed(self, what: str, exc: Exception) -> None:
        if not self.down:
            log.warning("MLflow is unreachable (%s while %s); training goes on, the history stays in "
                        "the model folder and is sent when the server answers again",
                        type(exc).__name__, what)
        self.down = True

    def _recovered(self) -> None:
        if self.down:
            log.info("MLflow is reachable again; the missed metrics and grids were sent")
        self.down = False

    def _send_images(self) -> None:
        while self.pending:
            image, key, step = self.pending[0]
            self.tracker.log_image(image, key, step)
            self.pending.pop(0)
        if self.unsynced_dir.is_dir():
            for path in self.unsynced_dir.glob("*.png"):
                path.unlink()
            self.unsynced_dir.rmdir()

    def _send_calls(self) -> None:
        while self.pending_calls:
            self.pending_calls[0]()
            self.pending_calls.pop(0)

    def _call(self, what: str, send: Callable[[], object]) -> None:
        self.pending_calls.append(send)
        if not self.down:
            try:
                self._send_calls()
            except Exception as exc:  # any client/connection failure: keep going
                self._failed(what, exc)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        metrics = dict(metrics)
        self._call("logging metrics", lambda: self.tracker.log_metrics(metrics, step))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._call("logging a file", lambda: self.tracker.log_artifact(path, artifact_path))

    def log_dict(self, data: Mapping[str, object], artifact_file: str) -> None:
        data = dict(data)
        self._call("logging a dict", lambda: self.tracker.log_dict(data, artifact_file))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        tags = dict(tags)
        self._call("setting tags", lambda: self.tracker.set_tags(tags))

    def _send_model(self) -> None:
        if self.pending_model is not None:
            self.pending_model()
            self.pending_model = None

    def log_model(self, send: Callable[[], object]) -> None:
        """Call ``send`` (it logs the generator model) now, or after the server answers
        again; a failure never reaches training."""
        self.pending_model = send
        if not self.down:
            try:
                self._send_model()
            except Exception as exc:  # any client/connection/serialisation failure: keep going
                self._failed("logging the generator model", exc)

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        self.pending.append((image, key, step))
        if not self.down:
            try:
                self._send_images()
            except Exception as exc:  # any client/connection failure: keep training
                self._failed("logging a grid", exc)

    def sync(self, rows: Sequence[Row]) -> int:
        try:
            sent = self.tracker.sync(rows)
            self._send_calls()
            self._send_images()
            self._send_model()
        except Exception as exc:  # any client/connection failure: retried at the next checkpoint
            self._failed("sending metrics", exc)
            return 0
        self._recovered()
        return sent

    def close(self, rows: Sequence[Row]) -> bool:
        """A last sync; grids still unsent go to ``unsynced/`` as PNG files. Returns
        whether the run holds everything."""
        self.sync(rows)
        if not self.down and not self.pending and self.pending_model is None and not self.pending_calls:
            return True
        from PIL import Image

        if self.pending:
            self.unsynced_dir.mkdir(parents=True, exist_ok=True)
        for image, key, step in self.pending:
            Image.fromarray(image).save(self.unsynced_dir / f"{key}@{step}.png")
        model = " and the generator model" if self.pending_model is not None else ""
        log.warning("MLflow run %s lacks the metrics after its last sync, %d grids%s; they are kept in "
                    "%s and sent by the next `ganbench train` of this run (e.g. `dvc repro -f -s "
                    "train@<variant>-<seed>`)", self.run_id, len(self.pending), model, self.unsynced_dir.parent)
        if self.pending_calls:
            log.warning("MLflow run %s also lacks %d other records (tags, files) made while the server was "
                        "down; they are not kept", self.run_id, len(self.pending_calls))
        return False
