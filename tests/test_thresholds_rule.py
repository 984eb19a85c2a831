"""The rule that sets CI's bounds (.ci/derive_thresholds.py): a one-sided prediction bound
for the mean of the new seeds, with the spread's few degrees of freedom and a Bonferroni
level over the file's gates; and the committed file is what the rule gives."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def derive_module():
    spec = importlib.util.spec_from_file_location("derive_thresholds", ROOT / ".ci" / "derive_thresholds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_margin_factor_by_hand():
    k = derive_module().margin_factor
    # One gate, 4 seeds (3 df), 2 gated and 2 new seeds: t_3(0.95) = 2.3534 (tables), √(2/2) = 1.
    assert k(4, 2, 1, alpha=0.05) == pytest.approx(2.3534, abs=1e-4)
    # 2 gated seeds of 4 and 32 gates at 5%: t_3(1 − 0.05/32) = 8.77.
    assert k(4, 2, 32, alpha=0.05) == pytest.approx(8.77, abs=0.01)
    # One gated seed: the difference of two single draws has sd σ√2.
    assert k(4, 1, 1, alpha=0.05) == pytest.approx(2.3534 * 2**0.5, abs=1e-4)
    assert k(8, 2, 32) < k(4, 2, 32)  # more seeds measure s better: tighter bounds
    with pytest.raises(ValueError):
        k(1, 1, 1)


@pytest.mark.parametrize("n_seeds,n_gates", [(4, 1), (4, 8), (6, 8)])
def test_a_pure_redraw_fails_some_gate_at_most_alpha_of_the_time(n_seeds, n_gates):
    """Monte Carlo of the situation the rule is for: n_seeds measured seeds (the first two
    gated) set every bound; a change that only re-draws the noise brings 2 new seeds per
    gate; the chance that any of n_gates independent gates fails stays ≤ α. (Not exactly α
    for one gate: s includes the gated seeds, which makes the t bound a little
    conservative, measured ≈ 0.041 at 4 seeds; it must not be far below α.)"""
    rule = derive_module()
    alpha, trials = 0.05, 40_000
    rng = np.random.default_rng(0)
    k = rule.margin_factor(n_seeds, 2, n_gates, alpha=alpha)
    seeds = rng.normal(size=(trials, n_gates, n_seeds))
    new = rng.normal(size=(trials, n_gates, 2)).mean(axis=2)
    bound = seeds[..., :2].mean(axis=2) + k * seeds.std(axis=2, ddof=1)
    rate = float((new > bound).any(axis=1).mean())
    assert rate <= alpha + 0.006
    if n_gates == 1:
        assert rate >= 0.7 * alpha


def test_the_committed_file_is_what_the_rule_gives(tmp_path):
    """.ci/thresholds.yaml = derive_thresholds.py over the committed CI baseline (gated
    seeds) and spread seeds, byte for byte: nobody edits a bound by hand."""
    measured = tmp_path / "measured"
    shutil.copytree(ROOT / ".ci" / "baseline" / "eval", measured)
    for path in (ROOT / ".ci" / "baseline" / "spread").iterdir():
        shutil.copy(path, measured / path.name)
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "derive_thresholds.py"), str(measured),
                          "--gated-seeds", "0", "1"], capture_output=True, text=True, check=True).stdout
    assert out.rstrip("\n") == (ROOT / ".ci" / "thresholds.yaml").read_text().rstrip("\n")
