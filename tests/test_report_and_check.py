"""The report table keeps protocols apart; the CI gate fails on a miss or a different N."""

from __future__ import annotations

import json

import pytest

from ganbench.report import build_report
from ganbench.thresholds import check

PROV = {"feature_extractor": "pytorch-fid InceptionV3 pool3 2048-d", "weights_sha256": "ab" * 32,
        "dataset": "fashion-mnist", "reference_split": "test", "resize": "bilinear to 299x299",
        "num_real": 500, "num_gen": 500, "image_shape": [1, 32, 32],
        "samples": {"generator": "ema", "truncation": 1.0, "batchnorm": "running"}}


def write_metrics(tmp_path, variant, fid_key, value, prov=PROV):
    (tmp_path / "eval").mkdir(exist_ok=True)
    (tmp_path / "train").mkdir(exist_ok=True)
    (tmp_path / "eval" / f"{variant}.json").write_text(json.dumps(
        {fid_key: value, "metric": fid_key, "num_gen": 500, "num_real": 500, "provenance": prov}))
    (tmp_path / "train" / f"{variant}.json").write_text(json.dumps(
        {"loss": "nonsaturating", "budget": "g_steps", "budget_amount": 94, "kimg": 6.0, "g_steps": 94,
         "d_steps": 94, "batch_size": 64, "ema_kimg": 10.0,
         "wall_clock_s": 30.0, "images_per_s": 200.0, "params_G": 1, "params_D": 1}))


def test_report_table_and_protocols(tmp_path):
    write_metrics(tmp_path, "dcgan", "fid500", 80.0)
    write_metrics(tmp_path, "wgan_gp", "fid500", 120.0, prov={**PROV, "weights_sha256": "cd" * 32})
    df = build_report(["dcgan", "wgan_gp"], tmp_path / "train", tmp_path / "eval", tmp_path, tmp_path / "out")
    assert list(df["fid500"]) == [80.0, 120.0]
    assert list(df["fid_protocol"]) == [1, 2]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "different protocols" in md and "g_steps" in md and "wall_clock_s" in md
    assert (tmp_path / "out" / "metrics.csv").read_text().startswith("variant,fid500")


@pytest.mark.parametrize("field,value", [
    ("reference_split", "train"), ("dataset", "mnist"), ("num_real", 10000),
    ("image_shape", [1, 28, 28]), ("samples", {"generator": "raw", "truncation": 1.0, "batchnorm": "running"}),
    ("samples", {"generator": "ema", "truncation": 0.7, "batchnorm": "running"}),
])
def test_scores_made_differently_are_grouped_apart_with_a_warning(tmp_path, field, value):
    write_metrics(tmp_path, "dcgan", "fid500", 80.0)
    write_metrics(tmp_path, "stylegan", "fid500", 70.0, prov={**PROV, field: value})
    df = build_report(["dcgan", "stylegan"], tmp_path / "train", tmp_path / "eval", tmp_path, tmp_path / "out")
    assert list(df["fid_protocol"]) == [1, 2] or list(df["fid_protocol"]) == [2, 1]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Warning" in md and "Protocol 1 (" in md and "Protocol 2 (" in md
    assert "different protocols" in (tmp_path / "out" / "index.html").read_text()


def test_same_protocol_has_no_warning_and_the_budget_is_stated(tmp_path):
    write_metrics(tmp_path, "dcgan", "fid500", 80.0)
    write_metrics(tmp_path, "stylegan", "fid500", 70.0, prov={**PROV, "versions": {"torch": "x"}})
    df = build_report(["dcgan", "stylegan"], tmp_path / "train", tmp_path / "eval", tmp_path, tmp_path / "out")
    assert list(df["fid_protocol"]) == [1, 1]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Warning" not in md and "Training budget: g_steps 94" in md


def test_report_needs_every_variant(tmp_path):
    write_metrics(tmp_path, "dcgan", "fid500", 80.0)
    with pytest.raises(Exception, match="evaluate@stylegan"):
        build_report(["dcgan", "stylegan"], tmp_path / "train", tmp_path / "eval", tmp_path, tmp_path / "out")


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
