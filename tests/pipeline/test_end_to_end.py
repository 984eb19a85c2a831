"""Every stage, in order, through the real CLI on a tiny fixture dataset, with a temp
sqlite MLflow store: the outputs exist and the MLflow run holds what it should."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from ganbench.data.fixtures import make_fake_dataset, register_fixture_dataset
from ganbench_pipeline.cli import app

pytestmark = pytest.mark.timeout(600)

TINY = {"model": {"z_dim": 16, "g_channels": 8, "d_channels": 8}}


def tiny_params(source_dir: Path, variants: list[str]) -> dict:
    return {
        "data": {"dataset": "tiny-fixture", "source_dir": str(source_dir), "allow_download": False},
        "variants": variants,
        "train": {"seed": 0, "kimg": 0.64, "batch_size": 16, "log_every": 5, "image_every": 20,
                  "checkpoint_every": 20, "grid_size": 16, "device": "cpu"},
        "sample": {"num": 40, "seed": 1, "batch_size": 20, "grid_size": 16},
        "evaluate": {"reference_split": "test", "num_real": 40, "batch_size": 20,
                     "weights_source": "fid-helper", "device": "cpu"},
        "mlflow": {"experiment": "e2e", "system_metrics": False},
        **{v: TINY for v in variants},
    }


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    spec = make_fake_dataset(tmp_path / "idx", n_train=128, n_test=64)
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with register_fixture_dataset(spec):
        yield root, tmp_path / "idx"


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"ganbench {' '.join(args)} failed:\n{result.output}"
    return result


def test_every_stage_and_the_mlflow_run(repo):
    root, idx = repo
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(idx, ["dcgan"])))
    for stage in (["download"], ["preprocess"], ["fid-weights"], ["reference"], ["train", "dcgan"],
                  ["sample", "dcgan"], ["evaluate", "dcgan"], ["report"]):
        invoke(*stage)

    # Stage outputs.
    meta = json.loads((root / "data/processed/meta.json").read_text())
    assert meta["resolution"] == 32
    with np.load(root / "samples/dcgan.npz") as npz:
        assert npz["images"].dtype == np.uint8 and npz["images"].shape == (40, 1, 32, 32)
    train = json.loads((root / "metrics/train/dcgan.json").read_text())
    assert train["kimg"] == pytest.approx(0.64) and train["g_steps"] == 40
    ev = json.loads((root / "metrics/eval/dcgan.json").read_text())
    assert ev["num_gen"] == 40 and ev["num_real"] == 40
    assert np.isfinite(ev["fid40"]) and ev["fid40"] > 0
    prov = ev["provenance"]
    assert len(prov["weights_sha256"]) == 64 and "299" in prov["resize"]
    losses = (root / "plots/dcgan/losses.csv").read_text().splitlines()
    assert losses[0].startswith("step,") and len(losses) == 1 + 40 // 5
    report = (root / "reports/report.md").read_text()
    assert "dcgan" in report and "fid40" in report and "![dcgan](dcgan.png)" in report
    assert (root / "reports/dcgan.png").is_file() and (root / "reports/metrics.csv").is_file()

    # The MLflow run.
    from mlflow.tracking import MlflowClient

    run_info = json.loads((root / "models/dcgan/run.json").read_text())
    assert run_info["tracking_uri"] == f"sqlite:///{root.resolve()}/mlflow.db"
    client = MlflowClient(run_info["tracking_uri"])
    run = client.get_run(run_info["run_id"])
    assert run.data.params["train.kimg"] == "0.64"
    assert run.data.params["dcgan.loss.name"] == "nonsaturating"
    assert run.data.tags["variant"] == "dcgan" and run.data.tags["dataset"] == "tiny-fixture"
    assert run.data.tags["dvc_stage.train"] == "train@dcgan" and "git_commit" in run.data.tags
    history = client.get_metric_history(run.info.run_id, "loss_D")
    assert [m.step for m in history] == list(range(5, 41, 5))
    assert run.data.metrics["fid40"] == pytest.approx(ev["fid40"])
    assert run.data.metrics["train/images_per_s"] > 0
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.artifact_location.startswith((root / "mlartifacts").resolve().as_uri())
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"images", "report", "samples"} <= artifacts
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    assert any("samples+step+20+" in p for p in images), images
    report_files = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"report.md", "metrics.csv"} <= report_files

    # generate works from the checkpoint alone.
    invoke("generate", "models/dcgan/checkpoint.pt", "--n", "9", "--out", "gen.png")
    assert (root / "gen.png").stat().st_size > 0


def test_bad_inputs_fail_with_one_clear_line(repo):
    root, idx = repo
    params = tiny_params(idx, ["dcgan"])
    params["train"]["kimg"] = "ten"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(app, ["train", "dcgan"])
    assert result.exit_code == 1
    assert "train.kimg" in result.output and "Traceback" not in result.output

    params["train"]["kimg"] = 0.1
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "models/dcgan").mkdir(parents=True)
    (root / "models/dcgan/checkpoint.pt").write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(app, ["sample", "dcgan"])
    assert result.exit_code == 1 and "unreadable" in result.output

    result = CliRunner().invoke(app, ["evaluate", "dcgan"])
    assert result.exit_code == 1 and "samples" in result.output
