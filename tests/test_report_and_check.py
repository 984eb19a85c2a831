"""The CI gate fails on a miss or a different N (the report itself: tests/test_report_*.py)."""

from __future__ import annotations

import json

import pytest

from ganbench.thresholds import check


def write_eval(tmp_path, key, metrics):
    (tmp_path / "eval").mkdir(exist_ok=True)
    (tmp_path / "eval" / f"{key}.json").write_text(json.dumps(metrics))


def test_threshold_gate_uses_the_mean_over_seeds(tmp_path):
    write_eval(tmp_path, "dcgan-0", {"fid500": 80.0, "recall500": 0.5})
    write_eval(tmp_path, "dcgan-1", {"fid500": 100.0, "recall500": 0.3})
    write_eval(tmp_path, "dcgan_x-0", {"fid500": 1e9})  # another variant's file is not read
    rows = check({"dcgan": {"fid500": 95.0, "recall500": 0.35}}, tmp_path / "eval")
    assert [(r["metric"], r["value"], r["seeds"], r["ok"]) for r in rows] == [
        ("fid500", 90.0, 2, True), ("recall500", pytest.approx(0.4), 2, True)]
    assert not check({"dcgan": {"fid500": 85.0}}, tmp_path / "eval")[0]["ok"]
    assert not check({"dcgan": {"recall500": 0.45}}, tmp_path / "eval")[0]["ok"]  # a minimum
    # A score made with another N is not comparable: missing.
    assert check({"dcgan": {"fid1k": 500.0}}, tmp_path / "eval")[0]["value"] is None


def test_check_command_prints_a_table_and_exits_0_1_or_2(tmp_path):
    from typer.testing import CliRunner

    from ganbench_pipeline.cli import app

    write_eval(tmp_path, "dcgan-0", {"fid500": 80.0})
    write_eval(tmp_path, "dcgan-1", {"fid500": 80.0})
    gate = tmp_path / "gate.yaml"

    def run(bounds: str):
        gate.write_text(bounds)
        return CliRunner().invoke(app, ["check", "--thresholds", str(gate), "--eval-metrics",
                                        str(tmp_path / "eval")])

    ok = run("dcgan: {fid500: 100}\n")
    assert ok.exit_code == 0, ok.output
    assert "mean" in ok.output and "margin" in ok.output and "+20" in ok.output
    breach = run("dcgan: {fid500: 50}\n")
    assert breach.exit_code == 1 and "FAIL" in breach.output and "-30" in breach.output
    missing = run("dcgan: {fid1k: 500}\n")
    assert missing.exit_code == 2 and "MISS" in missing.output
    bad = run("dcgan: [1, 2]\n")
    assert bad.exit_code == 1 and "must map variant" in bad.output
