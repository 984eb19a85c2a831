"""The package's import layers (pyproject.toml, [tool.importlinter]): pipeline above
training, above models/metrics/report/sampling/tracking, above data/losses, above the
ground floor; sampling, metrics and report never import training. A circle or an
upward import fails here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ganbench.provenance import STAGE_CODE

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([lint, "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


def test_sampling_and_evaluation_never_depend_on_training_code():
    """A change to the loop, the EMA or the distributed code reruns training only."""
    for stage in ("sample", "evaluate", "report", "reference", "domain-reference", "probe-reference"):
        assert not [p for p in STAGE_CODE[stage] if p.startswith("src/ganbench/training")], stage
