"""MLflow URI resolution (absolute, survives `dvc exp run --temp`), the persisted history
and its replay into a run."""

from __future__ import annotations

from pathlib import Path

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
