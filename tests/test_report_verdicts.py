"""Verdicts only where they hold (issue 16): a best value needs ≥ 2 seeds per variant and a
difference that survives the Holm correction over the table; a single seed shows each
score's evaluation noise and no test rows, only one sentence."""

from __future__ import annotations

import csv
import html

import pytest

from ganbench.report.build import analyse, build_report
from ganbench.report.inputs import load_runs, run_ids
from tests.report_outputs import write_outputs

V = ("dcgan", "wgan_gp")
#: per metric: (dcgan seeds 0, 1), (wgan_gp seeds 0, 1)
VALUES = {
    "fid2k": ((40.0, 40.1), (60.0, 60.1)),                   # p ≈ 1e-5: survives 5 tests
    "kid2k": ((0.040, 0.041), (0.045, 0.046)),               # p = 0.019 alone, × 4 after Holm
    "precision2k": ((0.5, 0.6), (0.55, 0.65)),                # p ≈ 0.55: no difference
    "fd_domain10k": ((1.0, 2.0), (1.5, 2.5)),
    "class_kl10k": ((1.0, 2.0), (1.5, 2.5)),
}


def eval_over(key: str) -> dict[str, float]:
    variant, seed = key.rsplit("-", 1)
    return {m: v[V.index(variant)][int(seed)] for m, v in VALUES.items()}


def col(rep, metric):
    return next(c for c in rep.columns if c.metric == metric)


def test_a_best_value_needs_a_difference_that_survives_holm(tmp_path):
    paths = write_outputs(tmp_path, V, (0, 1), eval_over=eval_over)
    rep = analyse(load_runs(run_ids(V, (0, 1)), paths), figures=False)
    by = {c.column.metric: c for c in rep.comparisons}
    assert {c.family for c in rep.comparisons} == {5}         # recall, kid_domain, covered: no spread
    assert "no test possible" not in " ".join(c.verdict for c in rep.comparisons)
    assert rep.untested == ("No test for 2 of the 8 pairs × metrics: 2 because every seed gave the same value "
                            "within each variant (zero spread: the t-test is undefined) (recall2k (dcgan vs "
                            "wgan_gp), kid_domain10k (dcgan vs wgan_gp)).")
    assert [c.verdict for c in rep.comparisons if c.column.metric == "classes_covered10k"] == [
        "no difference: every seed gave the same value on both sides"]
    assert by["fid2k"].significant and rep.best(col(rep, "fid2k")) == {"dcgan"}
    kid = by["kid2k"]
    assert kid.test.p < 0.05 <= kid.p_adjusted and not kid.significant
    assert rep.best(col(rep, "kid2k")) == set()                # the lower mean alone is no verdict
    assert rep.best(col(rep, "precision2k")) == set()
    build_report(load_runs(run_ids(V, (0, 1)), paths), tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "**40.05**" in md and "**0.0405" not in md and "Holm" in md
    page = html.unescape((tmp_path / "out" / "index.html").read_text())
    assert page.count('class="num best"') == 1 and "Holm p" in page and "5 tests of this table" in page
    pairs = list(csv.DictReader((tmp_path / "out" / "comparisons.csv").open()))
    kid_row = next(p for p in pairs if p["metric"] == "kid2k")
    assert float(kid_row["p_holm"]) == pytest.approx(kid.p_adjusted) and kid_row["significant"] == "0"


def noise_over(key: str, metric: str) -> dict:
    if metric != "fid2k":
        return {}
    value = {"dcgan-0": 40.0, "wgan_gp-0": 60.0}[key]
    return {"eval_noise": {"resamples": 200, "se": 0.66, "bias": 0.9, "low": value - 1.3, "high": value + 1.3,
                           "confidence": 0.95}}


def test_one_seed_shows_eval_noise_marks_nothing_and_says_untested_in_one_sentence(tmp_path):
    paths = write_outputs(tmp_path, V, (0,), prov_over=noise_over)
    rep = build_report(load_runs(run_ids(V, (0,)), paths), tmp_path / "out")
    assert all(rep.best(c) == set() for c in rep.columns)      # one seed: no winner, whatever the means
    assert rep.comparisons == [] and rep.eval_noise("dcgan", col(rep, "fid2k"))["low"] == 38.7
    assert rep.untested == ("No test for 8 of the 8 pairs × metrics: 8 because every variant has a single seed "
                            "there, so no training-seed spread is known.")
    page = html.unescape((tmp_path / "out" / "index.html").read_text())
    md = (tmp_path / "out" / "report.md").read_text()
    for text in (page, md):
        assert "no test possible" not in text and text.count("No test for 8 of the 8") == 1
        assert "training-seed spread is unknown" in text
    assert "± 1.3 eval. noise" in page and 'class="num best"' not in page
    assert "| dcgan | 1 | 40.0 ± 1.3 (eval.) |" in md
    assert not [line for line in md.splitlines() if line.startswith("| ") and "**" in line]   # nothing bold
    rows = list(csv.DictReader((tmp_path / "out" / "metrics.csv").open()))
    fid = next(r for r in rows if r["variant"] == "wgan_gp" and r["metric"] == "fid2k")
    assert (float(fid["eval_low"]), float(fid["eval_high"]), float(fid["eval_se"])) == (58.7, 61.3, 0.66)
    assert next(r for r in rows if r["metric"] == "kid2k")["eval_low"] == ""


def test_some_single_seed_variants_are_named_in_the_sentence(tmp_path):
    paths = write_outputs(tmp_path, V, (0, 1), eval_over=eval_over)
    runs = [r for r in load_runs(run_ids(V, (0, 1)), paths) if r.key != "wgan_gp-1"]
    rep = analyse(runs, figures=False)
    assert rep.comparisons == [] and rep.untested.startswith("No test for 8 of the 8 pairs × metrics: 8 because "
                                                            "wgan_gp has a single seed")
    assert any("wgan_gp has a single seed" in n for n in rep.notes)
