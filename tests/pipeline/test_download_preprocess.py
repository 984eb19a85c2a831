"""The `download` and `preprocess` stage commands, run through Typer in-process."""

from __future__ import annotations

import json
import sys
import types

import pytest
import typer
from typer.testing import CliRunner

from tests.fixtures import FIXTURE_NAME, make_fake_dataset, register_fixture_dataset
from ganbench.data.sources import ENV_VAR
from ganbench_pipeline import download, preprocess

PARAMS = f"""\
variants: []
data:
  dataset: {FIXTURE_NAME}
  source_dir: {{source_dir}}
  allow_download: false
  resolution: 32
"""


@pytest.fixture
def app():
    """A local app holding only the two data stages (cli.py imports every stage)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.add_typer(download.app)
    app.add_typer(preprocess.app)
    return app


@pytest.fixture(autouse=True)
def _variants_registry(monkeypatch):
    """load_params needs ganbench.models.VARIANTS; stand in for it only while that
    module cannot be imported yet (the params files here use ``variants: []``)."""
    try:
        from ganbench.models import VARIANTS  # noqa: F401
    except ImportError:
        from ganbench.registry import Registry

        stub = types.ModuleType("ganbench.models")
        stub.VARIANTS = Registry("variant")
        monkeypatch.setitem(sys.modules, "ganbench.models", stub)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repo-like folder (cwd) with a params.yaml whose relative source_dir holds the fixture."""
    spec = make_fake_dataset(tmp_path / "fixture-src", n_train=24, n_test=12)
    (tmp_path / "params.yaml").write_text(PARAMS.format(source_dir="fixture-src"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    with register_fixture_dataset(spec):
        yield tmp_path


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_download_then_preprocess_with_defaults(app, repo):
    runner = CliRunner()
    result = runner.invoke(app, ["download"])
    assert result.exit_code == 0, result.output
    line = _one_line(result.stdout)
    assert FIXTURE_NAME in line and "4 files verified" in line and "source_dir" in line
    raw = repo / "data" / "raw" / FIXTURE_NAME
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["source"] == {"kind": "source_dir", "from": "data.source_dir"}
    assert str(repo) not in (raw / "manifest.json").read_text()

    result = runner.invoke(app, ["preprocess", "--params", "params.yaml"])
    assert result.exit_code == 0, result.output
    line = _one_line(result.stdout)
    assert "train 24" in line and "test 12" in line and "1x32x32" in line
    out = repo / "data" / "processed"
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "test.pt", "train.pt"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["dataset"] == FIXTURE_NAME and meta["splits"]["train"]["shape"] == [24, 1, 32, 32]


def test_explicit_paths(app, repo, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    runner = CliRunner()
    params = str(repo / "params.yaml")
    result = runner.invoke(app, ["download", "-p", params, "--out", str(elsewhere / "r")])
    assert result.exit_code == 0, result.output
    assert (elsewhere / "r" / FIXTURE_NAME / "manifest.json").is_file()
    result = runner.invoke(
        app, ["preprocess", "-p", params, "--raw", str(elsewhere / "r"), "--out", str(elsewhere / "p")]
    )
    assert result.exit_code == 0, result.output
    assert (elsewhere / "p" / "train.pt").is_file()


def test_unknown_params_key(app, repo):
    (repo / "params.yaml").write_text("variants: []\ndata: {datset: x}\n")
    for command in ("download", "preprocess"):
        result = CliRunner().invoke(app, [command])
        assert result.exit_code == 1
        line = _one_line(result.stderr)
        assert line.startswith("error: ") and "data.datset" in line
        assert "Traceback" not in result.output


def test_nothing_found(app, repo):
    (repo / "params.yaml").write_text(PARAMS.format(source_dir="missing-dir"))
    result = CliRunner().invoke(app, ["download"])
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    assert "data.source_dir" in line and ENV_VAR in line and "missing-dir" in line


def test_env_var_source(app, repo, monkeypatch):
    (repo / "params.yaml").write_text(PARAMS.format(source_dir="null"))
    monkeypatch.setenv(ENV_VAR, str(repo / "fixture-src"))
    result = CliRunner().invoke(app, ["download"])
    assert result.exit_code == 0, result.output
    assert "env" in _one_line(result.stdout)


def test_preprocess_before_download(app, repo):
    result = CliRunner().invoke(app, ["preprocess"])
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    assert "manifest.json not found" in line and "ganbench download" in line


def test_unknown_dataset(app, repo):
    (repo / "params.yaml").write_text("variants: []\ndata: {dataset: cifar-11}\n")
    result = CliRunner().invoke(app, ["download"])
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    assert "unknown dataset 'cifar-11'" in line and "fashion-mnist" in line
