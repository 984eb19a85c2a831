"""MLflow URI resolution (absolute, survives `dvc exp run --temp`) and the CSV sink."""

from __future__ import annotations

import csv
from pathlib import Path

from ganbench.config import MlflowConfig
from ganbench.tracking import CsvLossWriter, main_repo_root, resolve_tracking_uri


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


def test_csv_writer_and_resume(tmp_path):
    path = tmp_path / "plots" / "losses.csv"
    w = CsvLossWriter(path)
    for step in (10, 20, 30):
        w.log_metrics({"loss_D": 1.0 / step, "loss_G": 2.0}, step=step)
    rows = list(csv.DictReader(path.open()))
    assert [r["step"] for r in rows] == ["10", "20", "30"] and set(rows[0]) == {"step", "loss_D", "loss_G"}
    w2 = CsvLossWriter(path)
    w2.resume_from(20)
    w2.log_metrics({"loss_D": 0.5, "loss_G": 1.0}, step=25)
    assert [r["step"] for r in csv.DictReader(path.open())] == ["10", "20", "25"]
    assert not list(Path(tmp_path / "plots").glob("*.tmp"))
