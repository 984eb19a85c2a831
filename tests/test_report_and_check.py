"""The CI gate fails on a miss or a different N (the report itself: tests/test_report_*.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganbench.thresholds import check, load_thresholds, protocol_source


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


# ------------------------------------------------------------------ protocols (issue 16)


def prov(num_real=250, **over):
    return {"dataset": "fashion-mnist", "reference_split": "test", "num_real": num_real, "num_gen": 500,
            "weights_sha256": "ab" * 32, "samples": {"generator": "ema", "seed": 123}, **over}


def write_run(folder, key, value, **prov_over):
    folder.mkdir(parents=True, exist_ok=True)
    seed = int(key.rsplit("-", 1)[1])
    (folder / f"{key}.json").write_text(json.dumps({"variant": key.rsplit("-", 1)[0], "seed": seed, "fid500": value,
                                                    "provenance": {"fid500": prov(**prov_over)}}))


def test_a_mean_over_seeds_of_different_protocols_is_refused(tmp_path):
    write_run(tmp_path / "eval", "dcgan-0", 80.0)
    write_run(tmp_path / "eval", "dcgan-1", 80.0, num_real=2000)             # same name, other protocol
    [row] = check({"dcgan": {"fid500": 100.0}}, tmp_path / "eval")
    assert not row["ok"] and row["refused"].startswith(
        "its seeds were made with different protocols: num_real 250 vs 2000 (seed 0 vs seed 1)")


def test_check_refuses_scores_made_otherwise_than_the_bound_and_says_which_field(tmp_path):
    from typer.testing import CliRunner

    from ganbench_pipeline.cli import app

    write_run(tmp_path / "gate" / "baseline", "dcgan-0", 90.0)              # where the bound was set
    gate = tmp_path / "gate" / "thresholds.yaml"
    gate.write_text("protocol_from: baseline\ndcgan: {fid500: 100}\n")
    assert load_thresholds(gate) == {"dcgan": {"fid500": 100.0}}
    assert protocol_source(gate) == tmp_path / "gate" / "baseline"

    def run(**over):
        for seed in (0, 1):
            write_run(tmp_path / "eval", f"dcgan-{seed}", 80.0, **over)
        return CliRunner().invoke(app, ["check", "--thresholds", str(gate), "--eval-metrics", str(tmp_path / "eval")])

    same = run()
    assert same.exit_code == 0 and "declares no protocol" not in same.output, same.output
    other = run(num_real=2000, resize="nearest")
    assert other.exit_code == 3 and "PROT" in other.output, other.output
    assert "dcgan fid500 not gated: its protocol is not the one the bound was set under" in other.output
    assert "num_real 250 vs 2000 (bound vs this run)" in other.output
    assert run(samples={"generator": "raw"}).exit_code == 3
    gate.write_text("dcgan: {fid500: 100}\n")                                 # no declared protocol: warned
    bare = run(num_real=2000)
    assert bare.exit_code == 0 and "declares no protocol" in bare.output
    gate.write_text("protocol_from: nowhere\ndcgan: {fid500: 100}\n")
    assert "protocol_from names" in run().output


def test_the_committed_ci_gates_declare_their_protocol():
    root = Path(__file__).resolve().parents[1]
    gate = root / ".ci" / "thresholds.yaml"
    source = protocol_source(gate)
    assert source == gate.parent / "baseline" / "eval"
    rows = check(load_thresholds(gate), source, source)           # the baseline meets its own bounds
    assert rows and all(r["ok"] and r["refused"] is None for r in rows)
