"""`mlflow ui` on ganbench's runs, rendered by headless Chromium: a real `mlflow server` on
127.0.0.1 (a free port, stopped by its process group) holds two runs logged the way the
stages log them; the address ganbench prints opens on the runs table (not MLflow 3's
GenAI overview), the runs expand under their pipeline run with their datasets and
source, and the compare view plots the evaluation, not a system metric."""

from __future__ import annotations

import json

import pytest

from ganbench.config import MlflowConfig, parse_params
from ganbench.data.preprocess import preprocess
from ganbench.data.sources import fetch
from ganbench.models import VARIANTS
from ganbench.report.browser import ChromiumOptions, find_chromium, open_page
from ganbench.tracking.datasets import data_inputs
from ganbench.tracking.mlflow_run import lead_eval_keys, runs_page, start_run
from ganbench.tracking.pipeline_run import attach_to_pipeline, pipeline_key, sync_pipeline_run
from tests.fixtures import make_fake_dataset
from tests.pipeline.project import live_members, mlflow_server, port_is_free

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed")]

RUNS = ("dcgan", "wgan_gp")
#: What MLflow 3's GenAI overview shows and its runs table does not.
GENAI_OVERVIEW = ("Token Usage", "Tokens per Trace", "Latency")
HAS = "document.body && document.body.innerText.includes({!r})"
EXPAND_PARENT = "document.querySelector('button[data-component-id*=runnamecellrenderer]').click() || true"


def log_like_the_stages(server_url: str, tmp_path) -> tuple[str, list[str], str]:
    """Two runs as the train and evaluate stages leave them (a system metric sampled
    before the evaluation); returns (experiment id, run ids, pipeline key)."""
    make_fake_dataset(tmp_path / "idx", n_train=32, n_test=16)
    data = {"dataset": "idx-folder", "source_dir": str(tmp_path / "idx"), "allow_download": False}
    p = parse_params({"variants": list(RUNS), "data": data, **{v: {} for v in RUNS}}, VARIANTS)
    fetch(p.data, tmp_path / "raw", env={})
    preprocess(tmp_path / "raw", tmp_path / "processed", p.data)
    cfg = MlflowConfig(tracking_uri=server_url, experiment="ui")
    ids = []
    for i, variant in enumerate(RUNS):
        run = start_run(cfg, tmp_path, f"{variant}-0", {"variant": variant},
                        command=f"ganbench train {variant} --seed 0", first_metrics=lead_eval_keys(p.evaluate))
        run.log_metrics({"system/cpu_utilization_percentage": 50.0 + i}, step=0)    # seconds into training
        run.log_params({"variant": variant, "d_optim.lr": 2e-4 / (i + 1), "model.z_dim": 100})
        run.log_inputs(data_inputs(p, tmp_path / "processed", tmp_path))
        attach_to_pipeline(p, tmp_path, run)
        run.log_metrics({"loss_D": 1.0}, step=5)
        run.log_metrics({"eval/fid2k": 70.0 + 30 * i, "eval/kid2k": 0.05}, step=0)   # the evaluate stage
        run.finish()
        sync_pipeline_run(run.client, run.parent_id)
        ids.append(run.run_id)
    return run.client.get_run(run.run_id).info.experiment_id, ids, pipeline_key(p)


def test_mlflow_ui_opens_on_the_runs_and_compares_the_evaluation(tmp_path):
    with mlflow_server(tmp_path / "server") as server:
        exp_id, ids, key = log_like_the_stages(server.url, tmp_path)
        tags = server.get("/api/2.0/mlflow/experiments/get", experiment_id=exp_id)["experiment"]["tags"]
        assert {"key": "mlflow.experimentKind", "value": "custom_model_development"} in tags

        with open_page(ChromiumOptions(timeout_s=120, width=1600, height=1000)) as page:
            page.goto(runs_page(server.url, exp_id), wait_for=HAS.format(f"pipeline {key}"))
            shown = page.text()
            assert all(column in shown for column in ("Run Name", "Dataset", "Duration", "Source", "Models"))
            assert not [t for t in GENAI_OVERVIEW if t in shown], shown
            page.evaluate(EXPAND_PARENT)
            shown = page.wait_for(f"{HAS.format('wgan_gp-0')} && document.body.innerText")
            assert "dcgan-0" in shown and "ganbench train dcgan --seed 0" in shown and "dvc repro" in shown
            assert "idx-folder-train (" in shown and "Training" in shown

            runs = json.dumps(ids)
            page.goto(f"{server.url}/#/compare-runs?runs={runs}&experiments={json.dumps([exp_id])}",
                      wait_for=HAS.format("Parallel Coordinates Plot"))
            chosen = page.wait_for("(() => { const t = document.body.innerText; const i = t.indexOf('Metrics:');"
                                   " return i >= 0 && t.indexOf('Clear All', i) > i"
                                   " && t.slice(i, t.indexOf('Clear All', i)); })()")
            assert chosen.split() == ["Metrics:", "eval/fid2k"], chosen   # not system/cpu_utilization_percentage
    assert live_members(server.proc.pid) == [] and port_is_free(server.port)
