"""The objectives Lucic et al. 2018 adds (minimax, DRAGAN, LSGAN on sigmoid, the Bernoulli
ELBO, n_critic for every score objective) against hand-computed values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.errors import ParamsError
from ganbench.losses import OBJECTIVES, Batch, Phase
from ganbench.losses.base import native_gradient_scale
from ganbench.losses.dragan import dragan_penalty
from ganbench.losses.vae import bernoulli_nll
from ganbench.losses.wasserstein_gp import gradient_penalty
from ganbench.models import VARIANTS


class LinearD(nn.Module):
    """D(x) = w · flatten(x') + b on its native pixels x' (x itself, or (x + 1)/2)."""

    def __init__(self, w: torch.Tensor, b: float, unit: bool) -> None:
        super().__init__()
        self.w, self.b, self.unit = nn.Parameter(w), nn.Parameter(torch.tensor(b)), unit
        if unit:
            self.native_range = (0.0, 1.0)

    def forward(self, x, c=None):
        x = (x + 1) / 2 if self.unit else x
        return x.flatten(1) @ self.w + self.b


def objective(name: str, **cfg):
    cls = OBJECTIVES.get(name)
    return cls(cls.Config(**cfg), None, None)


def test_minimax_generator_minimises_log_one_minus_d():
    fake = torch.tensor([-2.0, 0.5, 3.0])
    mm = objective("minimax")
    torch.testing.assert_close(mm.g_loss(fake), torch.log(1 - torch.sigmoid(fake)).mean())
    ns = objective("nonsaturating")
    torch.testing.assert_close(mm.d_loss(fake, -fake), ns.d_loss(fake, -fake))


def test_lsgan_on_sigmoid_outputs():
    real, fake = torch.tensor([0.3, -1.0]), torch.tensor([2.0, 0.0])
    ls = objective("lsgan", output="sigmoid")
    sr, sf = torch.sigmoid(real), torch.sigmoid(fake)
    torch.testing.assert_close(ls.d_loss(real, fake), 0.5 * ((sr - 1).square().mean() + sf.square().mean()))
    torch.testing.assert_close(ls.g_loss(fake), 0.5 * (sf - 1).square().mean())
    raw = objective("lsgan")
    torch.testing.assert_close(raw.g_loss(fake), 0.5 * (fake - 1).square().mean())


@pytest.mark.parametrize("name", ["nonsaturating", "minimax", "lsgan", "dragan"])
def test_n_critic_sets_the_discriminator_steps(name):
    assert objective(name, n_critic=5).d_steps == 5 and objective(name).d_steps == 1
    with pytest.raises(ParamsError, match=r"'v.loss.n_critic' must be ≥ 1"):
        VARIANTS.get("lucic_ns").parse({"loss": {"name": name, "n_critic": 0}}, prefix="v")


def test_native_gradient_scale():
    assert native_gradient_scale(LinearD(torch.ones(4), 0.0, unit=True)) == 2.0
    assert native_gradient_scale(LinearD(torch.ones(4), 0.0, unit=False)) == 1.0


def test_gradient_penalty_is_measured_in_ds_own_pixels():
    """For D(x) = w·(x+1)/2 the gradient w.r.t. ganbench's pixels is w/2, w.r.t. D's own
    [0, 1] pixels w: the penalty is (‖w‖ − 1)², not (‖w‖/2 − 1)²."""
    w = torch.full((4,), 0.8)  # ‖w‖ = 1.6
    real, fake = torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    gp = gradient_penalty(LinearD(w, 0.1, unit=True), real, fake, None, torch.rand(3))
    torch.testing.assert_close(gp, torch.tensor((1.6 - 1) ** 2))
    gp_plain = gradient_penalty(LinearD(w, 0.1, unit=False), real, fake, None, torch.rand(3))
    torch.testing.assert_close(gp_plain, torch.tensor((1.6 - 1) ** 2))  # x is D's own pixels there


def test_dragan_penalty_by_hand():
    """x̂ = x + α(x_p − x), x_p = x + ½·std(x)·U[0, 1); penalty of sigmoid(D)'s gradient,
    norm sqrt(Σg² + 1e-4), in D's own pixel units."""
    w = torch.tensor([0.5, -1.0, 2.0, 0.25])
    D = LinearD(w, 0.2, unit=True)
    real = torch.rand(5, 1, 2, 2) * 2 - 1
    torch.manual_seed(7)
    got = dragan_penalty(D, real, None)
    torch.manual_seed(7)  # the same draws, in the same order: α, then the noise
    alpha = torch.rand(5, 1, 1, 1)
    noise = torch.rand(5, 1, 2, 2)
    x_hat = real + alpha * (0.5 * real.std(unbiased=False) * noise)
    s = ((x_hat + 1) / 2).flatten(1) @ w + 0.2
    slope = torch.sigmoid(s) * (1 - torch.sigmoid(s))  # d sigmoid / ds
    norm = (slope.square() * w.square().sum() + 1e-4).sqrt()  # ‖slope · w‖ in [0, 1] pixels
    torch.testing.assert_close(got, (norm - 1).square().mean())
    assert (noise >= 0).all()  # compare_gan's perturbation only brightens


def test_dragan_loss_adds_its_penalty_to_the_ns_loss():
    D = LinearD(torch.tensor([0.5, -1.0, 2.0, 0.25]), 0.2, unit=True)
    G = nn.Identity()
    dr = OBJECTIVES.get("dragan")(OBJECTIVES.get("dragan").Config(gp_weight=3.0), G, D)
    ns = OBJECTIVES.get("nonsaturating")(OBJECTIVES.get("nonsaturating").Config(), G, D)
    real, fake = torch.rand(4, 1, 2, 2) * 2 - 1, torch.rand(4, 1, 2, 2) * 2 - 1
    batch = Batch(real=real, real_c=None, z=torch.zeros(4, 1), gen_c=None, fake=fake)
    torch.manual_seed(3)
    loss, stats = dr.loss(Phase("Dmain", "D"), batch)
    base, _ = ns.loss(Phase("Dmain", "D"), batch)
    torch.manual_seed(3)
    torch.testing.assert_close(loss, base + 3.0 * dragan_penalty(D, real, None))
    assert set(stats) >= {"loss_D", "gradient_penalty"}
    g_loss, _ = dr.loss(Phase("Gmain", "G"), batch)
    torch.testing.assert_close(g_loss, ns.loss(Phase("Gmain", "G"), batch)[0])


def test_bernoulli_nll_by_hand():
    recon = torch.tensor([[[[0.6, -1.0]]]])  # p = 0.8, then 0 (clipped to 1e-8)
    x = torch.tensor([[[[1.0, -0.5]]]])  # t = 1, 0.25
    expected = -(torch.log(torch.tensor(0.8)) + 0.25 * torch.log(torch.tensor(1e-8)) + 0.75 * torch.log1p(
        torch.tensor(-1e-8)))
    torch.testing.assert_close(bernoulli_nll(recon, x), expected.reshape(1))
