"""The report reads every run back from a real MLflow store and checks every number."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from ganbench.report.crosscheck import CrossCheckOptions, MlflowMismatchError, cross_check
from ganbench.report.inputs import Run, load_runs, run_ids
from tests.report_outputs import write_outputs

V = ("dcgan", "wgan_gp")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite MLflow store for the module (creating its tables takes seconds)."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("ganbench", artifact_location=(root / "artifacts").as_uri())
    return uri, client, exp


def log_like_the_pipeline(client, exp: str, run: Run) -> str:
    """A run holding what the stages log: eval metrics as eval/<name>, train metrics as train/<name>."""
    from mlflow.entities import Metric

    run_id = client.create_run(exp, run_name=run.key).info.run_id
    numbers = {f"eval/{k}": v for k, v in run.eval.items() if k != "seed" and isinstance(v, (int, float))}
    numbers |= {f"train/{k}": v for k, v in run.train.items()
                if k != "seed" and isinstance(v, (int, float)) and not isinstance(v, bool)}
    client.log_batch(run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in numbers.items()])
    return run_id


def name_run(root: Path, key: str, ref: dict | None) -> None:
    """What the train stage records: the MLflow run of a result, in its training result."""
    path = root / "metrics" / "train" / f"{key}.json"
    train = json.loads(path.read_text())
    train["mlflow_run"] = ref
    path.write_text(json.dumps(train))


def logged_runs(tmp_path, store, seeds=(0, 1)):
    """Runs logged into the store, each training result naming its MLflow run; returns the
    runs as the report reads them and their run ids."""
    _, client, exp = store
    paths = write_outputs(tmp_path, V, seeds, steps=3, grids=False)
    ids = {}
    for run in load_runs(run_ids(V, seeds), paths):
        ids[run.key] = log_like_the_pipeline(client, exp, run)
        name_run(tmp_path, run.key, {"run_id": ids[run.key], "experiment": "ganbench"})
    return load_runs(run_ids(V, seeds), paths), ids


def renamed(tmp_path, key: str, ref: dict | None, seeds=(0,)):
    """The runs again after ``key``'s training result names another MLflow run (or none)."""
    from ganbench.report.inputs import ReportPaths

    name_run(tmp_path, key, ref)
    paths = ReportPaths(*(tmp_path / d for d in ("metrics/train", "metrics/eval", "samples", "plots/losses",
                                                   "plots/curves")))
    return load_runs(run_ids(V, seeds), paths)


def test_agreement_passes(tmp_path, store):
    uri, _, _ = store
    runs, ids = logged_runs(tmp_path, store)
    result = cross_check(runs, uri)
    assert result.checked == ["dcgan-0", "dcgan-1", "wgan_gp-0", "wgan_gp-1"]
    assert result.mismatches == [] and result.warnings == []
    result.raise_for_mismatch()


def test_a_planted_disagreement_fails_with_run_metric_and_both_values(tmp_path, store):
    uri, client, _ = store
    runs, ids = logged_runs(tmp_path, store)
    rid = ids["dcgan-1"]
    client.log_metric(rid, "eval/fid2k", 43.25, step=0)            # as if a later evaluate logged another
    with pytest.raises(MlflowMismatchError) as err:
        cross_check(runs, uri).raise_for_mismatch()
    line = str(err.value)
    assert "\n" not in line and rid in line and "dcgan-1" in line and "eval/fid2k" in line
    assert "41.5" in line and "43.25" in line and "evaluate@dcgan-1" in line
    assert [(m.key, m.expected.name) for m in err.value.mismatches] == [("dcgan-1", "eval/fid2k")]


def test_a_later_value_or_a_placeholder_is_not_a_disagreement(tmp_path, store):
    uri, client, exp = store
    runs, ids = logged_runs(tmp_path, store, seeds=(0,))
    # a value logged at a later step under the evaluated name (the stage's value is at step 0)
    client.log_metric(ids["dcgan-0"], "eval/fd_domain10k", 99.0, step=4375)
    result = cross_check(runs, uri)
    assert result.mismatches == [] and result.warnings == [] and result.checked == ["dcgan-0", "wgan_gp-0"]
    # a new run (retrained, its evaluate skipped by DVC) holds only the NaN placeholder the
    # train stage logs at step -1: the evaluated number is missing, not different
    fresh = client.create_run(exp).info.run_id
    client.log_metric(fresh, "eval/fd_domain10k", float("nan"), step=-1)
    runs = renamed(tmp_path, "dcgan-0", {"run_id": fresh, "experiment": "ganbench"})
    result = cross_check(runs, uri)
    assert result.mismatches == [] and "eval/fd_domain10k" in result.warnings[0]


def test_train_metrics_are_checked_too(tmp_path, store):
    uri, client, _ = store
    runs, ids = logged_runs(tmp_path, store)
    client.log_metric(ids["wgan_gp-0"], "train/images_per_s", 1.0)
    with pytest.raises(MlflowMismatchError, match=r"wgan_gp-0.*train/images_per_s: 233\.0 in .*1\.0 in MLflow"):
        cross_check(runs, uri).raise_for_mismatch()


def test_a_number_missing_from_the_run_warns_unless_told_to_fail(tmp_path, store):
    uri, client, exp = store
    runs, ids = logged_runs(tmp_path, store, seeds=(0,))
    bare = client.create_run(exp).info.run_id       # e.g. retrained into a new run, evaluate skipped by DVC
    runs = renamed(tmp_path, "dcgan-0", {"run_id": bare, "experiment": "ganbench"})
    result = cross_check(runs, uri)
    result.raise_for_mismatch()
    assert result.mismatches == [] and "lacks eval/fid2k, eval/kid2k, eval/kid2k_std" in result.warnings[0]
    with pytest.raises(MlflowMismatchError, match=r"lacks eval/fid2k"):
        cross_check(runs, uri, CrossCheckOptions(missing_metric="fail")).raise_for_mismatch()


def test_runs_missing_from_the_store_are_warnings(tmp_path, store):
    uri, _, _ = store
    runs, ids = logged_runs(tmp_path, store, seeds=(0,))
    name_run(tmp_path, "dcgan-0", {"run_id": "0" * 32, "experiment": "ganbench"})   # e.g. after dvc pull
    runs = renamed(tmp_path, "wgan_gp-0", None)                         # trained with mlflow.offline
    result = cross_check(runs, uri)
    result.raise_for_mismatch()
    assert result.checked == [] and result.skipped == ["dcgan-0", "wgan_gp-0"]
    assert "not in" in result.warnings[0] and "names no MLflow run" in result.warnings[1]


def test_a_missing_store_is_a_warning_and_is_not_created(tmp_path):
    paths = write_outputs(tmp_path, ("dcgan",), (0,), steps=3, grids=False)
    runs = load_runs(run_ids(["dcgan"], [0]), paths)
    db = tmp_path / "elsewhere" / "mlflow.db"
    result = cross_check(runs, f"sqlite:///{db}")
    assert result.skipped == ["dcgan-0"] and "does not exist" in result.warnings[0] and not db.exists()


def _command():
    spec = importlib.util.spec_from_file_location("ganbench_report_command", ROOT / "pipeline" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_report_command_checks_builds_and_logs_into_every_run(tmp_path, store):
    import yaml
    from typer.testing import CliRunner

    from ganbench.config import default_params
    from ganbench.models import VARIANTS
    from ganbench_pipeline.common import load

    uri, client, _ = store
    cmd = _command()
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({**default_params(VARIANTS), "variants": list(V), "seeds": [0, 1],
                                      "mlflow": {"tracking_uri": uri, "experiment": "ganbench"}}))
    assert [r.key for r in cmd.runs_of(load(params))] == ["dcgan-0", "dcgan-1", "wgan_gp-0", "wgan_gp-1"]
    _, ids = logged_runs(tmp_path, store, seeds=(0, 1))
    args = ["--params", str(params), "--train-metrics", str(tmp_path / "metrics/train"),
            "--eval-metrics", str(tmp_path / "metrics/eval"), "--samples", str(tmp_path / "samples"),
            "--losses", str(tmp_path / "plots/losses"), "--curves", str(tmp_path / "plots/curves"),
            "--out", str(tmp_path / "reports")]
    ok = CliRunner().invoke(cmd.app, args)
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "reports" / "index.html").is_file() and "index.html" in ok.output
    parents = set()
    for key in ids:
        logged = {Path(a.path).name for a in client.list_artifacts(ids[key], "report")}
        assert {"index.html", "report.md", "metrics.csv"} <= logged
        parents.add(client.get_run(ids[key]).data.tags["mlflow.parentRunId"])
    (parent,) = parents                                             # the pipeline run shows the report too
    assert {Path(a.path).name for a in client.list_artifacts(parent, "report")} >= {"index.html", "report.md"}
    assert f"MLflow: pipeline run {parent}" in ok.output and "runs?workflowType=machine_learning" in ok.output
    client.log_metric(ids["wgan_gp-1"], "eval/kid2k", 9.0)
    bad = CliRunner().invoke(cmd.app, args)
    assert bad.exit_code == 1 and "eval/kid2k" in bad.output and "9.0 in MLflow" in bad.output


def test_an_unreachable_server_is_one_warning(tmp_path):
    paths = write_outputs(tmp_path, V, (0,), steps=3, grids=False)
    runs = load_runs(run_ids(V, (0,)), paths)
    for r in runs:
        name_run(tmp_path, r.key, {"run_id": "f" * 32, "experiment": "ganbench"})
    runs = load_runs(run_ids(V, (0,)), paths)
    result = cross_check(runs, "http://127.0.0.1:9")          # loopback, nothing listens
    result.raise_for_mismatch()
    assert result.skipped == ["dcgan-0", "wgan_gp-0"] and len(result.warnings) == 1
    assert "did not answer" in result.warnings[0]
