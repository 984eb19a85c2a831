"""A stage's results as two files: the headline numbers DVC shows, and how they were made.

``dvc metrics show`` and ``dvc metrics diff`` print every number of a metrics file,
nested ones included, so a file that also held each score's provenance (sample counts,
feature sizes, library versions, evaluation-noise intervals) printed a table of dashes.
Each result is therefore written as

* ``<name>.json``: the headline numbers only (the file ``dvc.yaml`` declares as
  ``metrics``), e.g. ``{"fid2k": 74.1, "kid2k": 0.05, ...}``;
* ``<name>.provenance.json``: everything else (``variant``, ``seed``, ``provenance``,
  the run's bookkeeping), a plain output beside it.

:func:`read_result` joins them again, so every reader (report, check, baseline) sees
one dict; a file that still holds everything (older results, hand-made fixtures) reads
as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ganbench.io import read_json_object, write_json

SUFFIX = ".provenance.json"


def provenance_path(path: str | os.PathLike[str]) -> Path:
    """``metrics/eval/dcgan-0.json`` → ``metrics/eval/dcgan-0.provenance.json``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".json") + SUFFIX)


def is_headline(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def write_result(path: str | os.PathLike[str], result: Mapping[str, Any], headline: Iterable[str]) -> None:
    """Write ``result``: the keys in ``headline`` (numbers) to ``path``, every other key to
    :func:`provenance_path`."""
    wanted = set(headline)
    headline = {k: v for k, v in result.items() if k in wanted and is_headline(v)}
    write_json(path, headline)
    write_json(provenance_path(path), {k: v for k, v in result.items() if k not in headline})


def read_result(path: str | os.PathLike[str], stage: str) -> dict[str, Any]:
    """The result written by :func:`write_result` as one dict (the provenance file's keys
    after the headline's); a missing file names the stage that makes it."""
    out = read_json_object(path, stage)
    side = provenance_path(path)
    if side.is_file():
        out.update({k: v for k, v in read_json_object(side, stage).items() if k not in out})
    return out


def is_result_file(path: Path) -> bool:
    """A headline file (not its provenance)."""
    return path.suffix == ".json" and not path.name.endswith(SUFFIX)
