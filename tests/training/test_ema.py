"""The EMA generator: BatchNorm statistics of its own weights, and the half-life in effect."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.training.ema import EMA, BatchNormRecalibration


class BNGenerator(nn.Module):
    """G(z, c) = BatchNorm(Linear(z)): its BatchNorm sees Linear(z) for every latent."""

    z_dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, z, c=None):
        return self.bn(self.lin(z))


def recipe(batches=3, seed=11, num_classes=0):
    return BatchNormRecalibration(batches=batches, batch_size=5, z_dim=2, num_classes=num_classes, seed=seed,
                                  device=torch.device("cpu"))


def test_recalibration_is_the_cumulative_average_over_its_own_latent_batches():
    torch.manual_seed(0)
    G = BNGenerator().eval()
    torch.manual_seed(123)
    expected_next = torch.rand(2)
    torch.manual_seed(123)
    recipe()(G)
    assert torch.equal(torch.rand(2), expected_next)  # the training RNG stream is untouched
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        xs = [G.lin(torch.randn(5, 2, generator=g)) for _ in range(3)]
    torch.testing.assert_close(G.bn.running_mean, torch.stack([x.mean(0) for x in xs]).mean(0))
    torch.testing.assert_close(G.bn.running_var, torch.stack([x.var(0, unbiased=True) for x in xs]).mean(0))
    assert int(G.bn.num_batches_tracked) == 3 and G.bn.momentum == 0.1 and not G.training
    before = G.bn.running_mean.clone()
    recipe()(G)  # starts afresh: the same inputs give the same statistics
    assert torch.equal(G.bn.running_mean, before)
    assert all(p.grad is None for p in G.parameters())


def test_the_ema_generator_gets_statistics_of_its_own_weights():
    torch.manual_seed(0)
    G = BNGenerator()
    ema = EMA(G, half_life_kimg=0.001, batchnorm=recipe())
    with torch.no_grad():
        G(torch.randn(8, 2) * 5 + 3)  # the trained network's statistics move
        G.lin.weight.mul_(2.0)
    ema.update(G, images=1, images_seen=1)
    # The trained network's statistics are not copied into the average.
    assert not torch.equal(ema.model.bn.running_mean, G.bn.running_mean)
    model = ema.calibrated()
    reference = BNGenerator()
    reference.load_state_dict(model.state_dict())
    recipe()(reference)
    assert torch.equal(model.bn.running_mean, reference.bn.running_mean)
    assert torch.equal(model.bn.running_var, reference.bn.running_var)
    calls = []
    ema.batchnorm = lambda m: calls.append(m)
    ema.calibrated()
    assert calls == []  # once per update
    ema.update(G, images=1, images_seen=2)
    ema.calibrated()
    assert calls == [ema.model]


def test_an_ema_of_a_batchnorm_network_needs_a_recalibration():
    with pytest.raises(ValueError, match="needs a BatchNormRecalibration"):
        EMA(BNGenerator(), half_life_kimg=1.0)
    EMA(nn.Linear(2, 2), half_life_kimg=1.0)  # nothing to recompute


def test_conditional_recalibration_draws_labels_too():
    seen = []

    class Conditional(BNGenerator):
        def forward(self, z, c=None):
            seen.append(c)
            return super().forward(z)

    recipe(batches=2, num_classes=10)(Conditional())
    assert len(seen) == 2 and all(c.shape == (5,) and 0 <= int(c.min()) and int(c.max()) < 10 for c in seen)


@pytest.mark.parametrize("images_seen, per_step, kimg, steps", [
    (48_000, 32, 2.4, 75.0),      # DCGAN, StyleGAN, VAE at 1,500 G steps: the ramp-up caps it
    (240_000, 160, 10.0, 62.5),   # WGAN-GP (5 critic batches per G step): past the ramp-up
    (0, 32, 0.0, 0.0),
])
def test_the_half_life_in_effect_follows_the_ramp_up(images_seen, per_step, kimg, steps):
    ema = EMA(nn.Linear(1, 1), half_life_kimg=10.0, rampup=0.05)
    described = ema.describe(images_seen, per_step)
    assert described == pytest.approx({"half_life_kimg": kimg, "half_life_g_steps": steps, "nominal_kimg": 10.0,
                                       "rampup": 0.05})
    assert EMA(nn.Linear(1, 1), half_life_kimg=10.0).describe(48_000, 32)["half_life_kimg"] == 10.0


def test_ema_arithmetic():
    """An update moves each averaged weight by 1 - beta towards the trained one, beta =
    0.5 ** (images / half-life), and copies plain buffers (as StyleGAN's w_avg)."""
    net = torch.nn.Linear(1, 1, bias=False)
    net.register_buffer("w_avg", torch.zeros(1))
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, half_life_kimg=0.001)  # half-life: 1 image
    with torch.no_grad():
        net.weight.fill_(1.0)
        net.w_avg.fill_(3.0)
    ema.update(net, images=1, images_seen=1)  # beta = 0.5
    assert ema.model.weight.item() == pytest.approx(0.5)
    assert ema.model.w_avg.item() == 3.0
    ema.update(net, images=2, images_seen=3)  # beta = 0.25
    assert ema.model.weight.item() == pytest.approx(0.5 * 0.25 + 0.75)
    ramp = EMA(net, half_life_kimg=10.0, rampup=0.05)
    assert ramp.beta(64, 1000) == pytest.approx(0.5 ** (64 / 50))
