"""A throwaway git + DVC copy of the project for pipeline tests (the end-to-end, team
and distributed tests): the code, dvc.yaml, the project's ``.gitignore`` and params.yaml
with a tiny overlay, the copy's ``pipeline/`` on the import path, a ``Shell`` to run
commands in it, and a loopback MLflow tracking server."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from tests.fixtures import make_fake_dataset

__all__ = [
    "BIN",
    "READS_TEST_SPLIT",
    "TEST_DERIVED",
    "ROOT",
    "MlflowServer",
    "Shell",
    "make_project",
    "merge",
    "mlflow_server",
    "shell_for",
    "tiny_overlay",
]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: Only these stages may read the test split or anything made from it.
READS_TEST_SPLIT = frozenset({"reference", "domain-reference", "evaluate"})
#: The processed test split, and the references made from it (the outputs of the
#: reference and domain-reference stages).
TEST_DERIVED = ("data/processed/test.pt", "data/reference/", "data/domain-reference/")


def tiny_overlay(source_dir: Path) -> dict:
    return {
        "data": {"dataset": "idx-folder", "source_dir": str(source_dir), "allow_download": False},
        "variants": ["dcgan"],
        "seeds": [0],
        "train": {"budget": "kimg", "kimg": 0.64, "batch_size": 16, "ema_kimg": 0.05, "eval_every_kimg": 0.32,
                  "eval_num": 40, "eval_num_real": 0, "ema_bn_batches": 2},
        "sample": {"num": 40, "seed": 1, "batch_size": 20, "grid_size": 16},
        "evaluate": {"reference_split": "test", "num_gen": 40, "num_real": 40, "domain_num_gen": 40,
                     "domain_num_real": 0, "kid_subset_size": 20, "kid_subsets": 5, "weights_source": "fid-helper"},
        "classifier": {"epochs": 1, "width": 8, "feature_dim": 32, "batch_size": 64},
        "runtime": {"device": "cpu", "log_every": 5, "image_every": 20, "checkpoint_every_kimg": 0.32,
                    "grid_size": 16, "eval_batch_size": 20},
        "mlflow": {"experiment": "e2e", "system_metrics": False},
        "dcgan": {"model": {"z_dim": 16, "g_channels": 8, "d_channels": 8}},
    }


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Shell:
    def __init__(self, cwd: Path, env: dict) -> None:
        self.cwd, self.env = cwd, env

    def __call__(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(cmd, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=600)
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out

    def repro(self, *args: str) -> tuple[list[str], str]:
        out = self("dvc", "repro", *args)
        text = out.stdout + out.stderr
        return re.findall(r"Running stage '([^']+)'", text), text


GIT_USER = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t"}


def base_env(**extra: str) -> dict[str, str]:
    """The environment every command of these tests runs in: the venv's tools first, no
    telemetry, no tracking URI inherited from the caller."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "CI": "true",
           "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true", **GIT_USER}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("GANBENCH_TRACE_MODULES", None)
    env.update(extra)
    return env


def shell_for(repo: Path, **extra: str) -> Shell:
    """A Shell in ``repo`` whose ``ganbench`` imports that repository's code: ``src/``
    for ``ganbench`` and ``pipeline/`` (through a ``ganbench_pipeline`` link beside the
    repository) for the stage commands, not the editable install's."""
    shim = repo.parent / f"{repo.name}-imports"
    shim.mkdir(exist_ok=True)
    link = shim / "ganbench_pipeline"
    if not link.exists():
        link.symlink_to(repo / "pipeline", target_is_directory=True)
    return Shell(repo, base_env(PYTHONPATH=f"{repo / 'src'}{os.pathsep}{shim}", **extra))


def make_project(tmp: Path, overlay: dict | None = None, **env: str) -> tuple[Path, Shell]:
    """``tmp/repo``: git + DVC repository with a copy of the code, dvc.yaml, the project's
    .gitignore/.dvcignore and params.yaml with the end-to-end test's tiny overlay (and
    ``overlay`` on top), the fake dataset in ``tmp/idx``. Nothing is committed yet."""
    make_fake_dataset(tmp / "idx", n_train=128, n_test=64)
    repo = tmp / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", repo / "src", ignore=ignore)
    shutil.copytree(ROOT / "pipeline", repo / "pipeline", ignore=ignore)
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), tiny_overlay(tmp / "idx"))
    params = merge(params, overlay or {})
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh = shell_for(repo, **env)
    sh("git", "init", "-q")
    sh("dvc", "init", "-q")
    sh("dvc", "config", "core.analytics", "false")
    (repo / ".dvc" / "plots").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".dvc" / "plots" / "series.json", repo / ".dvc" / "plots" / "series.json")
    return repo, sh


# ----------------------------------------------------------------------- MLflow server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port (a socket can bind it; TIME_WAIT leftovers of
    closed connections do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
        except OSError:
            return False
    return True


def live_members(pgid: int) -> list[int]:
    """PIDs of the process group's members that are not zombies."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            pids.append(int(stat.parent.name))
    return pids


class MlflowServer:
    """A running ``mlflow server`` and plain-HTTP access to its REST API."""

    def __init__(self, proc: subprocess.Popen, port: int, artifacts: Path, log: Path) -> None:
        self.proc, self.port, self.artifacts, self.log = proc, port, artifacts, log
        self.url = f"http://127.0.0.1:{port}"

    def get(self, endpoint: str, /, **query: str) -> dict:
        url = f"{self.url}{endpoint}?{urllib.parse.urlencode(query)}" if query else f"{self.url}{endpoint}"
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def raw(self, path: str) -> bytes:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as resp:
            return resp.read()

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mlflow server exited ({self.proc.returncode}):\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(1.0)
        raise AssertionError(f"mlflow server did not answer in {timeout_s:.0f} s:\n{self.log.read_text()}")

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM to the server's process group (``mlflow server`` and its uvicorn or
        gunicorn workers), SIGKILL to whatever is left after ``timeout_s``."""
        pgid = self.proc.pid  # started with start_new_session: its own group
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if self.proc.poll() is not None and not live_members(pgid):
                    return
                time.sleep(0.2)
        self.proc.wait(timeout=5)


@contextmanager
def mlflow_server(tmp: Path, port: int | None = None) -> Iterator[MlflowServer]:
    """``mlflow server`` on a loopback port (free, or ``port``) with a SQLite backend
    store in ``tmp`` and proxied artifacts in ``tmp/artifacts``; stopped (its whole
    process group) on exit, whatever happens."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    artifacts = tmp / "artifacts"
    log = tmp / f"server-{time.monotonic_ns()}.log"
    cmd = [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
           "--artifacts-destination", str(artifacts), "--serve-artifacts",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "wb") as out:
        # Job execution (GenAI jobs: a runner and a pool of huey consumers) is not needed.
        env = base_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = MlflowServer(proc, port, artifacts, log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
