"""Seeds → mean, sample sd, Student-t interval; Welch's test and its plain verdict."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from ganbench.report.aggregate import Column, compare, format_p, holm, summarize, untested, verdict, welch
from ganbench.report.names import parse_metric
from ganbench.report.textfmt import mean_pm

# t_{0.975, 2} by hand: for 2 df, F(t) = 1/2 + t / (2 sqrt(2 + t²)); F = 0.975 gives
# t² (1 − 0.95²) = 2 · 0.95², so t = sqrt(1.805 / 0.0975) = 4.30265…
T975_DF2 = math.sqrt(1.805 / 0.0975)


def test_mean_sd_and_t_interval_by_hand():
    s = summarize([1.0, 2.0, 3.0])
    assert (s.n, s.mean, s.std) == (3, 2.0, 1.0)                 # sd = sqrt(((−1)² + 0 + 1²) / 2)
    assert s.half_width == pytest.approx(T975_DF2 * 1.0 / math.sqrt(3), rel=1e-12)
    assert (s.ci_low, s.ci_high) == pytest.approx((2 - 2.4841377118, 2 + 2.4841377118), rel=1e-9)
    wide = summarize([4.0, 6.0, 8.0], confidence=0.95)
    assert wide.std == 2.0 and wide.half_width == pytest.approx(2 * T975_DF2 / math.sqrt(3))


def test_one_seed_has_no_spread_and_equal_seeds_have_exactly_zero():
    one = summarize([42.9])
    assert one.n == 1 and one.mean == 42.9 and math.isnan(one.std) and math.isnan(one.half_width)
    assert mean_pm(one) == ("42.9", "")
    same = summarize([0.1, 0.1, 0.1])                            # no rounding noise in sd
    assert same.std == 0.0 and same.half_width == 0.0 and mean_pm(same) == ("0.1", "± 0")


def test_welch_by_hand_and_against_scipy():
    a, b = summarize([1.0, 2.0, 3.0]), summarize([4.0, 6.0, 8.0])
    w = welch(a, b)
    # se² = 1/3 + 4/3 = 5/3; t = (2 − 6) / sqrt(5/3); df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = 50/17
    assert w.diff == -4.0
    assert w.t == pytest.approx(-4 / math.sqrt(5 / 3), rel=1e-12)
    assert w.df == pytest.approx(50 / 17, rel=1e-12)
    ref = stats.ttest_ind([1, 2, 3], [4, 6, 8], equal_var=False)
    assert w.p == pytest.approx(ref.pvalue, rel=1e-9) and w.p == pytest.approx(0.0548, abs=1e-4)
    assert welch(summarize([1.0]), b) is None                    # n = 1: no test


def test_verdicts_in_plain_words():
    lo, hi = summarize([1.0, 2.0, 3.0]), summarize([11.0, 12.0, 13.0])
    text, better = verdict("dcgan", "vae", lo, hi, welch(lo, hi), "lower")
    assert text == "dcgan lower than vae, p < 0.001" and better == "dcgan"
    text, better = verdict("dcgan", "vae", lo, hi, welch(lo, hi), "higher")
    assert text == "vae higher than dcgan, p < 0.001" and better == "vae"
    a, b = summarize([1.0, 2.0, 3.0]), summarize([4.0, 6.0, 8.0])
    assert verdict("a", "b", a, b, welch(a, b), "lower") == ("no clear difference (p = 0.055)", None)
    one = summarize([5.0])
    text, better = verdict("a", "b", one, b, welch(one, b), "lower")
    assert text == "no test possible: n = 1 for a, so no spread is known" and better is None
    p, q = summarize([0.70, 0.72, 0.71]), summarize([0.60, 0.61, 0.65])
    text, better = verdict("stylegan", "dcgan", p, q, welch(p, q), "higher")
    assert text == "stylegan higher than dcgan, p = 0.018" and better == "stylegan"


def test_compare_every_pair_within_a_column_only():
    fid, fid_other = Column("fid2k", 1, mixed=True), Column("fid2k", 2, mixed=True)
    sums = {("a", fid): summarize([1.0, 2.0]), ("b", fid): summarize([3.0, 5.0]),
            ("c", fid_other): summarize([0.0, 1.0])}
    rows = compare(["a", "b", "c"], [fid, fid_other], sums)
    assert [(r.a, r.b, r.column.protocol) for r in rows] == [("a", "b", 1)]   # c never meets a or b
    assert rows[0].diff == -2.5 and not rows[0].significant


@pytest.mark.parametrize("p,text", [(0.31, "p = 0.31"), (0.0548, "p = 0.055"), (0.0123, "p = 0.012"),
                                    (0.0042, "p = 0.0042"), (0.0004, "p < 0.001")])
def test_p_values_are_printed_plainly(p, text):
    assert format_p(p) == text


@pytest.mark.parametrize("name,family,count,direction", [
    ("fid2k", "fid", 2000, "lower"), ("fid500", "fid", 500, "lower"), ("kid_domain10k", "kid_domain", 10000, "lower"),
    ("class_kl10k", "class_kl", 10000, "lower"), ("precision2k", "precision", 2000, "higher"),
    ("classes_covered10k", "classes_covered", 10000, "higher"), ("fd_domain10k", "fd_domain", 10000, "lower"),
])
def test_metric_names_carry_n_and_the_metric_declares_its_direction(name, family, count, direction):
    from ganbench.metrics.registry import direction as declared

    m = parse_metric(name)
    assert (m.family, m.count) == (family, count)
    assert declared(name) == direction and declared(name + "_std") == direction


# ------------------------------------------------------------------ verdicts only where they hold (issue 16)


def test_holm_by_hand():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and holm([0.02]) == [0.02] and holm([]) == []


def test_every_test_of_the_table_is_holm_adjusted_and_the_verdict_reads_the_adjusted_p():
    cols = [Column(m, 1) for m in ("fid2k", "kid2k", "fd_domain10k", "precision2k")]
    b_values = {"fid2k": [11.0, 12.0, 13.0], "kid2k": [1.5, 2.5, 3.5], "fd_domain10k": [1.5, 2.5, 3.5]}
    sums = {}
    for col in cols:
        sums[("a", col)] = summarize([0.60, 0.61, 0.65] if col.metric == "precision2k" else [1.0, 2.0, 3.0])
        sums[("b", col)] = summarize(b_values.get(col.metric, [0.70, 0.72, 0.71]))
    rows = compare(["a", "b"], cols, sums)
    assert [r.family for r in rows] == [4] * 4
    raw = [r.test.p for r in rows]
    assert [r.p_adjusted for r in rows] == pytest.approx(holm(raw))
    pr = rows[3]                                  # p = 0.018, the 2nd smallest of 4: × 3 = 0.053
    assert pr.test.p < 0.05 <= pr.p_adjusted and not pr.significant and pr.better is None
    assert pr.verdict == f"no clear difference (p = 0.018, Holm-adjusted {format_p(pr.p_adjusted)})"
    assert rows[0].significant and rows[0].verdict == "a lower than b, p < 0.001, Holm-adjusted p = 0.001"


def test_pairs_with_a_single_seed_get_no_row():
    fid = Column("fid2k", 1)
    sums = {("a", fid): summarize([1.0]), ("b", fid): summarize([3.0, 5.0]), ("c", fid): summarize([0.0, 1.0])}
    assert [(r.a, r.b) for r in compare(["a", "b", "c"], [fid], sums)] == [("b", "c")]
    assert untested(["a", "b", "c"], [fid], sums) == [(fid, "a", "b"), (fid, "a", "c")]
