"""MLflow URI resolution (absolute, survives `dvc exp run --temp`), the persisted history
and its replay into a run, and the one tracker interface every record keeper implements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ganbench.config import MlflowConfig
from ganbench.errors import DataError
from ganbench.tracking.history import History, read_rows, wide
from ganbench.tracking.mlflow_run import (
    MlflowTracker,
    main_repo_root,
    open_stage_run,
    read_run_file,
    resolve_tracking_uri,
    start_run,
    write_run_file,
)
from ganbench.tracking.base import NullTracker


def test_default_uri_is_absolute_sqlite_in_repo(tmp_path):
    uri = resolve_tracking_uri(MlflowConfig(), tmp_path, env={})
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_temp_experiment_copy_logs_to_the_main_repo(tmp_path):
    temp_copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc123"
    temp_copy.mkdir(parents=True)
    assert main_repo_root(temp_copy) == tmp_path.resolve()
    assert resolve_tracking_uri(MlflowConfig(), temp_copy, env={}) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_uri_precedence(tmp_path):
    env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}
    assert resolve_tracking_uri(MlflowConfig(), tmp_path, env=env) == "http://127.0.0.1:5000"
    cfg = MlflowConfig(tracking_uri="sqlite:///runs/m.db")
    assert resolve_tracking_uri(cfg, tmp_path, env=env) == f"sqlite:///{tmp_path.resolve()}/runs/m.db"


def test_history_commit_resume_and_export(tmp_path):
    path = tmp_path / "models" / "history.csv"
    h = History(path)
    for step in (10, 20, 30):
        h.log_metrics({"loss_D": 1.0 / step, "kimg": step / 100}, step=step)
    assert not path.exists()  # buffered until the checkpoint commits it
    h.commit()
    assert read_rows(path)[:2] == [(10, "loss_D", 0.1), (10, "kimg", 0.1)]
    resumed = History.resume(path, 20)
    assert resumed.last_step == 20
    resumed.log_metrics({"loss_D": 0.5, "kimg": 0.25}, step=25)
    resumed.commit()
    assert [r[0] for r in read_rows(path)] == [10, 10, 20, 20, 25, 25]
    resumed.export(tmp_path / "plots" / "d.csv", exclude=("kimg",))
    assert (tmp_path / "plots" / "d.csv").read_text().splitlines() == [
        "step,name,value", "10,loss_D,0.1", "20,loss_D,0.05", "25,loss_D,0.5"]
    assert wide(resumed.rows)["kimg"] == [(10, 0.1), (20, 0.2), (25, 0.25)]
    assert not list(path.parent.glob(".*.tmp"))
    path.write_text("step,loss\n1,2\n")
    with pytest.raises(DataError, match="history.*unreadable.*expected step,name,value.*re-run training"):
        History.resume(path, 5)
    path.write_text("step,name,value\n1,loss_D,not-a-number\n")
    with pytest.raises(DataError, match="history.*unreadable.*re-run training"):
        History.resume(path, 5)


def test_history_and_report_read_series_through_one_reader(tmp_path):
    """The model history (exact columns) and the plot CSVs the report reads (step,kimg,name,
    value) go through ganbench.io.read_series_csv: the same errors, naming the file."""
    from ganbench.report.inputs import read_series

    plot = tmp_path / "curves.csv"
    plot.write_text("step,kimg,name,value\n10,0.5,fd_domain,3.5\n10,0.5,fid,7\n20,1.0,fd_domain,2\n")
    assert read_series(plot) == [(10, "fd_domain", 3.5), (10, "fid", 7.0), (20, "fd_domain", 2.0),
                                 (10, "kimg", 0.5), (20, "kimg", 1.0)]
    assert read_series(tmp_path / "absent.csv") == [] and read_rows(tmp_path / "absent.csv") == []
    with pytest.raises(DataError, match=r"curves.csv is unreadable \(columns.*re-run training"):  # exactly 3
        read_rows(plot)
    plot.write_text("step,name\n1,x\n")
    with pytest.raises(DataError, match="curves.csv is unreadable.*expected step,name,value.*re-run the stage"):
        read_series(plot)
    plot.write_text("step,name,value\nten,x,1\n")
    with pytest.raises(DataError, match="curves.csv is unreadable.*re-run the stage"):
        read_series(plot)


def test_sync_sends_each_step_once(tmp_path):
    cfg = MlflowConfig(tracking_uri=f"sqlite:///{tmp_path}/m.db", experiment="t", system_metrics=False)
    run = start_run(cfg, tmp_path, "dcgan", {"variant": "dcgan"})
    h = History(tmp_path / "h.csv")
    h.log_metrics({"kimg": 0.1, "loss": 1.0}, step=1)
    h.log_metrics({"kimg": 0.2, "loss": 0.5}, step=2)
    assert run.sync(h.rows) == 4
    assert run.sync(h.rows) == 0
    again = MlflowTracker(run.tracking_uri, run.run_id)  # a resumed session: asks the store
    h.log_metrics({"kimg": 0.3, "loss": 0.25}, step=3)
    assert again.synced_step() == 2 and again.sync(h.rows) == 2
    steps = [m.step for m in again.client.get_metric_history(run.run_id, "loss")]
    assert sorted(steps) == [1, 2, 3]


def test_run_file_has_no_machine_paths_and_stage_runs_degrade_to_a_warning(tmp_path, caplog):
    write_run_file(tmp_path / "run.json", "abc123", "e")
    assert read_run_file(tmp_path / "run.json") == {"run_id": "abc123", "experiment": "e"}
    assert str(tmp_path) not in (tmp_path / "run.json").read_text()
    cfg = MlflowConfig(tracking_uri=f"sqlite:///{tmp_path}/m.db", experiment="t")
    with caplog.at_level("WARNING", logger="ganbench"):
        tracker = open_stage_run(cfg, tmp_path, tmp_path / "run.json", "dcgan", "sample")
    assert isinstance(tracker, NullTracker) and "not in" in caplog.text
    with caplog.at_level("WARNING", logger="ganbench"):
        tracker = open_stage_run(cfg, tmp_path, tmp_path / "missing.json", "dcgan", "sample")
    assert isinstance(tracker, NullTracker) and "missing" in caplog.text
    assert Path(tmp_path / "run.json").is_file()


# One interface for every record keeper ----------------------------------------------------


def _sqlite_run(tmp_path: Path, store: Path | None = None) -> MlflowTracker:
    db = store if store is not None else tmp_path / "m.db"
    return start_run(MlflowConfig(tracking_uri=f"sqlite:///{db}", experiment="t"), tmp_path, "x-0", {},
                     command="ganbench train x --seed 0")


def test_every_record_keeper_is_one_tracker(tmp_path):
    """The loop, the train stage and the later stages see one interface, whatever keeps
    the records: nothing, the history on disk, an MLflow run, a run that survives an
    outage, or the loop's routing of scalars and grids."""
    from ganbench.tracking.base import Routed, Tracker
    from ganbench.tracking.resilient import ResilientRun

    run = _sqlite_run(tmp_path)
    history = History(tmp_path / "h.csv")
    for keeper in (NullTracker(), history, run, ResilientRun(run, tmp_path / "u"), Routed(history, run)):
        assert isinstance(keeper, Tracker), type(keeper).__name__
    assert NullTracker().run_id is None and history.run_id is None
    assert Routed(history, run).run_id == run.run_id


def test_the_loops_tracker_keeps_scalars_in_the_history_and_sends_grids_to_the_run(tmp_path):
    """Scalars reach the MLflow run only through sync (from the history on disk, so a
    crash never leaves the run ahead of the checkpoint); grids go at once."""
    from ganbench.tracking.base import Routed

    run = _sqlite_run(tmp_path)
    history = History(tmp_path / "h.csv")
    routed = Routed(history, run)
    routed.log_metrics({"loss_G": 1.5, "kimg": 0.25}, step=3)
    routed.log_image(np.zeros((8, 8, 3), np.uint8), "samples", 3)
    assert history.rows == [(3, "loss_G", 1.5), (3, "kimg", 0.25)]
    assert run.client.get_run(run.run_id).data.metrics == {}
    assert [a.path for a in run.client.list_artifacts(run.run_id, "images")], "the grid was not sent"
    assert routed.sync(history.rows) == 2
    assert [(m.step, m.value) for m in run.client.get_metric_history(run.run_id, "loss_G")] == [(3, 1.5)]


def test_a_record_made_while_the_server_is_down_is_sent_when_it_answers(tmp_path, monkeypatch):
    """A real `mlflow server` on a port where nothing listens yet: a tag set then waits;
    once the server (over the same store) answers, the next sync sends it."""
    from ganbench.tracking.resilient import ResilientRun
    from tests.pipeline.project import free_port, mlflow_server

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    store = tmp_path / "server"
    store.mkdir()
    created = _sqlite_run(tmp_path, store / "mlflow.db")
    port = free_port()
    sink = ResilientRun(MlflowTracker(f"http://127.0.0.1:{port}", created.run_id), tmp_path / "unsynced")
    sink.set_tags({"note": "set while the server was down"})
    assert sink.down and len(sink.pending_calls) == 1
    with mlflow_server(store, port) as server:
        assert sink.sync([]) == 0 and not sink.down and not sink.pending_calls
        tags = {t["key"]: t["value"] for t in
                server.get("/api/2.0/mlflow/runs/get", run_id=created.run_id)["run"]["data"]["tags"]}
        assert tags["note"] == "set while the server was down"
        assert sink.close([]) is True
