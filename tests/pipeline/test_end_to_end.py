"""The whole pipeline through real `dvc repro` on a tiny fixture: a first run, a no-op
rerun, a forced rerun of a finished training stage, a runtime knob that reruns nothing,
a raised budget that resumes the same MLflow run, and a code change that retrains."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from ganbench.results import read_result
from ganbench_pipeline.cli import app
from tests.fixtures import make_fake_dataset
from tests.pipeline.project import READS_TEST_SPLIT, ROOT, TEST_DERIVED, make_project, merge, tiny_overlay

pytestmark = pytest.mark.timeout(900)

@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A git + DVC repository holding a copy of the project's code, dvc.yaml and params;
    every command it runs records the package files it loaded (``trace.jsonl``)."""
    tmp = tmp_path_factory.mktemp("e2e")
    repo, sh = make_project(tmp, GANBENCH_TRACE_MODULES=str(tmp / "repo" / "trace.jsonl"))
    with open(repo / ".gitignore", "a") as f:
        f.write("trace.jsonl\n")
    return repo, sh


def check_traced_code(repo: Path) -> None:
    """The files each command loaded (GANBENCH_TRACE_MODULES) are covered by its stage's
    STAGE_CODE, and every file STAGE_CODE names one by one was loaded."""
    from ganbench.provenance import STAGE_CODE

    seen: dict[str, set[str]] = {}
    for line in (repo / "trace.jsonl").read_text().splitlines():
        entry = json.loads(line)
        seen.setdefault(entry["command"], set()).update(entry["files"])
    assert set(STAGE_CODE) <= set(seen), set(STAGE_CODE) - set(seen)
    for stage, declared in STAGE_CODE.items():
        folders = [d + "/" for d in declared if not d.endswith(".py")]
        files = {d for d in declared if d.endswith(".py")}
        loaded = seen[stage]
        undeclared = sorted(f for f in loaded if f not in files and not f.startswith(tuple(folders)))
        assert not undeclared, f"{stage} loads {undeclared} but dvc.yaml does not depend on them"
        unused = sorted(files - loaded)
        assert not unused, f"{stage} depends on {unused} but never loads them"


def check_test_split_reads(repo: Path) -> None:
    """No command but those of READS_TEST_SPLIT opened the test split or a file made from
    it (GANBENCH_TRACE_MODULES records the files each command opened for reading): every
    choice made during or after training uses training data only."""
    reads: dict[str, set[str]] = {}
    for line in (repo / "trace.jsonl").read_text().splitlines():
        entry = json.loads(line)
        reads.setdefault(entry["command"], set()).update(entry["reads"])
    assert "data/processed/test.pt" in reads["reference"]  # the trace sees what a stage reads
    assert "data/processed/train.pt" in reads["train"] and "data/probe-reference/features.npz" in reads["train"]
    for command, files in sorted(reads.items()):
        if command not in READS_TEST_SPLIT:
            leaked = sorted(f for f in files if f.startswith(TEST_DERIVED))
            assert not leaked, f"{command} reads {leaked}: only {sorted(READS_TEST_SPLIT)} may read the test split"


#: Files a command may read without declaring them: the model folder's reference to its
#: MLflow run, which sample and evaluate use only to log into that run (tracking never
#: changes a result, and a run trained with mlflow.offline has none).
UNDECLARED_READS = {"sample": ("run.json",), "evaluate": ("run.json",)}


def check_declared_reads(repo: Path) -> None:
    """Every data file a stage's command opened for reading (GANBENCH_TRACE_MODULES) is
    params.yaml, one of the stage's deps or its own outputs (resuming), as dvc.lock lists
    them: DVC reruns a stage when anything it reads changes."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    declared: dict[str, set[str]] = {}
    for stage, entry in lock.items():
        paths = {d["path"] for d in entry.get("deps", [])} | {o["path"] for o in entry.get("outs", [])}
        declared.setdefault(stage.split("@")[0], set()).update(paths)
    for line in (repo / "trace.jsonl").read_text().splitlines():
        entry = json.loads(line)
        allowed = declared[entry["command"]] | {"params.yaml"}
        exempt = UNDECLARED_READS.get(entry["command"], ())
        for path in entry["reads"]:
            # Not reads of data: a folder opened to fsync a file written into it, and the
            # atomic writer's temporary files (opened read-write, renamed onto the output).
            if path.rsplit("/", 1)[-1] in exempt or not (repo / path).is_file():
                continue
            assert any(path == d or path.startswith(d.rstrip("/") + "/") for d in allowed), \
                f"{entry['command']} reads {path}, which its stage does not declare"


def check_dvc_views(sh) -> None:  # noqa: ANN001 - the project's command runner
    """`dvc metrics show` and `dvc exp show` print the headline numbers, and no provenance."""
    shown = json.loads(sh("dvc", "metrics", "show", "--json").stdout)
    files = {path: entry["data"] for rev in shown.values() for path, entry in rev["data"].items()}
    assert set(files) == {"metrics/classifier.json", "metrics/eval/dcgan-0.json", "metrics/train/dcgan-0.json"}
    assert "fid40" in files["metrics/eval/dcgan-0.json"] and "g_steps" in files["metrics/train/dcgan-0.json"]
    assert not any(isinstance(v, dict) for data in files.values() for v in data.values()), files
    # dvc exp show tables commits (and the workspace): commit this first run.
    sh("git", "add", "-A")
    sh("git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "first run")
    header = sh("dvc", "exp", "show", "--csv").stdout.splitlines()[0].split(",")
    for name in ("fid40", "fd_domain40", "class_kl40", "g_steps", "train_accuracy"):  # bare, or file:name
        assert any(column.split(":")[-1] == name for column in header), (name, header)
    # No provenance column ("<file>.provenance.json:…", or "fid40.num_gen" as once nested).
    assert not any("provenance.json" in c or c.split(":")[-1].startswith("fid40.") for c in header), header


def run_of(repo: Path) -> str:
    return json.loads((repo / "models/dcgan-0/run.json").read_text())["run_id"]


def history_steps(repo: Path, name: str = "loss_D") -> list[int]:
    lines = (repo / "models/dcgan-0/history.csv").read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines if line.split(",")[1] == name]


def mlflow_client(repo: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{repo.resolve()}/mlflow.db")


def test_dvc_reruns_do_the_right_thing(project):
    repo, sh = project

    # 1. A first run runs every stage.
    ran, _ = sh.repro()
    assert set(ran) == {"download", "preprocess", "fid-weights", "reference", "classifier", "domain-reference",
                        "probe-reference", "train@dcgan-0", "sample@dcgan-0", "evaluate@dcgan-0", "report"}
    check_declared_reads(repo)
    run_id = run_of(repo)
    # The metrics files DVC shows hold the headline numbers; how they were made sits beside them.
    headline = json.loads((repo / "metrics/eval/dcgan-0.json").read_text())
    assert set(headline) == {"fid40", "kid40", "kid40_std", "precision40", "recall40", "fd_domain40",
                             "kid_domain40", "kid_domain40_std", "class_kl40", "classes_covered40"}
    assert set(json.loads((repo / "metrics/train/dcgan-0.json").read_text())) == {
        "kimg", "g_steps", "d_steps", "wall_clock_s", "images_per_s", "eval_wall_clock_s"}
    check_dvc_views(sh)
    train = read_result(repo / "metrics/train/dcgan-0.json", "train")
    assert train["kimg"] == pytest.approx(0.64) and train["g_steps"] == 40
    assert train["mlflow_run"] == {"run_id": run_id, "experiment": "e2e"}   # where the report finds the run
    ev = read_result(repo / "metrics/eval/dcgan-0.json", "evaluate")
    assert {"fid40", "kid40", "precision40", "recall40", "fd_domain40", "kid_domain40", "class_kl40"} <= set(ev)
    assert ev["provenance"]["fid40"]["num_gen"] == 40 and ev["provenance"]["fid40"]["num_real"] == 40
    assert np.isfinite(ev["fid40"]) and ev["provenance"]["fid40"]["samples"]["generator"] == "ema"
    assert train["best"]["metric"] == "fd_domain40" and (repo / "models/dcgan-0/best.pt").is_file()
    assert (repo / "plots/curves/dcgan-0.csv").read_text().startswith("step,kimg,name,value\n")
    assert (repo / "plots/losses/dcgan-0.csv").read_text().startswith("step,name,value\n")
    assert history_steps(repo) == list(range(5, 41, 5))
    client = mlflow_client(repo)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.kimg"] == "0.64" and run.data.params["loss.name"] == "nonsaturating"
    assert run.data.params["variant"] == "dcgan" and run.data.params["model.z_dim"] == "16"
    assert run.data.tags["variant"] == "dcgan" and run.data.tags["dataset"] == "idx-folder"
    assert run.data.tags["dvc_stage.train"] == "train@dcgan-0" and "git_commit" in run.data.tags
    assert run.data.tags["seed"] == "0" and run.data.tags["ganbench.pipeline"]
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.data.tags["ganbench.pipeline_parent"] == run.data.tags["ganbench.pipeline"]
    assert parent.info.status == "FINISHED" and parent.info.start_time == run.info.start_time
    assert parent.info.end_time == run.info.end_time
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {"report"}
    assert client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    assert sorted(i.tags[0].value for i in run.inputs.dataset_inputs) == ["evaluation", "training"]
    assert [m.step for m in run.outputs.model_outputs] == [40]
    assert [m.step for m in client.get_metric_history(run_id, "loss_D")] == list(range(5, 41, 5))
    assert run.data.metrics["eval/fid40"] == pytest.approx(ev["fid40"])
    assert list(run.data.metrics)[:2] == ["eval/fid40", "eval/kid40"]  # first in MLflow's compare view
    noise = ev["provenance"]["fid40"]["eval_noise"]                  # the evaluation-noise interval, both places
    assert noise["low"] < ev["fid40"] < noise["high"]
    assert run.data.metrics["eval_noise/fid40_high"] == pytest.approx(noise["high"])
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"images", "report", "samples", "eval"} <= artifacts
    images = [a.path for a in client.list_artifacts(run_id, "images")]
    assert any("samples+step+20+" in p for p in images), images
    # No machine paths inside DVC outputs.
    for path in ["data/raw/idx-folder/manifest.json", "data/processed/meta.json", "models/inception/weights.json",
                 "data/reference/meta.json", "models/dcgan-0/run.json", "metrics/train/dcgan-0.json",
                 "metrics/eval/dcgan-0.json", "reports/report.md", "reports/index.html"]:
        assert str(repo.parent) not in (repo / path).read_text(), path
    # The sample file is byte-identical when another process draws it again.
    sh("ganbench", "sample", "dcgan", "--seed", "0", "--checkpoint", "models/dcgan-0/checkpoint.pt",
       "--best", "models/dcgan-0/best.pt", "--run", "none.json", "--out", "again.npz", "--grid", "again.png")
    assert (repo / "again.npz").read_bytes() == (repo / "samples/dcgan-0.npz").read_bytes()

    # Every stage loaded exactly the package code dvc.yaml declares for it, and only the
    # reference, domain-reference and evaluate stages read the test split.
    check_traced_code(repo)
    check_test_split_reads(repo)

    # 2. Nothing changed: nothing runs.
    ran, text = sh.repro()
    assert ran == [], text

    # 3. Forcing a finished training stage succeeds, continues the run, changes nothing.
    ckpt = (repo / "models/dcgan-0/checkpoint.pt").read_bytes()
    ran, _ = sh.repro("-f", "-s", "train@dcgan-0")
    assert ran == ["train@dcgan-0"]
    assert run_of(repo) == run_id and (repo / "models/dcgan-0/checkpoint.pt").read_bytes() == ckpt
    assert history_steps(repo) == list(range(5, 41, 5))
    assert [m.step for m in client.get_metric_history(run_id, "loss_D")] == list(range(5, 41, 5))
    assert [m.step for m in client.get_run(run_id).outputs.model_outputs] == [40]  # logged once
    ran, text = sh.repro()
    assert ran == [], text  # the rerun's outputs hash as before: nothing downstream reruns

    # 4. A runtime knob changes no result: nothing reruns.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["runtime"]["log_every"] = 4
    params["runtime"]["eval_batch_size"] = 10
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ran, text = sh.repro()
    assert ran == [], text
    params["runtime"]["log_every"] = 5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    # 5. A larger budget resumes: same MLflow run, history appended without duplicates.
    params["train"]["kimg"] = 0.96
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ran, text = sh.repro()
    assert ran[0] == "train@dcgan-0" and "resuming at 0.64 kimg" in text, text
    assert {"sample@dcgan-0", "evaluate@dcgan-0", "report"} <= set(ran)
    assert run_of(repo) == run_id
    assert history_steps(repo) == list(range(5, 61, 5))
    assert [m.step for m in client.get_metric_history(run_id, "loss_D")] == list(range(5, 61, 5))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["resumed_from_kimg"] == "0.640"
    assert sorted(m.step for m in run.outputs.model_outputs) == [40, 60]
    assert json.loads((repo / "metrics/train/dcgan-0.json").read_text())["g_steps"] == 60
    # dvc exp show --only-changed, the workspace against the first run's commit: the
    # budget and the scores it moved, no column that stayed the same.
    header = sh("dvc", "exp", "show", "--only-changed", "--csv").stdout.splitlines()[0].split(",")
    names = {column.split(":")[-1] for column in header}
    assert {"train.kimg", "g_steps", "fid40", "fd_domain40"} <= names, header
    assert not names & {"data.dataset", "seeds", "train_accuracy", "sample.num"}, header

    # 6. A change to the training code retrains from scratch, in a new run.
    loss = repo / "src/ganbench/losses/nonsaturating.py"
    loss.write_text(loss.read_text() + "\n# a change to the objective's module\n")
    ran, text = sh.repro()
    assert ran[0] == "train@dcgan-0" and "training from scratch: the training code changed" in text, text
    assert run_of(repo) != run_id
    assert history_steps(repo) == list(range(5, 61, 5))
    assert read_result(repo / "metrics/train/dcgan-0.json", "train")["g_steps"] == 60
    new = client.get_run(run_of(repo))
    assert new.info.status == "FINISHED" and "resumed_from_kimg" not in new.data.tags

    # 7. A lower budget than the checkpoint's is refused; the model folder is untouched.
    before = {p: (repo / p).read_bytes() for p in ("models/dcgan-0/run.json", "models/dcgan-0/checkpoint.pt",
                                                   "models/dcgan-0/history.csv")}
    params["train"]["kimg"] = 0.32
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh("dvc", "repro", check=False)
    assert out.returncode != 0 and "trained past the budget" in out.stdout + out.stderr
    assert all((repo / p).read_bytes() == b for p, b in before.items())
    trained = client.search_runs([new.info.experiment_id], filter_string="tags.variant = 'dcgan'")
    assert len(trained) == 2  # the first run and the retrained one; no run for the refused budget

    # DVC removed the stage's unpersisted outputs before the refused run; going back to
    # the trained budget restores them from the model folder and changes nothing downstream.
    params["train"]["kimg"] = 0.96
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ran, text = sh.repro()
    assert ran == ["train@dcgan-0"], text
    assert all((repo / p).read_bytes() == b for p, b in before.items())

    # 8. Adding a seed runs only the new seed's stages and the report.
    params["seeds"] = [0, 1]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ran, text = sh.repro()
    assert set(ran) == {"train@dcgan-1", "sample@dcgan-1", "evaluate@dcgan-1", "report"}, text
    assert run_of(repo) == new.info.run_id
    seeds = {r.data.tags["seed"] for r in client.search_runs([new.info.experiment_id],
                                                             filter_string="tags.variant = 'dcgan'")}
    assert seeds == {"0", "1"}


def test_bad_inputs_fail_with_one_clear_line(tmp_path, monkeypatch):
    make_fake_dataset(tmp_path / "idx", n_train=32, n_test=16)
    monkeypatch.chdir(tmp_path)
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), tiny_overlay(tmp_path / "idx"))
    params["train"]["kimg"] = "ten"
    Path("params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(app, ["train", "dcgan"])
    assert result.exit_code == 1
    assert "train.kimg" in result.output and "Traceback" not in result.output

    params["train"]["kimg"] = 0.1
    Path("params.yaml").write_text(yaml.safe_dump(params))
    Path("models/dcgan-0").mkdir(parents=True)
    Path("models/dcgan-0/checkpoint.pt").write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(app, ["sample", "dcgan"])
    assert result.exit_code == 1 and "unreadable" in result.output

    result = CliRunner().invoke(app, ["evaluate", "dcgan"])
    assert result.exit_code == 1 and "samples" in result.output
