"""benchmarks/gate_power.py's plants stay plantable: each code plant's text is in today's
source (else the benchmark stops with "update the plant"), the tests it runs are the
folder that mirrors the edited package, and a plant's edit is undone after it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def gate_power():
    spec = importlib.util.spec_from_file_location("gate_power", ROOT / "benchmarks" / "gate_power.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gate_power", module)  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


CODE_PLANTS = [p for p in gate_power().PLANTS.values() if p.code is not None]


@pytest.mark.parametrize("plant", CODE_PLANTS, ids=lambda p: p.name)
def test_a_code_plant_edits_text_that_is_in_the_source_once(plant):
    path, old, new = plant.code
    text = (ROOT / path).read_text()
    assert text.count(old) == 1, f"{plant.name}: its edit no longer applies to {path}; update the plant"
    assert old != new


@pytest.mark.parametrize("plant", CODE_PLANTS, ids=lambda p: p.name)
def test_a_code_plant_runs_the_tests_that_mirror_its_package(plant):
    package = Path(plant.code[0]).parent.name  # src/ganbench/training/ema.py -> training
    assert plant.tests == f"tests/{package}"
    assert (ROOT / plant.tests).is_dir()


def test_params_plants_run_no_tests():
    assert all(p.tests is None for p in gate_power().PLANTS.values() if p.code is None)


def test_a_plant_is_undone_after_its_run(tmp_path):
    module = gate_power()
    repo = tmp_path / "repo"
    (repo / "src" / "ganbench" / "training").mkdir(parents=True)
    target = repo / "src" / "ganbench" / "training" / "m.py"
    target.write_text("x = 1\n")
    for cmd in (["git", "init", "-q"], ["git", "add", "."],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "m"]):
        subprocess.run(cmd, cwd=repo, check=True)
    scratch = object.__new__(module.Scratch)  # a clone is all planted() needs
    scratch.repo, scratch.env = repo, None
    plant = module.Plant("p", "a plant", code=("src/ganbench/training/m.py", "x = 1", "x = 2"))
    with pytest.raises(RuntimeError, match="inside"):
        with scratch.planted(plant):
            assert target.read_text() == "x = 2\n"
            raise RuntimeError("inside")
    assert target.read_text() == "x = 1\n"
    gone = module.Plant("q", "a plant", code=("src/ganbench/training/m.py", "y = 1", "y = 2"))
    with pytest.raises(SystemExit, match="update the plant"):
        with scratch.planted(gone):
            pass


def test_a_failed_stage_is_read_from_dvc_and_the_others_still_run(tmp_path):
    """A plant that makes a variant diverge fails its training in every seed: DVC's
    --keep-going names one failed stage differently from several, and both must be read
    as caught (a real `dvc repro` on a three-stage project, two of which fail)."""
    module = gate_power()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(
        "import sys\n"
        "if sys.argv[1] in {'a', 'c'}:\n"
        "    sys.exit(f'error: {sys.argv[1]} diverged')\n"
        "open(f'out-{sys.argv[1]}', 'w').write('ok')\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n  train:\n    foreach: [a, b, c]\n    do:\n      cmd: python train.py ${item}\n"
        "      outs:\n        - out-${item}\n")
    scratch = object.__new__(module.Scratch)
    scratch.repo = repo
    scratch.env = {**os.environ, "DVC_NO_ANALYTICS": "1",
                   "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    scratch.run(["dvc", "init", "--no-scm", "-q"])
    _, failed, errors = scratch.repro({"seeds": [0]}, keep_going=True)
    assert failed == ["train@a", "train@c"]
    assert (repo / "out-b").is_file()  # the stage that works still ran
    assert sorted(errors) == ["error: a diverged", "error: c diverged"]
    assert [module.stage_error(stage, errors) for stage in failed] == ["error: a diverged", "error: c diverged"]
    assert module.stage_error("train@vae-1", ["error: train vae-10: x", "error: train vae-1: y"]) == \
        "error: train vae-1: y"
    (repo / "train.py").write_text((repo / "train.py").read_text().replace("{'a', 'c'}", "{'a'}"))
    assert scratch.repro({"seeds": [0]}, keep_going=True)[1] == ["train@a"]
    with pytest.raises(RuntimeError, match="dvc repro failed"):
        scratch.repro({"seeds": [0]})
