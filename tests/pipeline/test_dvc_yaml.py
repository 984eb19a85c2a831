"""dvc.yaml states exactly what each stage runs and reads: its code deps are
ganbench.provenance.STAGE_CODE, its params never the runtime knobs, and every path
it touches is in its cmd."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ganbench.config.schema import SECTIONS
from ganbench.provenance import STAGE_CODE, code_fingerprint
from tests.pipeline.dvc_yaml import DVC, STAGES, body, paths

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stage", sorted(STAGE_CODE))
def test_code_deps_are_exactly_what_the_stage_runs(stage):
    code = [d for d in paths(body(stage).get("deps")) if d.startswith(("src/", "pipeline/"))]
    assert sorted(code) == sorted(STAGE_CODE[stage])
    assert f"pipeline/{stage.replace('-', '_')}.py" in code
    code_fingerprint(stage)  # every listed path exists in the installed package


def test_every_stage_is_listed():
    assert set(STAGES) == set(STAGE_CODE)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_no_stage_depends_on_runtime_or_mlflow_params(stage):
    for p in body(stage).get("params", []):
        key = p if isinstance(p, str) else next(iter(p))
        assert not key.startswith(("runtime", "mlflow")), key
        assert key in ("${item.variant}",) or key.split(".")[0] in SECTIONS, key


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_path_the_stage_touches_is_in_its_cmd(stage):
    b = body(stage)
    cmd = " ".join(b["cmd"].split())
    data_deps = [d for d in paths(b.get("deps")) if not d.startswith(("src/", "pipeline/"))]
    outs = paths(b.get("outs")) + paths(b.get("metrics")) + paths(b.get("plots"))
    for p in data_deps + outs:
        assert p in cmd or p.rsplit("/", 1)[0] in cmd, f"{stage}: {p} is not in its cmd"


def test_plots_follow_the_variants():
    """One top-level definition over a folder: a new variant's plot needs no edit."""
    assert all("${item}" not in str(p) for p in DVC["plots"])
    text = (ROOT / "dvc.yaml").read_text()
    assert not re.search(r"plots/(dcgan|wgan_gp|stylegan)", text)
    assert (ROOT / ".dvc" / "plots" / "series.json").is_file()


def test_every_package_is_shipped():
    """pyproject lists every package folder, so a wheel install works like the checkout."""
    shipped = set(re.findall(r'"(ganbench[\w.]*)"', (ROOT / "pyproject.toml").read_text()))
    found = {".".join(p.relative_to(ROOT / "src").parts[:-1]) for p in (ROOT / "src").rglob("__init__.py")}
    assert found <= shipped, found - shipped


@pytest.mark.parametrize("stage", ["reference", "evaluate"])
def test_inception_stages_rerun_when_the_input_path_changes(stage):
    """Both sides of an Inception score go through evaluate.inception_preprocess, so the
    reference and every evaluation depend on it (a changed path re-makes both)."""
    keys = [p if isinstance(p, str) else next(iter(p)) for p in body(stage).get("params", [])]
    assert any(k in ("evaluate", "evaluate.inception_preprocess") for k in keys), keys
