"""What the train stage records in MLflow, read back from a real sqlite store: the
experiment's kind, params under names every variant shares, the source, the datasets,
evaluation metrics first, the pipeline run spanning its children, and the generator as an
MLflow model that draws what `ganbench generate` draws."""

from __future__ import annotations

import json
import logging
import subprocess

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from ganbench.config import MlflowConfig
from ganbench.io import sha256_file
from ganbench.tracking.mlflow_run import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    MlflowTracker,
    experiment_id,
    runs_page,
    start_run,
)
from ganbench.tracking.pipeline_run import PARENT_RUN_TAG, sync_pipeline_run
from tests.fixtures import make_fake_dataset
from tests.pipeline.project import ROOT, free_port

VARIANTS = ("dcgan", "wgan_gp")
TINY = {"dcgan": {"model": {"z_dim": 8, "g_channels": 4, "d_channels": 4}},
        "wgan_gp": {"model": {"z_dim": 8, "g_channels": 4, "d_channels": 4}, "loss": {"n_critic": 2}}}
#: Parameters whose names belong to one objective (its own settings), not shared by design.
OBJECTIVE_ONLY = ("loss.",)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """dcgan-0 and wgan_gp-0 trained by `ganbench train` (in-process) into a sqlite store
    inside a git repository."""
    from ganbench_pipeline.cli import app

    root = tmp_path_factory.mktemp("runs")
    make_fake_dataset(root / "idx", n_train=64, n_test=32)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(dataset="idx-folder", source_dir=str(root / "idx"), allow_download=False)
    params["variants"], params["seeds"] = list(VARIANTS), [0]
    params["train"].update(budget="g_steps", g_steps=2, batch_size=16, ema_kimg=0.05, eval_every_kimg=0)
    params["runtime"].update(device="cpu", log_every=1, image_every=100, checkpoint_every_kimg=1.0)
    params["mlflow"].update(tracking_uri=f"sqlite:///{root / 'mlflow.db'}", experiment="runs", system_metrics=False)
    for variant, section in TINY.items():
        for part, values in section.items():
            params[variant][part].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "params.yaml"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "params"], cwd=root, check=True)
    runner = CliRunner()
    for args in (["download", "--out", str(root / "raw")],
                 ["preprocess", "--raw", str(root / "raw"), "--out", str(root / "processed")]):
        res = runner.invoke(app, [*args, "--params", str(root / "params.yaml")], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    for variant in VARIANTS:
        key = f"{variant}-0"
        res = runner.invoke(app, ["train", variant, "--seed", "0", "--params", str(root / "params.yaml"),
                                  "--processed", str(root / "processed"), "--out", str(root / "models" / key),
                                  "--metrics", str(root / f"{key}.json"), "--plots", str(root / f"{key}.csv")],
                            catch_exceptions=False)
        assert res.exit_code == 0, res.output
    return root


def client_of(root):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{root / 'mlflow.db'}")


def run_of(root, key):
    return client_of(root).get_run(json.loads((root / "models" / key / "run.json").read_text())["run_id"])


def test_the_experiment_is_model_training_also_when_it_existed_without_the_mark(trained, tmp_path):
    from mlflow.tracking import MlflowClient

    assert client_of(trained).get_experiment_by_name("runs").tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(uri)
    bare = client.create_experiment("old")                         # made before ganbench marked them
    assert EXPERIMENT_KIND_TAG not in client.get_experiment(bare).tags
    assert experiment_id(uri, "old", tmp_path) == bare
    assert client.get_experiment(bare).tags[EXPERIMENT_KIND_TAG] == "custom_model_development"
    chosen = client.create_experiment("chosen", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    experiment_id(uri, "chosen", tmp_path)                           # a kind someone chose is kept
    assert client.get_experiment(chosen).tags[EXPERIMENT_KIND_TAG] == "genai_development"
    assert runs_page(uri, bare) == f"http://127.0.0.1:5000/#/experiments/{bare}/runs?workflowType=machine_learning"
    assert runs_page("http://10.0.0.2:5000/", "7").startswith("http://10.0.0.2:5000/#/experiments/7/runs?")


def test_runs_of_different_variants_share_every_comparable_param(trained):
    params = {v: run_of(trained, f"{v}-0").data.params for v in VARIANTS}
    for variant, logged in params.items():
        assert not [k for k in logged if k.startswith(tuple(f"{v}." for v in VARIANTS))], logged
        assert logged["variant"] == variant and logged["seed"] == "0" and logged["budget"] == "2 generator steps"
        assert {"model.z_dim", "loss.name", "g_optim.lr", "d_optim.betas", "conditional", "g_step",
                "data.dataset", "train.batch_size", "numerics.cpu_isa"} <= set(logged)
    comparable = [{k for k in logged if not k.startswith(OBJECTIVE_ONLY)} for logged in params.values()]
    assert comparable[0] == comparable[1]
    assert params["dcgan"]["loss.name"] == "nonsaturating" and params["wgan_gp"]["loss.n_critic"] == "2"
    assert params["dcgan"]["g_step"] == "shared_fake"  # as trained: train.g_step, or the variant's own
    assert params["dcgan"]["d_optim.betas"] == "[0.5, 0.999]" and params["wgan_gp"]["d_optim.betas"] == "[0.0, 0.9]"


def test_a_resumed_run_logs_its_params_again_without_changing_them(trained):
    run = run_of(trained, "dcgan-0")
    tracker = MlflowTracker(f"sqlite:///{trained / 'mlflow.db'}", run.info.run_id)
    tracker.log_params({"budget": "4 generator steps", "seed": 0, "new.key": 1})   # MLflow would refuse a change
    after = client_of(trained).get_run(run.info.run_id).data.params
    assert after["budget"] == "2 generator steps" and after["new.key"] == "1"


def test_source_git_commit_and_datasets(trained):
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=trained, capture_output=True, text=True).stdout.strip()
    run = run_of(trained, "dcgan-0")
    tags = run.data.tags
    assert tags["mlflow.source.name"] == "ganbench train dcgan --seed 0" and tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.git.commit"] == commit == tags["git_commit"]
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert sorted(inputs) == ["evaluation", "training"]
    train, test = inputs["training"], inputs["evaluation"]
    assert (train.name, test.name) == ("idx-folder-train", "idx-folder-test")
    assert train.digest == sha256_file(trained / "processed" / "train.pt")[:16]
    assert test.digest == sha256_file(trained / "processed" / "test.pt")[:16]
    assert json.loads(train.source) == {"uri": str((trained / "idx").resolve())} and train.source_type == "local"
    assert json.loads(train.profile)["images"] == 64 and json.loads(test.profile)["images"] == 32
    # the same tensors, the same dataset: both runs show one digest
    other = {i.dataset.name: i.dataset.digest for i in run_of(trained, "wgan_gp-0").inputs.dataset_inputs}
    assert other["idx-folder-train"] == train.digest


def test_evaluation_metrics_come_first_then_the_training_ones(trained):
    """MLflow lists a run's metrics in the order they were first logged (the compare view
    plots the first one): the evaluation placeholders lead, NaN below every real step."""
    client = client_of(trained)
    run = run_of(trained, "dcgan-0")
    keys = list(run.data.metrics)
    assert keys[:4] == ["eval/fid2k", "eval/kid2k", "eval/fd_domain10k", "eval/kid_domain10k"], keys
    assert {"loss_D", "kimg", "train/g_steps"} <= set(keys)
    (placeholder,) = client.get_metric_history(run.info.run_id, "eval/fid2k")
    assert placeholder.step == -1 and np.isnan(placeholder.value)


def test_the_pipeline_run_spans_its_children(trained):
    from mlflow.entities import RunStatus

    client = client_of(trained)
    runs = [run_of(trained, f"{v}-0") for v in VARIANTS]
    parent_id = runs[0].data.tags[PARENT_RUN_TAG]
    assert runs[1].data.tags[PARENT_RUN_TAG] == parent_id
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["mlflow.source.name"] == "dvc repro"
    assert parent.info.start_time == min(r.info.start_time for r in runs)
    assert parent.info.end_time == max(r.info.end_time for r in runs)

    tracker = MlflowTracker(client.tracking_uri, runs[1].info.run_id)
    tracker.set_running()                                           # a child resumes: the pipeline runs
    assert client.get_run(sync_pipeline_run(client, parent_id)).info.status == "RUNNING"
    tracker.finish("FAILED")
    assert client.get_run(sync_pipeline_run(client, parent_id)).info.status == "FAILED"
    tracker.finish(RunStatus.to_string(RunStatus.FINISHED))

    # A run that started before the pipeline run joins it: the pipeline run starts anew
    # (MLflow cannot move a start), with every child.
    early = client.create_run(parent.info.experiment_id, start_time=parent.info.start_time - 60_000,
                              tags={PARENT_RUN_TAG: parent_id}).info.run_id
    client.set_terminated(early, "FINISHED", end_time=parent.info.start_time - 1000)
    moved = sync_pipeline_run(client, parent_id)
    assert moved != parent_id and client.get_run(parent_id).info.lifecycle_stage == "deleted"
    new = client.get_run(moved)
    assert new.info.start_time == parent.info.start_time - 60_000 and new.info.status == "FINISHED"
    assert new.info.run_name == parent.info.run_name and new.data.tags["ganbench.pipeline_parent"]
    assert {client.get_run(r).data.tags[PARENT_RUN_TAG] for r in (early, *(r.info.run_id for r in runs))} == {moved}


@pytest.mark.parametrize("key", ["dcgan-0"])
def test_the_logged_generator_draws_what_ganbench_generate_draws(trained, key):
    import mlflow.pyfunc
    import mlflow.pytorch

    from ganbench.sampling.api import generate_from_checkpoint
    from ganbench.sampling.latents import latents
    from ganbench.tracking.model import MODEL_NAME, _fluent_target

    run = run_of(trained, key)
    (output,) = run.outputs.model_outputs
    assert output.step == 2                                         # the run's last generator step
    client = client_of(trained)
    model = client.get_logged_model(output.model_id)
    assert model.name == MODEL_NAME and model.tags["ganbench.generator"] == "ema"
    assert model.experiment_id == run.info.experiment_id and model.source_run_id == run.info.run_id
    uri = f"models:/{output.model_id}"
    with _fluent_target(client.tracking_uri, run.info.experiment_id):
        G = mlflow.pytorch.load_model(uri)
        pyfunc = mlflow.pyfunc.load_model(uri)
    images, _ = generate_from_checkpoint(trained / "models" / key / "checkpoint.pt", n=12, seed=5)
    z = latents(12, G.z_dim, 5)
    assert np.array_equal(G(z, seed=5).numpy(), images)
    assert np.array_equal(pyfunc.predict(z.numpy(), params={"seed": 5}), images)
    sig = pyfunc.metadata.signature
    assert sig.inputs.inputs[0].shape == (-1, 8) and sig.outputs.inputs[0].shape == (-1, 1, 32, 32)


SMALL = {"stylegan": {"model": {"z_dim": 8, "w_dim": 8, "g_channel_base": 32, "g_channel_max": 8,
                                "d_channel_base": 32, "d_channel_max": 8}},
         "dcgan": TINY["dcgan"]}


@pytest.mark.parametrize("variant, conditional", [("stylegan", False), ("dcgan", True)])
def test_noise_driven_and_conditional_generators_draw_what_ganbench_generate_draws(variant, conditional, tmp_path):
    """StyleGAN given the seed draws `ganbench generate --seed S`'s noise; a conditional
    model lays its classes out one row per class as `ganbench generate` does (logging
    either is the same call as for dcgan above)."""
    from ganbench.config import parse_params
    from ganbench.data.preprocess import preprocess
    from ganbench.data.sources import fetch
    from ganbench.models import VARIANTS as REGISTRY
    from ganbench.sampling.api import generate_from_checkpoint
    from ganbench.sampling.latents import latents
    from ganbench.tracking.model import generator_model
    from ganbench.training.run import train_variant
    from ganbench.training.setup import prepare_training

    make_fake_dataset(tmp_path / "idx", n_train=32, n_test=16)
    data = {"dataset": "idx-folder", "source_dir": str(tmp_path / "idx"), "allow_download": False}
    p = parse_params({"variants": [variant], "data": data,
                      "train": {"budget": "g_steps", "g_steps": 1, "batch_size": 8, "ema_kimg": 0.05,
                                "conditional": conditional},
                      "runtime": {"device": "cpu"}, variant: SMALL[variant]}, REGISTRY)
    fetch(p.data, tmp_path / "raw", env={})
    preprocess(tmp_path / "raw", tmp_path / "processed", p.data)
    result = train_variant(prepare_training(p, variant, 0, tmp_path / "processed", tmp_path / "out"))
    model, which = generator_model(result.checkpoint)
    images, _ = generate_from_checkpoint(result.checkpoint, n=25, seed=3)   # two rows per class
    z = latents(25, model.z_dim, 3)
    assert which == "ema" and model.num_classes == (10 if conditional else 0)
    assert np.array_equal(model(z, seed=3).numpy(), images)
    if variant == "stylegan":
        assert not np.array_equal(model(z, seed=4).numpy(), images)     # the noise matters


def test_a_model_that_cannot_be_sent_never_stops_training(trained, tmp_path, monkeypatch, caplog):
    """The server is down when the generator is logged: one warning, nothing raised, the
    run's closing says the model is still to send (the next `ganbench train` sends it)."""
    from ganbench.tracking.model import log_generator
    from ganbench.tracking.resilient import ResilientRun

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    tracker = MlflowTracker(f"http://127.0.0.1:{free_port()}", "0" * 32)   # nothing listens there
    sink = ResilientRun(tracker, tmp_path / "unsynced")
    with caplog.at_level(logging.WARNING, logger="ganbench"):
        sink.log_model(lambda: log_generator(tracker, trained / "models" / "dcgan-0" / "checkpoint.pt", 2, "dcgan"))
        assert sink.down and sink.pending_model is not None
        assert sink.close([]) is False
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("MLflow is unreachable" in w for w in warnings) == 1
    assert any("the generator model" in w and "next `ganbench train`" in w for w in warnings), warnings


def test_a_second_log_of_the_same_step_is_skipped(trained):
    from ganbench.tracking.model import log_generator

    run = run_of(trained, "wgan_gp-0")
    tracker = MlflowTracker(f"sqlite:///{trained / 'mlflow.db'}", run.info.run_id)
    assert tracker.model_steps() == {2}
    assert log_generator(tracker, trained / "models" / "wgan_gp-0" / "checkpoint.pt", 2, "wgan_gp") is None
    assert len(client_of(trained).get_run(run.info.run_id).outputs.model_outputs) == 1


def test_placeholders_only_for_names_known_from_params(tmp_path):
    from ganbench.config import EvaluateConfig
    from ganbench.tracking.mlflow_run import lead_eval_keys

    cfg = EvaluateConfig(metrics=("pr", "kid_domain", "fid", "coverage"), num_gen=500, domain_num_gen=3000)
    assert lead_eval_keys(cfg) == ["eval/kid_domain3k", "eval/fid500"]
    run = start_run(MlflowConfig(tracking_uri=f"sqlite:///{tmp_path / 'm.db'}", experiment="p"), tmp_path,
                    "x-0", {}, command="ganbench train x --seed 0", first_metrics=lead_eval_keys(cfg))
    assert list(run.client.get_run(run.run_id).data.metrics) == ["eval/kid_domain3k", "eval/fid500"]
    assert "mlflow.source.git.commit" not in run.client.get_run(run.run_id).data.tags   # not a git repository


def test_the_dataset_source_follows_the_download_order(tmp_path):
    from ganbench.config import DataConfig
    from ganbench.data import catalogue, sources
    from ganbench.tracking import datasets

    # The folders the download stage looks in, named here without importing it.
    assert datasets.ENV_VAR == sources.ENV_VAR
    assert str(datasets.DEBIAN_DATASETS / "fashion-mnist") == catalogue.DATASETS.get("fashion-mnist").debian_dir
    (tmp_path / "data" / "processed").mkdir(parents=True)
    cfg = DataConfig(dataset="mnist", source_dir="idx")
    assert datasets.data_source(cfg, "data/processed", tmp_path, env={}) == str(tmp_path.resolve() / "idx")
    cfg = DataConfig(dataset="mnist")
    assert datasets.data_source(cfg, "data/processed", tmp_path, env={"GANBENCH_DATA_DIR": "/srv/d"}) == "/srv/d"
    assert datasets.data_source(cfg, "data/processed", tmp_path, env={}) == str(tmp_path.resolve() / "data/processed")
    temp = tmp_path / ".dvc" / "tmp" / "exps" / "tmp1"                 # dvc exp run --temp: the main repository
    assert datasets.data_source(cfg, "data/processed", temp, env={}) == str(tmp_path.resolve() / "data/processed")
