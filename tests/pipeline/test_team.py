"""How a team shares ganbench, with real components on loopback only: the tiny pipeline
(`dvc repro`) logging to a shared `mlflow server` (database backend store, artifacts
served through the server), read back over plain HTTP; and a DVC remote through which a
second clone gets every result, so that its `dvc repro` runs nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.pipeline.project import live_members, make_project, mlflow_server, port_is_free, shell_for

pytestmark = pytest.mark.timeout(900)

STAGES = {"download", "preprocess", "fid-weights", "reference", "classifier", "domain-reference",
          "probe-reference", "train@dcgan-0", "sample@dcgan-0", "evaluate@dcgan-0", "report"}
LOSS_STEPS = list(range(5, 41, 5))  # the tiny params: 40 G steps, flushed every 5


def run_id_of(repo: Path) -> str:
    return json.loads((repo / "models/dcgan-0/run.json").read_text())["run_id"]


def search_dcgan_runs(server, exp_name: str) -> list[dict]:
    exp_id = server.get("/api/2.0/mlflow/experiments/get-by-name", experiment_name=exp_name)["experiment"][
        "experiment_id"]
    return server.post("/api/2.0/mlflow/runs/search",
                       {"experiment_ids": [exp_id], "filter": "tags.variant = 'dcgan'"}).get("runs", [])


def test_pipeline_logs_to_a_shared_tracking_server(tmp_path):
    with mlflow_server(tmp_path / "server") as server:
        repo, sh = make_project(tmp_path, {"mlflow": {"experiment": "team"}}, MLFLOW_TRACKING_URI=server.url)
        ran, text = sh.repro()
        assert set(ran) == STAGES, text

        # Nothing was tracked inside the repository: runs and artifacts are the server's.
        assert not (repo / "mlflow.db").exists() and not (repo / "mlartifacts").exists()

        exp = server.get("/api/2.0/mlflow/experiments/get-by-name", experiment_name="team")["experiment"]
        exp_id = exp["experiment_id"]
        assert exp["artifact_location"] == f"mlflow-artifacts:/{exp_id}"  # the server's, not a repo path
        runs = search_dcgan_runs(server, "team")
        assert len(runs) == 1, runs  # one run per trained (variant, seed)
        run = runs[0]
        run_id = run["info"]["run_id"]
        assert run_id == run_id_of(repo) and run["info"]["status"] == "FINISHED"

        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        assert tags["variant"] == "dcgan" and tags["seed"] == "0" and tags["dataset"] == "idx-folder"
        assert {tags[f"dvc_stage.{s}"] for s in ("train", "sample", "evaluate", "report")} == {
            "train@dcgan-0", "sample@dcgan-0", "evaluate@dcgan-0", "report@dcgan-0"}
        # The pipeline's parent run is the only other run of the experiment.
        everything = server.post("/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id]})["runs"]
        assert len(everything) == 2
        parent = next(r for r in everything if r["info"]["run_id"] == tags["mlflow.parentRunId"])
        assert {t["key"]: t["value"] for t in parent["data"]["tags"]}["ganbench.pipeline_parent"] == \
            tags["ganbench.pipeline"]

        params = {p["key"]: p["value"] for p in run["data"]["params"]}
        assert params["train.kimg"] == "0.64" and params["loss.name"] == "nonsaturating"
        assert {t["key"]: t["value"] for t in exp["tags"]}["mlflow.experimentKind"] == "custom_model_development"

        def history(key: str) -> list[int]:
            got = server.get("/api/2.0/mlflow/metrics/get-history", run_id=run_id, metric_key=key)
            return sorted(m["step"] for m in got["metrics"])

        assert history("loss_D") == LOSS_STEPS  # every flushed step once
        assert history("loss_G") == LOSS_STEPS
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        ev = json.loads((repo / "metrics/eval/dcgan-0.json").read_text())
        for key in ("fid40", "kid40", "precision40", "recall40", "fd_domain40"):
            assert metrics[f"eval/{key}"] == pytest.approx(ev[key], rel=1e-6), key
        # The training-time metric (train.eval_num = 40) keeps its own name beside the
        # evaluation's eval/fd_domain40, at generator steps.
        domain = server.get("/api/2.0/mlflow/metrics/get-history", run_id=run_id, metric_key="fd_domain40")
        assert sorted(m["step"] for m in domain["metrics"]) == [20, 40], domain
        assert metrics["train/g_steps"] == 40
        # The generator went through the server as the run's model, at its last step.
        outputs = server.get("/api/2.0/mlflow/runs/get", run_id=run_id)["run"]["outputs"]["model_outputs"]
        assert [int(o["step"]) for o in outputs] == [40], outputs

        # Artifacts went through the server into its destination.
        assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"

        def listed(path: str = "") -> set[str]:
            got = server.get("/api/2.0/mlflow/artifacts/list", run_id=run_id, path=path)
            return {f["path"] for f in got.get("files", [])}

        assert {"images", "samples", "eval", "report"} <= listed()
        images = listed("images")
        assert any(p.startswith("images/samples+step+20+") and p.endswith(".png") for p in images), images
        assert listed("samples") == {"samples/dcgan-0.png"}
        assert listed("eval") == {"eval/dcgan-0.json"}
        report_files = sorted(p.name for p in (repo / "reports").iterdir() if p.is_file())
        assert {"report.md", "metrics.csv", "index.html"} <= set(report_files), report_files
        assert listed("report") == {f"report/{name}" for name in report_files}
        stored = server.artifacts / exp_id / run_id / "artifacts"
        for name in report_files:
            local = (repo / "reports" / name).read_bytes()
            assert (stored / "report" / name).read_bytes() == local, name
            assert server.raw(f"/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts/report/{name}") \
                == local, name
        assert (stored / "samples/dcgan-0.png").read_bytes() == (repo / "samples/dcgan-0.png").read_bytes()

        # A forced rerun of the finished training stage finds its run on the server and
        # continues it: no new run, no duplicated steps; then nothing is left to run.
        ran, text = sh.repro("-f", "-s", "train@dcgan-0")
        assert ran == ["train@dcgan-0"] and "resuming" in text and "not in the tracking store" not in text, text
        assert run_id_of(repo) == run_id
        runs = search_dcgan_runs(server, "team")
        assert [r["info"]["run_id"] for r in runs] == [run_id] and runs[0]["info"]["status"] == "FINISHED"
        assert history("loss_D") == LOSS_STEPS
        ran, text = sh.repro()
        assert ran == [], text
        assert not (repo / "mlflow.db").exists() and not (repo / "mlartifacts").exists()

    # The server and its workers are gone, and so is its listening socket.
    assert server.proc.returncode is not None
    assert live_members(server.proc.pid) == []
    assert port_is_free(server.port)


def tree(root: Path) -> dict[str, bytes]:
    """Every file of a clone's work tree (git's and DVC's), without .git, DVC's cache and
    tmp, the local MLflow store and bytecode."""
    skip = {".git", "mlflow.db", "mlartifacts", "__pycache__"}
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or skip & set(rel.parts) or rel.parts[:2] in {(".dvc", "cache"), (".dvc", "tmp")}:
            continue
        out[rel.as_posix()] = path.read_bytes()
    return out


def test_a_second_clone_pulls_every_result_and_reruns_nothing(tmp_path):
    remote = tmp_path / "remote"
    with mlflow_server(tmp_path / "server") as server:
        # The team's server is named in params.yaml, so every clone logs there (no
        # MLFLOW_TRACKING_URI in either environment; `mlflow` is no stage's param).
        repo_a, a = make_project(tmp_path / "a", {"mlflow": {"tracking_uri": server.url, "experiment": "team"}})
        a("dvc", "remote", "add", "-d", "store", str(remote))  # in .dvc/config: shared through git
        a("git", "add", "-A")
        a("git", "commit", "-qm", "ganbench project")

        ran, text = a.repro()
        assert set(ran) == STAGES, text

        # DVC asks git to track dvc.lock and the .gitignore files that hide its cached
        # outputs. The `cache: false` outputs (metrics, plots) are neither cached nor
        # ignored: they are committed to git, or another clone does not have them.
        suggested = re.search(r"git add (.+)", text)
        assert suggested, text
        to_add = suggested.group(1).split()
        assert "dvc.lock" in to_add and not any(p.startswith(("metrics", "plots")) for p in to_add), to_add
        uncached = ["metrics/classifier.json", "metrics/train/dcgan-0.json", "metrics/eval/dcgan-0.json",
                    "plots/losses/dcgan-0.csv", "plots/curves/dcgan-0.csv"]
        for path in uncached:
            assert a("git", "check-ignore", "-q", path, check=False).returncode == 1, f"{path} is git-ignored"
        for path in ("data/raw", "models/dcgan-0", "samples/dcgan-0.npz", "reports"):
            assert a("git", "check-ignore", "-q", path, check=False).returncode == 0, f"{path} is not ignored"
        a("git", "add", *to_add, "metrics", "plots")
        a("git", "commit", "-qm", "dvc repro: tiny params")
        assert a("git", "status", "--porcelain").stdout == ""  # every file is in git or in DVC's cache

        pushed = a("dvc", "push")
        assert re.search(r"\d+ files? pushed", pushed.stdout + pushed.stderr), pushed.stdout
        assert any((remote / "files" / "md5").rglob("*"))
        assert "in sync" in a("dvc", "status", "--cloud").stdout

        # Clone B: git gives code, params, dvc.lock, metrics and plots; `dvc pull` the
        # rest, the persistent model folder too (`persist: true` only keeps `dvc repro`
        # from deleting it before the stage runs; it is cached and pushed like any output).
        repo_b = tmp_path / "b" / "repo"
        repo_b.parent.mkdir()
        a("git", "clone", "-q", str(repo_a), str(repo_b))
        b = shell_for(repo_b)
        assert not (repo_b / "models/dcgan-0").exists() and (repo_b / "metrics/eval/dcgan-0.json").is_file()
        assert "Data and pipelines are up to date" not in b("dvc", "status").stdout
        b("dvc", "pull")

        ran, text = b.repro()
        assert ran == [] and "Running stage" not in text, text
        assert "Data and pipelines are up to date" in b("dvc", "status").stdout
        assert "in sync" in b("dvc", "status", "--cloud").stdout
        assert b("git", "status", "--porcelain").stdout == ""
        files_a, files_b = tree(repo_a), tree(repo_b)
        assert sorted(files_b) == sorted(files_a)
        assert [p for p in files_a if files_a[p] != files_b[p]] == []
        for path in (*uncached, "models/dcgan-0/checkpoint.pt", "models/dcgan-0/run.json", "reports/report.md",
                     "reports/metrics.csv", "reports/index.html", "samples/dcgan-0.npz"):
            assert path in files_b, path
        shown = json.loads(b("dvc", "metrics", "show", "--json").stdout)
        assert shown == json.loads(a("dvc", "metrics", "show", "--json").stdout)

        # Clone C does both in one command: `dvc repro --pull` fetches what is missing
        # instead of running the stages that made it.
        repo_c = tmp_path / "c" / "repo"
        repo_c.parent.mkdir()
        a("git", "clone", "-q", str(repo_a), str(repo_c))
        c = shell_for(repo_c)
        ran, text = c.repro("--pull")
        assert ran == [] and "Running stage" not in text, text
        assert "Data and pipelines are up to date" in c("dvc", "status").stdout
        assert tree(repo_c) == files_a

        # B raises the budget: training resumes A's pulled checkpoint and continues A's
        # MLflow run on the shared server.
        run_id = run_id_of(repo_a)
        params = yaml.safe_load((repo_b / "params.yaml").read_text())
        params["train"]["kimg"] = 0.96
        (repo_b / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        ran, text = b.repro()
        assert ran[0] == "train@dcgan-0" and "resuming at 0.64 kimg" in text, text
        assert "not in the tracking store" not in text and "not logged" not in text, text
        assert run_id_of(repo_b) == run_id
        runs = search_dcgan_runs(server, "team")
        assert [r["info"]["run_id"] for r in runs] == [run_id] and runs[0]["info"]["status"] == "FINISHED"
        got = server.get("/api/2.0/mlflow/metrics/get-history", run_id=run_id, metric_key="loss_D")
        assert sorted(m["step"] for m in got["metrics"]) == list(range(5, 61, 5))

    assert live_members(server.proc.pid) == [] and port_is_free(server.port)
    for big in ("a", "b", "c", "remote"):  # four copies of every output (Inception weights included)
        shutil.rmtree(tmp_path / big)
