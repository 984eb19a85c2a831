"""The lucic profile through real `dvc repro` on the tiny fixture at a tiny budget: 28x28
images with no padding through every stage, the InfoGAN-style NS-GAN and VAE trained,
sampled and evaluated, and each FID's provenance saying what differs from the published
protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from ganbench.protocol import INCEPTION_PREPROCESS
from ganbench.results import read_result
from tests.fixtures import TINY_INFOGAN
from tests.pipeline.project import ROOT, make_project, merge

pytestmark = pytest.mark.timeout(900)

#: The profile at a budget a test affords (what CI may run of it).
TINY_LUCIC = {
    "seeds": [0],
    "train": {"kimg": 0.64, "batch_size": 16, "eval_every_kimg": 0.32},
    "sample": {"num": 40},
    "evaluate": {"num_gen": 40, "num_real": 0, "domain_num_gen": 40},
    "runtime": {"checkpoint_every_kimg": 0.32},
    "lucic_ns": {"model": TINY_INFOGAN},
    "lucic_vae": {"model": TINY_INFOGAN},
}


@pytest.fixture(scope="module")
def lucic_project(tmp_path_factory):
    """The tiny project with the profile applied, reproduced once and committed."""
    profile = yaml.safe_load((ROOT / "params.lucic.yaml").read_text())
    repo, sh = make_project(tmp_path_factory.mktemp("lucic"), merge(profile, TINY_LUCIC))
    ran, _ = sh.repro()
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "the lucic profile, tiny")
    return repo, sh, ran


def test_the_lucic_profile_runs_at_28x28_and_says_what_differs(lucic_project):
    repo, sh, ran = lucic_project
    assert {"train@lucic_ns-0", "train@lucic_vae-0", "evaluate@lucic_vae-0", "report"} <= set(ran)
    samples = np.load(repo / "samples/lucic_ns-0.npz")
    assert samples["images"].shape == (40, 1, 28, 28)  # native 28x28, no padding
    assert samples["images"].dtype == np.float32  # G's output unrounded, as compare_gan feeds it
    reference = json.loads((repo / "data/reference/meta.json").read_text())
    assert reference["resize"] == INCEPTION_PREPROCESS["tf1"]
    train = json.loads((repo / "metrics/train/lucic_ns-0.json").read_text())
    assert train["d_steps"] == 40 and train["g_steps"] == 40  # 0.64 kimg at batch 16
    for run in ("lucic_ns-0", "lucic_vae-0"):
        result = read_result(repo / f"metrics/eval/{run}.json", "evaluate")
        prov = result["provenance"]
        fid = next(k for k in result if k.startswith("fid"))
        published = prov[fid]["published"]
        assert published["comparable_with_published"] is False
        differs = {d["field"]: d["ours"] for d in published["differs"]}
        # The tiny budget and counts differ; the geometry, split, generator and networks do not.
        assert differs["num_gen"] == 40 and differs["samples.checkpoint_kimg"] == pytest.approx(0.64)
        # Only the fixture (its name and test-split size), the tiny budget and the counts
        # differ: the geometry, split, input path, pixels, generator and networks are the
        # published protocol's.
        assert set(differs) == {"dataset", "num_real", "num_gen", "samples.checkpoint_kimg",
                                "samples.compare_gan_steps"}, differs
        # compare_gan's step counter: D steps, and the VAE's own steps (it has no D).
        assert differs["samples.compare_gan_steps"] == 40
        assert prov[fid]["resize"] == INCEPTION_PREPROCESS["tf1"] and prov[fid]["samples"]["dtype"] == "float32"
        assert prov[fid]["image_shape"] == [1, 28, 28]
        assert [k for k, v in prov.items() if isinstance(v, dict) and "published" in v] == [fid]  # FID only


def test_the_search_queues_k_experiments_per_variant_and_aggregates_them(lucic_project):
    """`ganbench search queue` queues K DVC experiments (one setting each, evaluated against
    the training split); DVC's own queue runs them; `ganbench search report` aggregates."""
    repo, sh, _ = lucic_project
    sh("ganbench", "search", "queue", "--k", "2", "--variant", "lucic_ns", "--num-real", "64")
    plan = json.loads((repo / "search/plan.json").read_text())
    names = [e["name"] for e in plan["experiments"]]
    assert names == ["search-lucic-ns-000", "search-lucic-ns-001"] and plan["experiments"][0]["setting"] == {}
    status = sh("dvc", "queue", "status").stdout
    assert all(name in status for name in names) and status.count("Queued") == 2
    try:
        sh("dvc", "exp", "run", "--run-all")
    finally:
        sh("dvc", "queue", "stop", check=False)  # DVC's workers exit once idle; ask them now
    shown = sh("dvc", "exp", "show", "--json").stdout
    assert all(name in shown for name in names)
    sh("ganbench", "search", "report")
    summary = json.loads((repo / "reports/search.json").read_text())
    ns = summary["variants"]["lucic_ns"]
    assert ns["k"] == 2 and ns["planned"] == 2 and len(ns["expected_best"]) == 2
    assert ns["best"] == min(ns["expected_best"]) and ns["best_experiment"] in names
    assert summary["selection"] == "FID against the training split"
    assert "| lucic_ns | 2 / 2 |" in (repo / "reports/search.md").read_text()
    # The experiments' FID was computed against the training split, as the plan asked.
    sh("dvc", "exp", "apply", names[1])
    prov = read_result(repo / "metrics/eval/lucic_ns-0.json", "evaluate")["provenance"]
    fid = next(k for k in prov if k.startswith("fid"))
    assert prov[fid]["reference_split"] == "train" and prov[fid]["num_real"] == 64
    assert "reference_split" in {d["field"] for d in prov[fid]["published"]["differs"]}
