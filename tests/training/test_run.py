"""train_variant on a tiny fixture: every variant trains, checkpoints, resumes exactly, samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganbench.config import DataConfig, SampleConfig, parse_params
from ganbench.data.fixtures import make_fake_dataset, register_fixture_dataset
from ganbench.data.preprocess import preprocess
from ganbench.data.sources import fetch
from ganbench.generation import generate_from_checkpoint
from ganbench.models import VARIANTS
from ganbench.sampling_stage import sample_checkpoint
from ganbench.tracking import NullTracker
from ganbench.training.checkpoint import load_checkpoint
from ganbench.training.run import train_variant

TINY = {
    "dcgan": {"model": {"z_dim": 8, "g_channels": 4, "d_channels": 4}},
    "wgan_gp": {"model": {"z_dim": 8, "g_channels": 4, "d_channels": 4}, "loss": {"name": "wasserstein_gp", "n_critic": 2}},
    "stylegan": {"model": {"z_dim": 16, "w_dim": 16, "mapping_layers": 2, "g_channel_base": 64,
                           "g_channel_max": 16, "d_channel_base": 64, "d_channel_max": 16},
                 "ema_kimg": 0.05},
}


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("data")
    spec = make_fake_dataset(tmp / "idx", n_train=96, n_test=32)
    with register_fixture_dataset(spec):
        cfg = DataConfig(dataset=spec.name, source_dir=str(tmp / "idx"), allow_download=False)
        fetch(cfg, tmp / "raw" / spec.name, env={})
        preprocess(tmp / "raw" / spec.name, tmp / "processed", cfg)
    return tmp / "processed"


def params_for(variant: str, kimg: float, conditional: bool = False):
    section = {**TINY.get(variant, {}), "conditional": conditional}
    return parse_params({
        "variants": [variant],
        "train": {"kimg": kimg, "batch_size": 16, "log_every": 2, "image_every": 100,
                  "checkpoint_every": 3, "device": "cpu"},
        variant: section,
    })


@pytest.mark.parametrize("variant", VARIANTS.names())
def test_resume_continues_exactly(variant, processed, tmp_path):
    torch.manual_seed(0)
    full = train_variant(params_for(variant, 0.32), variant, processed, tmp_path / "a", NullTracker())
    half = train_variant(params_for(variant, 0.16), variant, processed, tmp_path / "b", NullTracker())
    assert half.resumed_from_kimg is None
    resumed = train_variant(params_for(variant, 0.32), variant, processed, tmp_path / "b", NullTracker())
    assert resumed.resumed_from_kimg == pytest.approx(0.16)
    assert resumed.metrics["g_steps"] == full.metrics["g_steps"]
    a, b = load_checkpoint(full.checkpoint), load_checkpoint(resumed.checkpoint)
    for key in ("G", "D") + (("G_ema",) if a["G_ema"] is not None else ()):
        for name, tensor in a[key].items():
            torch.testing.assert_close(tensor, b[key][name], msg=f"{key}.{name}")


@pytest.mark.parametrize("variant", VARIANTS.names())
def test_conditional_sampling_and_generate(variant, processed, tmp_path):
    result = train_variant(params_for(variant, 0.08, conditional=True), variant, processed, tmp_path,
                           NullTracker())
    images, grid, nrow = sample_checkpoint(result.checkpoint, SampleConfig(num=20, batch_size=8, grid_size=20))
    assert images.shape == (20, 1, 32, 32) and images.dtype == np.uint8
    assert nrow == 2 and len(grid) == 20  # 10 classes, one row each
    one_class, _ = generate_from_checkpoint(result.checkpoint, n=4, seed=3, class_index=7)
    other, _ = generate_from_checkpoint(result.checkpoint, n=4, seed=3, class_index=2)
    assert not np.array_equal(one_class, other)
    walk, nrow = generate_from_checkpoint(result.checkpoint, n=5, seed=3, interpolate=True)
    assert walk.shape[0] == 5 and nrow == 5
    with pytest.raises(ValueError, match="out of range"):
        generate_from_checkpoint(result.checkpoint, n=2, seed=0, class_index=10)
