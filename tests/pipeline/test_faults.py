"""Faults with real processes: `kill -9` and resume to the same weights, SIGTERM, a NaN,
an unwritable model folder, an unreachable tracking server."""

from __future__ import annotations

import os
import random
import signal
import socket
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.pipeline.train_project import Project, make_training_data

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_training_data(tmp_path_factory.mktemp("faults"))


def weights(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    ckpt = torch.load(path, weights_only=True)
    return {k: ckpt[k] for k in ("G", "D", "G_ema")}


def test_kill_9_twice_then_resume_ends_with_identical_weights_and_no_duplicates(data, tmp_path):
    whole = Project(tmp_path / "whole", data)
    assert whole.run().returncode == 0
    killed = Project(tmp_path / "killed", data)
    rng = random.Random(0)
    for _ in range(2):
        proc = killed.start()
        # Wait until a checkpoint exists, then kill at a random moment of the next stretch.
        deadline = time.monotonic() + 300
        while not (killed.base / "model" / "checkpoint.pt").exists() and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    final = killed.run()
    assert final.returncode == 0, final.stderr
    a, b = weights(whole.base / "model" / "checkpoint.pt"), weights(killed.base / "model" / "checkpoint.pt")
    for net in a:
        for name, tensor in a[net].items():
            assert torch.equal(tensor, b[net][name]), f"{net}.{name} differs after kill -9 and resume"
    # The losses CSV and the MLflow history hold every logged step exactly once.
    rows = (killed.base / "losses.csv").read_text().splitlines()[1:]
    keyed = [(r.split(",")[0], r.split(",")[1]) for r in rows]
    assert len(keyed) == len(set(keyed))
    assert rows == (whole.base / "losses.csv").read_text().splitlines()[1:]
    client = killed.client()
    steps = [m.step for m in client.get_metric_history(killed.run_id(), "loss_D")]
    assert sorted(steps) == list(range(3, 61, 3)), steps


def test_sigterm_writes_a_checkpoint_and_exits_nonzero_then_resumes(data, tmp_path):
    project = Project(tmp_path / "term", data, g_steps=400)
    proc = project.start()
    deadline = time.monotonic() + 300
    while not (project.base / "model" / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "interrupted at generator step" in out and "resumes it" in out
    step = torch.load(project.base / "model" / "checkpoint.pt", weights_only=True)["progress"]["step"]
    assert 0 < step < 400
    assert project.client().get_run(project.run_id()).info.status == "KILLED"
    assert not (project.base / "train.json").exists()


def test_a_nan_stops_training_marks_the_run_failed_and_keeps_the_last_checkpoint(data, tmp_path):
    project = Project(tmp_path / "nan", data)
    assert project.run().returncode == 0
    before = (project.base / "model" / "checkpoint.pt").read_bytes()
    (project.base / "train.json").unlink()
    p = yaml.safe_load((project.base / "params.yaml").read_text())
    p["dcgan"]["g_optim"]["lr"] = p["dcgan"]["d_optim"]["lr"] = 1e30
    (project.base / "params.yaml").write_text(yaml.safe_dump(p))
    out = project.run()
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "train dcgan-0" in lines[0] and "by generator step" in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert (project.base / "model" / "checkpoint.pt").read_bytes() == before
    assert not (project.base / "train.json").exists()
    runs = project.client().search_runs(["1"], filter_string="tags.variant = 'dcgan'",
                                        order_by=["attributes.start_time DESC"])
    assert runs[0].info.status == "FAILED" and "became" in runs[0].data.tags["failure_reason"]


def test_an_unwritable_model_folder_is_reported_clearly(data, tmp_path):
    project = Project(tmp_path / "disk", data)
    (project.base / "model").write_text("a file where the model folder should be")
    out = project.run()
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "model" in out.stderr and "error:" in out.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_tracking_server_stops_training_before_it_starts(data, tmp_path):
    project = Project(tmp_path / "down", data)
    project.env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    out = project.run()
    assert out.returncode == 1 and "is unreachable" in out.stderr and "mlflow.offline: true" in out.stderr
    assert time.monotonic() - start < 60 and not (project.base / "model").exists()
    p = yaml.safe_load((project.base / "params.yaml").read_text())
    p["mlflow"]["offline"] = True
    (project.base / "params.yaml").write_text(yaml.safe_dump(p))
    out = project.run()
    assert out.returncode == 0, out.stderr
    assert (project.base / "model" / "history.csv").is_file() and not (project.base / "model" / "run.json").exists()


def test_a_tracking_server_that_goes_away_mid_run_loses_nothing(data, tmp_path):
    """A real `mlflow server` is killed (by its PID) while training logs to it, then
    restarted on the same port and store: training goes on, warns once, and every metric
    step arrives."""
    from tests.pipeline.project import mlflow_server

    project = Project(tmp_path / "outage", data, g_steps=3000)
    with mlflow_server(tmp_path / "server") as first:
        port = first.port
        project.env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{port}"
        proc = project.start()
        deadline = time.monotonic() + 300
        while not (project.base / "model" / "run.json").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.1)
    # The server is gone (its process group was killed); training must go on without it.
    time.sleep(3)
    assert proc.poll() is None, "training stopped when the tracking server went away"
    with mlflow_server(tmp_path / "server", port=port) as second:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out
        assert out.count("MLflow is unreachable") == 1, out
        run_id = project.run_id()
        history = second.get("/api/2.0/mlflow/metrics/get-history", run_id=run_id, metric_key="loss_D")["metrics"]
        steps = sorted(int(m["step"]) for m in history)
        assert steps == list(range(3, 3001, 3)), (steps[:5], steps[-5:], len(steps))
        run = second.get("/api/2.0/mlflow/runs/get", run_id=run_id)["run"]
        assert run["info"]["status"] == "FINISHED"
        # the generator model got through too, once
        assert [int(o["step"]) for o in run["outputs"]["model_outputs"]] == [3000], run["outputs"]
