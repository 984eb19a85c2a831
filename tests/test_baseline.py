"""`ganbench check --baseline`: a CI run must reproduce its committed metrics to float
rounding (tolerance by how each score was made), never compare across numerics."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ganbench.baseline import ONNX_RTOL, TORCH_RTOL, compare

NUMERICS = {"cpu_isa": "avx2", "threads": 2, "aten_capability": "AVX2"}


def result(fid=300.0, fd=120.0, kid_std=0.01, precision=0.0, numerics=NUMERICS):
    inception = {"metric": "fid", "engine": "onnx", "numerics": dict(numerics)}
    domain = {"metric": "fd_domain", "numerics": dict(numerics)}
    return {"variant": "dcgan", "seed": 0, "fid250": fid, "kid250": 0.3, "kid250_std": kid_std,
            "precision250": precision, "fd_domain1k": fd,
            "provenance": {"fid250": inception, "kid250": {**inception, "metric": "kid"},
                           "precision250": {**inception, "metric": "pr"}, "fd_domain1k": domain}}


def write(folder, key, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{key}.json").write_text(json.dumps(data))


def by_metric(rows):
    return {r.metric: r for r in rows}


def test_tolerance_follows_how_the_score_was_made(tmp_path):
    write(tmp_path / "base", "dcgan-0", result())
    write(tmp_path / "run", "dcgan-0", result(fid=300.0 * (1 + 0.5 * ONNX_RTOL), fd=120.0 * (1 + 0.5 * TORCH_RTOL)))
    rows = by_metric(compare(tmp_path / "run", tmp_path / "base"))
    assert set(rows) == {"fid250", "kid250", "kid250_std", "precision250", "fd_domain1k"}  # not the seed
    assert all(r.ok for r in rows.values())
    assert rows["fid250"].rtol == ONNX_RTOL and rows["fd_domain1k"].rtol == TORCH_RTOL
    assert rows["kid250_std"].rtol == ONNX_RTOL  # a spread takes its score's tolerance
    # The torch-only tolerance is tight: 2e-6 relative on a domain score is a change.
    write(tmp_path / "run", "dcgan-0", result(fd=120.0 * (1 + 2 * TORCH_RTOL)))
    rows = by_metric(compare(tmp_path / "run", tmp_path / "base"))
    assert not rows["fd_domain1k"].ok and rows["fd_domain1k"].problem is None
    assert rows["fd_domain1k"].rel_diff == pytest.approx(2 * TORCH_RTOL, rel=1e-3)
    assert rows["precision250"].ok  # 0 against 0


def test_missing_runs_values_and_other_numerics_are_problems(tmp_path):
    write(tmp_path / "base", "dcgan-0", result())
    write(tmp_path / "base", "dcgan-1", result())
    write(tmp_path / "run", "dcgan-0", {k: v for k, v in result(numerics={**NUMERICS, "cpu_isa": "native"}).items()
                                        if k != "kid250"})
    rows = compare(tmp_path / "run", tmp_path / "base")
    problems = {(r.run, r.metric): r.problem for r in rows if r.problem}
    assert "missing" in problems[("dcgan-1", "fid250")]
    assert "kid250 is missing" in problems[("dcgan-0", "kid250")]
    assert "numerics.cpu_isa 'native'" in problems[("dcgan-0", "fid250")]
    assert not any(r.ok for r in rows)
    # Another protocol (here: 2,000 real images instead of 250) is never compared.
    other = result()
    other["provenance"]["fid250"]["num_real"] = 2000
    write(tmp_path / "run", "dcgan-1", other)
    problems = {(r.run, r.metric): r.problem for r in compare(tmp_path / "run", tmp_path / "base") if r.problem}
    assert "another protocol" in problems[("dcgan-1", "fid250")] and "num_real" in problems[("dcgan-1", "fid250")]


def test_check_command_exits_0_1_or_2(tmp_path):
    from ganbench_pipeline.cli import app

    write(tmp_path / "base", "dcgan-0", result())

    def run(data):
        write(tmp_path / "run", "dcgan-0", data)
        return CliRunner().invoke(app, ["check", "--baseline", str(tmp_path / "base"), "--eval-metrics",
                                        str(tmp_path / "run")])

    same = run(result())
    assert same.exit_code == 0 and "all 5 values reproduce the baseline" in same.output
    moved = run(result(fid=301.0))
    assert moved.exit_code == 1 and "DIFF" in moved.output and "fid250" in moved.output
    other = run(result(numerics={**NUMERICS, "threads": 4}))
    assert other.exit_code == 2 and "numerics.threads" in other.output
    empty = CliRunner().invoke(app, ["check", "--baseline", str(tmp_path / "none"), "--eval-metrics",
                                     str(tmp_path / "run")])
    assert empty.exit_code == 1 and "no baseline metrics" in empty.output
