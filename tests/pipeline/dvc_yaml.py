"""The project's dvc.yaml as the pipeline tests read it: its stages, a stage's body and
the paths listed in a deps/outs/metrics/plots entry."""

from __future__ import annotations

import yaml

from tests.pipeline.project import ROOT

#: dvc.yaml, parsed.
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
#: dvc.yaml's stages by name.
STAGES = DVC["stages"]


def body(name: str) -> dict:
    """Stage ``name``'s definition (the ``do`` part of a foreach stage)."""
    stage = STAGES[name]
    return stage.get("do", stage)


def paths(entries) -> list[str]:
    """The paths of a deps/outs/metrics/plots list (the keys of entries with options)."""
    out = []
    for e in entries or []:
        out.extend(e) if isinstance(e, dict) else out.append(e)
    return out
