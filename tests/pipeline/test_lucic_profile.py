"""The lucic profile through real `dvc repro` on the tiny fixture at a tiny budget: 28x28
images with no padding through every stage, the InfoGAN-style NS-GAN and VAE trained,
sampled and evaluated, and each FID's provenance saying what differs from the published
protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

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


def test_the_lucic_profile_runs_at_28x28_and_says_what_differs(tmp_path):
    profile = yaml.safe_load((ROOT / "params.lucic.yaml").read_text())
    repo, sh = make_project(tmp_path, merge(profile, TINY_LUCIC))
    ran, _ = sh.repro()
    assert {"train@lucic_ns-0", "train@lucic_vae-0", "evaluate@lucic_vae-0", "report"} <= set(ran)
    samples = np.load(repo / "samples/lucic_ns-0.npz")
    assert samples["images"].shape == (40, 1, 28, 28)  # native 28x28, no padding
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
        assert {"resize", "sample_dtype"} <= set(differs)
        assert not {"image_shape", "reference_split", "samples.variant", "samples.generator",
                    "samples.batchnorm"} & set(differs), differs
        assert prov[fid]["image_shape"] == [1, 28, 28]
        assert [k for k, v in prov.items() if isinstance(v, dict) and "published" in v] == [fid]  # FID only
