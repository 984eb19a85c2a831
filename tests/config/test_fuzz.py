"""Property-based: random mutations of params.yaml never crash a stage. Every stage either
runs or exits 1 with one clear line (no traceback), naming the key when params are bad."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ganbench.config import flatten, load_params
from ganbench.errors import ParamsError
from ganbench.metrics.registry import METRICS
from ganbench.models import VARIANTS

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())
KEYS = sorted(flatten(BASE))
#: Stages that fail fast without data once their params are read.
STAGES = (["train", "dcgan", "--seed", "0"], ["train", "vae", "--seed", "3"], ["sample", "dcgan"], ["evaluate", "dcgan"], ["report"],
          ["reference"], ["classifier"], ["domain-reference"], ["probe-reference"])

values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=4),
                                                                                    st.integers(), max_size=2),
    st.sampled_from(["-3", "1e-4", "nan", "inf", "ten", "", "auto", "cuda:7", "g_steps", "best"]),
)


@st.composite
def mutated(draw) -> dict:
    params = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(KEYS)).split(".")
        node = params
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if not isinstance(node, dict):
            continue
        action = draw(st.sampled_from(["set", "delete", "misspell", "retype_section"]))
        leaf = path[-1]
        if action == "set":
            node[leaf] = draw(values)
        elif action == "delete":
            node.pop(leaf, None)
        elif action == "misspell":
            node[leaf + draw(st.sampled_from(["s", "_", "x"]))] = node.pop(leaf, 1)
        else:
            params[path[0]] = draw(values)
    return params


def one_line_error(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in text


@pytest.fixture(scope="module")
def params_dir(tmp_path_factory) -> Path:
    """One folder for every example (module-scoped: hypothesis reruns the test body, not
    the fixture), removed with pytest's other temporary folders."""
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=mutated())
def test_loading_either_validates_or_names_the_problem(params_dir, params):
    path = params_dir / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    try:
        load_params(path, VARIANTS, metrics=METRICS)
    except ParamsError as err:
        message = str(err)
        assert "\n" not in message and message.startswith(f"{path}")
        assert "'" in message or "section" in message or "variant" in message  # names a key or section


@pytest.mark.timeout(600)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(mutated(), st.sampled_from(STAGES))
def test_every_stage_runs_or_exits_1_with_one_clear_line(tmp_path, monkeypatch, params, stage):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    Path("params.yaml").write_text(yaml.safe_dump(params))
    from ganbench_pipeline.cli import app

    result = CliRunner().invoke(app, stage)
    assert result.exit_code in (0, 1), (stage, result.exit_code, result.output, result.exception)
    if result.exit_code == 1:
        assert one_line_error(result.output), (stage, result.output)

