"""A metric is one file: a toy metric module dropped into the metric library folder
(``ganbench/metrics/library/``) is found by ``evaluate.metrics``, computed with its
provenance, reported with the direction it declares, and gated by `ganbench check`;
nothing else names it, and the evaluate and report stages depend on the folder."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import yaml

import ganbench.metrics.library as library
from ganbench.config.schema import EvaluateConfig
from ganbench.metrics.evaluate import score
from ganbench.metrics.registry import METRICS, Features
from ganbench.provenance import STAGE_CODE
from ganbench.thresholds import check, direction
from tests.report_outputs import write_outputs

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]

TOY = '''
"""A toy metric: the share of generated feature rows whose first feature is positive
(higher is better), with the protocol knob it reads from EvaluateConfig."""
import numpy as np

from ganbench.metrics.registry import MetricResult, MetricSpec, register_metric, with_n


def _compute(f, cfg):
    value = float(np.mean(f.fake[:, 0] > 0))
    return MetricResult({with_n("toy_share", f.num_gen): value}, {"pr_k": cfg.pr_k})


register_metric(MetricSpec(name="toy", space="domain", compute=_compute, better={"toy_share": "higher"},
                           attainable={"toy_share": (0.0, 1.0)}, description="a toy"))
'''


@pytest.fixture
def toy_metric(tmp_path, monkeypatch):
    for name in METRICS.names():  # the built-in metrics, imported once and kept afterwards
        METRICS.get(name)
    monkeypatch.setattr(METRICS, "_items", dict(METRICS._items))  # forget the toy afterwards
    monkeypatch.setattr(METRICS, "_lazy", dict(METRICS._lazy))
    # The library folder as Python sees it, with the toy's file added (not written into
    # the source tree, which other test processes hash meanwhile).
    (tmp_path / "toy.py").write_text(textwrap.dedent(TOY))
    monkeypatch.setattr(library, "__path__", [*library.__path__, str(tmp_path)])
    assert "toy" in METRICS  # found by listing the folder: no other file names it
    yield METRICS.get("toy")
    import sys
    sys.modules.pop("ganbench.metrics.library.toy", None)


def test_the_stages_that_load_metrics_depend_on_the_whole_library_folder():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage in ("evaluate", "report"):
        assert "src/ganbench/metrics/library" in STAGE_CODE[stage]
        deps = stages[stage]["deps"] if "deps" in stages[stage] else stages[stage]["do"]["deps"]
        assert "src/ganbench/metrics/library" in deps


def test_a_library_module_must_register_its_own_name(tmp_path, monkeypatch):
    monkeypatch.setattr(METRICS, "_lazy", dict(METRICS._lazy))
    (tmp_path / "misnamed.py").write_text("X = 1\n")
    monkeypatch.setattr(library, "__path__", [*library.__path__, str(tmp_path)])
    with pytest.raises(ImportError, match="did not register the metric 'misnamed'"):
        METRICS.get("misnamed")
    import sys
    sys.modules.pop("ganbench.metrics.library.misnamed", None)


def test_a_metric_in_one_file_is_computed_reported_and_gated(toy_metric, tmp_path):
    rng = np.random.default_rng(0)
    feats = Features(space="domain", fake=rng.normal(size=(100, 4)), real=rng.normal(size=(50, 4)),
                     provenance={"feature_extractor": "toy", "num_gen": 100})
    values, prov = score([toy_metric], {"domain": feats}, EvaluateConfig())
    assert set(values) == {"toy_share100"} and 0 < values["toy_share100"] < 1
    assert prov["toy_share100"]["direction"] == "higher" and prov["toy_share100"]["pr_k"] == 3
    assert prov["toy_share100"]["metric"] == "toy" and prov["toy_share100"]["feature_extractor"] == "toy"

    # Reported with its direction: three seeds per variant, dcgan clearly higher → starred.
    paths = write_outputs(tmp_path, seeds=(0, 1, 2))
    for path in paths.eval_dir.glob("*.json"):
        ev = json.loads(path.read_text())
        share = (0.8 if ev["variant"] == "dcgan" else 0.3) + 0.01 * ev["seed"]
        ev["toy_share100"] = share
        ev["provenance"]["toy_share100"] = prov["toy_share100"]
        path.write_text(json.dumps(ev))
    from ganbench.report.build import analyse
    from ganbench.report.inputs import load_runs, run_ids

    report = analyse(load_runs(run_ids(("dcgan", "wgan_gp"), (0, 1, 2)), paths), figures=False)
    col = next(c for c in report.columns if c.metric == "toy_share100")
    assert col.direction == "higher"
    assert report.best(col) == {"dcgan"}

    # Gated from below, as it declares.
    assert direction("toy_share100") == "higher"
    rows = check({"dcgan": {"toy_share100": 0.75}, "wgan_gp": {"toy_share100": 0.5}}, paths.eval_dir)
    assert [(r["direction"], r["ok"]) for r in rows] == [("min", True), ("min", False)]
