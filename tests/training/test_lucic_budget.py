"""compare_gan's budget counts discriminator steps: a kimg budget is the same count (every
D step, and every VAE step, shows one batch of real images), and G steps after every
n_critic D steps."""

from __future__ import annotations

import pytest

from ganbench.config import parse_params
from ganbench.models import VARIANTS
from ganbench.published import LUCIC_BATCH, LUCIC_D_STEPS, LUCIC_KIMG
from ganbench.training.budget import Budget
from ganbench.training.run import train_variant
from ganbench.training.setup import prepare_training
from ganbench.training.state import Progress
from tests.fixtures import TINY_INFOGAN


def run(variant: str, processed, out, **loss):
    section = {"model": TINY_INFOGAN, **({"loss": loss} if loss else {})}
    params = parse_params({
        "variants": [variant],
        "train": {"budget": "kimg", "kimg": 0.64, "batch_size": 16, "ema_kimg": 0.0, "eval_every_kimg": 0},
        "sample": {"generator": "raw"},
        "runtime": {"log_every": 4, "image_every": 1000, "device": "cpu"},
        variant: section,
    }, VARIANTS)
    return train_variant(prepare_training(params, variant, 0, processed, out)).metrics


def test_the_profiles_kimg_is_compare_gans_d_step_count():
    assert LUCIC_KIMG == 1000.0 and LUCIC_D_STEPS * LUCIC_BATCH == 1_000_000
    budget = Budget("kimg", LUCIC_KIMG)
    assert budget.reached(Progress(step=0, images_seen=LUCIC_D_STEPS * LUCIC_BATCH))
    assert not budget.reached(Progress(step=0, images_seen=(LUCIC_D_STEPS - 1) * LUCIC_BATCH))


def test_n_critic_5_makes_a_fifth_of_the_generator_steps(processed, tmp_path):
    """0.64 kimg at batch 16 = 40 D steps in both runs: 40 G steps at n_critic 1, 8 at 5."""
    one = run("lucic_ns", processed, tmp_path / "one", name="nonsaturating", n_critic=1)
    five = run("lucic_ns", processed, tmp_path / "five", name="nonsaturating", n_critic=5)
    assert (one["d_steps"], one["g_steps"]) == (40, 40)
    assert (five["d_steps"], five["g_steps"]) == (40, 8)
    assert one["images_seen"] == five["images_seen"] == 640
    wgan = run("lucic_wgan", processed, tmp_path / "wgan")  # its default n_critic is 5
    assert (wgan["d_steps"], wgan["g_steps"]) == (40, 8)


def test_a_vae_step_counts_as_one_batch(processed, tmp_path):
    vae = run("lucic_vae", processed, tmp_path / "vae")
    assert (vae["g_steps"], vae["d_steps"], vae["images_seen"]) == (40, 0, 640)


@pytest.mark.parametrize("variant", ["lucic_mm", "lucic_lsgan", "lucic_wgan_gp", "lucic_dragan"])
def test_every_lucic_objective_trains(variant, processed, tmp_path):
    metrics = run(variant, processed, tmp_path / variant)
    assert metrics["images_seen"] == 640 and metrics["loss"] == VARIANTS.get(variant).default.loss.name
