"""CI's gates can fail: every committed bound lies inside the range its metric can take
(for the protocol the bounds were set under), and the rule that finds a useless bound
catches the ones that cannot fail."""

from __future__ import annotations

import shutil
from pathlib import Path

from ganbench.thresholds import load_thresholds, protocol_source, unattainable

ROOT = Path(__file__).resolve().parents[1]
GATES = ROOT / ".ci" / "thresholds.yaml"


def test_every_committed_bound_can_fail():
    source = protocol_source(GATES)
    assert source is not None, "the thresholds file must declare the protocol its bounds were set under"
    assert unattainable(load_thresholds(GATES), source) == []


def test_bounds_outside_a_metrics_range_are_found(tmp_path):
    shutil.copytree(ROOT / ".ci" / "baseline" / "eval", tmp_path / "eval")
    variant = sorted(p.stem.rsplit("-", 1)[0] for p in (tmp_path / "eval").glob("*.json"))[0]
    problems = unattainable({variant: {"class_kl1k": 12.72, "precision250": 0.0, "classes_covered1k": 11,
                                       "fid250": -1.0, "fd_domain1k": 500.0}}, tmp_path / "eval")
    named = sorted(line.split()[1] for line in problems)
    # A one-class generator scores class_kl ≈ 10.3 against a near-uniform reference: 12.72
    # cannot fail; precision ≥ 0 always passes; 11 of 10 classes never; FID is never < 0.
    assert named == ["class_kl1k", "classes_covered1k", "fid250", "precision250"], problems
