"""Scores made with different protocols are never side by side: grouped, flagged, shown."""

from __future__ import annotations

import pytest

from ganbench.errors import DataError
from ganbench.report.build import analyse
from ganbench.report.html import render_html
from ganbench.report.inputs import load_runs, run_ids
from ganbench.report.markdown import render_markdown
from ganbench.report.protocols import NOT_PUBLISHED_COMPARABLE, PROTOCOL_FIELDS, protocol, provenance_key
from tests.report_outputs import provenance, write_outputs

V = ("dcgan", "stylegan")


def report_for(tmp_path, variants=V, seeds=(0, 1), **kw):
    paths = write_outputs(tmp_path, variants, seeds, **kw)
    return analyse(load_runs(run_ids(variants, seeds), paths), figures=False)


@pytest.mark.parametrize("field,value", [
    ("dataset", "mnist"), ("reference_split", "train"), ("num_real", 10000), ("num_gen", 5000),
    ("image_shape", [1, 28, 28]), ("weights_sha256", "ef" * 32), ("feature_extractor", "clip-vit"),
    ("resize", "nearest"), ("samples.generator", "raw"), ("samples.truncation", 0.7),
    ("samples.batchnorm", "batch"), ("samples.checkpoint", "best"),
])
def test_a_different_protocol_splits_the_metric_with_a_visible_warning(tmp_path, field, value):
    rep = report_for(tmp_path, prov_over=lambda key, m: {field: value} if key.startswith("stylegan")
                     and m == "fid2k" else {})
    fid_cols = [c for c in rep.columns if c.metric == "fid2k"]
    assert [(c.label, c.mixed) for c in fid_cols] == [("fid2k [P1]", True), (f"fid2k [P{fid_cols[1].protocol}]", True)]
    # never aggregated together, never tested against each other
    assert {v for (v, c) in rep.summaries if c == fid_cols[0]} == {"dcgan"}
    assert {v for (v, c) in rep.summaries if c == fid_cols[1]} == {"stylegan"}
    assert not [c for c in rep.comparisons if c.column.metric == "fid2k"]
    assert [c.column.metric for c in rep.comparisons if c.column.metric == "kid2k"] == ["kid2k"]
    assert len(rep.warnings) == 1 and "fid2k was measured with different protocols" in rep.warnings[0]
    assert f"P1 vs P{fid_cols[1].protocol}: {field} " in rep.warnings[0]          # which field differs
    page, md = render_html(rep), render_markdown(rep, {})
    assert "different protocols" in page and 'class="callout warn"' in page and 'class="diff"' in page
    assert "**Warning:**" in md and "different protocols" in md
    assert f"Protocol {fid_cols[1].protocol} (stylegan-0, stylegan-1; metrics: fid2k)" in md


def test_same_protocol_is_one_column_without_warning(tmp_path):
    # the samples' seed and the library versions do not change the protocol
    rep = report_for(tmp_path, prov_over=lambda key, m: {"samples.seed": 7, "versions": {"torch": "x"}}
                     if key == "stylegan-1" else {})
    assert [c.label for c in rep.columns][:2] == ["fid2k", "kid2k"]
    assert rep.warnings == [] and "callout warn" not in render_html(rep)
    assert len([c for c in rep.comparisons if c.column.metric == "fid2k"]) == 1


def test_each_metric_knob_belongs_to_its_protocol():
    a = provenance("kid2k", 0)
    assert provenance_key(a) != provenance_key({**a, "kid_subset_size": 100})
    assert provenance_key(a) == provenance_key({**a, "versions": {"torch": "9"}, "metric": "other"})
    assert set(protocol(a)) == set(PROTOCOL_FIELDS)
    assert {"samples.checkpoint", "samples.truncation", "samples.batchnorm", "samples.generator"} <= set(PROTOCOL_FIELDS)


def test_small_n_inception_fid_is_flagged_but_domain_metrics_are_not(tmp_path):
    rep = report_for(tmp_path)
    flagged = {c.metric for c in rep.flags}
    assert flagged == {"fid2k"}                                     # 2000 < 2048; kid/pr and domain: no
    assert NOT_PUBLISHED_COMPARABLE in next(iter(rep.flags.values()))
    assert NOT_PUBLISHED_COMPARABLE in render_html(rep) and NOT_PUBLISHED_COMPARABLE in render_markdown(rep, {})


def test_an_inception_fid_with_enough_samples_is_not_flagged(tmp_path):
    rep = report_for(tmp_path, prov_over=lambda key, m: {"num_gen": 10000, "num_real": 10000})
    assert rep.flags == {}


def test_report_needs_every_run(tmp_path):
    paths = write_outputs(tmp_path, ("dcgan",), (0,))
    with pytest.raises(DataError, match=r"evaluate@stylegan-0"):
        load_runs(run_ids(["dcgan", "stylegan"], [0]), paths)


def test_a_mode_that_does_not_apply_does_not_split_the_comparison(tmp_path):
    # stylegan has no BatchNorm (its samples record None): it is compared with dcgan's
    # batch-statistics samples; a dcgan run sampled in another mode still splits.
    rep = report_for(tmp_path, prov_over=lambda key, m: {"samples.batchnorm": None} if key.startswith("stylegan")
                     else {"samples.batchnorm": "batch"})
    assert [c.label for c in rep.columns][:2] == ["fid2k", "kid2k"] and rep.warnings == []
    assert len([c for c in rep.comparisons if c.column.metric == "fid2k"]) == 1
    rep = report_for(tmp_path / "mixed", prov_over=lambda key, m: {"samples.batchnorm": None} if key.startswith(
        "stylegan") else {"samples.batchnorm": "batch" if key == "dcgan-0" else "running"})
    assert len([c for c in rep.columns if c.metric == "fid2k"]) > 1
    assert any("different protocols" in w for w in rep.warnings)


def test_the_cost_table_shows_the_ema_half_life_in_effect(tmp_path):
    """The half-life after the ramp-up, in kimg and G steps, not the nominal ema_kimg."""
    effective = {"ema_kimg": 10.0, "ema_rampup": 0.05, "ema_half_life_kimg": 2.4, "ema_half_life_g_steps": 75.0}
    rep = report_for(tmp_path, train_over=lambda key: effective if key.startswith("dcgan") else {"ema_kimg": 10.0})
    cells = {r.variant: r.cells["EMA half-life"] for r in rep.costs}
    assert cells == {"dcgan": "2.4 kimg / 75 G steps", "stylegan": "10 kimg (nominal)"}
    assert "2.4 kimg / 75 G steps" in render_markdown(rep, {})
