"""A folder to run ``ganbench train`` in directly (no git, no DVC), for the fault and
distributed-training tests: tiny dcgan params over the fake dataset, preprocessed once by
:func:`make_training_data`, and :class:`Project` to run the command there."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml
from typer.testing import CliRunner

from ganbench_pipeline.cli import app
from tests.fixtures import make_fake_dataset
from tests.pipeline.project import BIN, ROOT


def params_for(source: Path, **train) -> dict:
    """params.yaml with a 60-step dcgan run on the fake dataset in ``source`` (``train``
    overrides train keys), CPU, one thread, no system metrics."""
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["data"].update(dataset="idx-folder", source_dir=str(source), allow_download=False)
    p["variants"], p["seeds"] = ["dcgan"], [0]
    p["train"].update({"budget": "g_steps", "g_steps": 60, "batch_size": 16, "ema_kimg": 0.05,
                       "eval_every_kimg": 0, **train})
    p["numerics"]["threads"] = 1
    p["runtime"].update(device="cpu", log_every=3, image_every=30, checkpoint_every_kimg=0.096)
    p["mlflow"].update(experiment="faults", system_metrics=False)
    p["dcgan"]["model"].update(z_dim=16, g_channels=8, d_channels=8)
    return p


def make_training_data(root: Path) -> Path:
    """``root`` with the fake dataset downloaded and preprocessed (``root/processed``)."""
    make_fake_dataset(root / "idx", n_train=128, n_test=32)
    (root / "params.yaml").write_text(yaml.safe_dump(params_for(root / "idx")))
    for args in (["download"], ["preprocess"]):
        res = CliRunner().invoke(app, [*args, "--params", str(root / "params.yaml"),
                                       *(["--out", str(root / "raw")] if args == ["download"] else
                                         ["--raw", str(root / "raw"), "--out", str(root / "processed")])])
        assert res.exit_code == 0, res.output
    return root


class Project:
    """``base``: a params.yaml (``train`` overrides) and the ``ganbench train dcgan`` command
    over ``data``'s processed split, with its own SQLite MLflow store."""

    def __init__(self, base: Path, data: Path, **train) -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        (base / "params.yaml").write_text(yaml.safe_dump(params_for(data / "idx", **train)))
        self.processed = data / "processed"
        self.env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "CI": "true",
                    "MLFLOW_TRACKING_URI": f"sqlite:///{base}/mlflow.db", "OMP_NUM_THREADS": "1"}

    def cmd(self) -> list[str]:
        b = self.base
        return ["ganbench", "train", "dcgan", "--seed", "0", "--params", str(b / "params.yaml"),
                "--processed", str(self.processed), "--out", str(b / "model"), "--metrics", str(b / "train.json"),
                "--plots", str(b / "losses.csv")]

    def run(self, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(), env=self.env, cwd=self.base, capture_output=True, text=True,
                              timeout=600, **kw)

    def start(self) -> subprocess.Popen:
        return subprocess.Popen(self.cmd(), env=self.env, cwd=self.base, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(f"sqlite:///{self.base}/mlflow.db")

    def run_id(self) -> str:
        return json.loads((self.base / "model" / "run.json").read_text())["run_id"]
