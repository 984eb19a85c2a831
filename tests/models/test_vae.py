"""The VAE baseline: its ELBO terms by hand, the reparameterisation, its networks'
shapes, and training through the loop without a discriminator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganbench.errors import ParamsError
from ganbench.losses import OBJECTIVES, Batch
from ganbench.losses.vae import gaussian_kl, reparameterize, squared_error
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry
from ganbench.sampling.latents import latents
from ganbench.training.budget import Budget
from ganbench.training.ema import EMA
from ganbench.training.loop import Cadence, Grid, train_loop
from ganbench.training.optim import make_optimizer
from ganbench.training.state import Progress, RealBatches, Trainee
from tests.fixtures import draw_shape

TINY = {"z_dim": 8, "enc_channels": 4, "dec_channels": 4, "embed_dim": 4}


def tiny_vae(num_classes: int = 0, **section):
    spec = VARIANTS.get("vae")
    cfg = spec.parse({"model": TINY, **section})
    torch.manual_seed(0)
    G, D = spec.build(cfg.model, Geometry(channels=1, resolution=32, num_classes=num_classes))
    return cfg, G, D


def shapes_fixture(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` fixture shapes as the preprocessing makes them: (n, 1, 32, 32) in [-1, 1]
    (28×28 padded with -1), and their labels (n,)."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 10
    imgs = np.stack([draw_shape(int(k), rng) for k in y]).astype(np.float32) / 127.5 - 1.0
    x = torch.nn.functional.pad(torch.from_numpy(imgs)[:, None], (2, 2, 2, 2), value=-1.0)
    return x, torch.from_numpy(y).long()


def test_kl_matches_a_hand_computation():
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.5, -2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0], [math.log(0.5), 0.0]])
    # ½ Σ (mu² + σ² − 1 − log σ²), row by row:
    row0 = 0.5 * ((1 + 1 - 1 - 0) + (0 + 4 - 1 - math.log(4)))  # = 2 − log 2
    row1 = 0.0  # q equals the prior
    row2 = 0.5 * ((0.25 + 0.5 - 1 - math.log(0.5)) + (4 + 1 - 1 - 0))
    expected = torch.tensor([row0, row1, row2])
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    # … and torch.distributions agrees.
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p).sum(1))


def test_reconstruction_is_the_summed_squared_error_and_a_gaussian_nll():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 3, 3, generator=g) * 2 - 1
    x_hat = torch.rand(2, 1, 3, 3, generator=g) * 2 - 1
    direct = [sum((float(x_hat[i].flatten()[k]) - float(x[i].flatten()[k])) ** 2 for k in range(9))
              for i in range(2)]
    torch.testing.assert_close(squared_error(x_hat, x), torch.tensor(direct))
    # −log N(x; x̂, ½·I) = Σ (x − x̂)² + (D/2)·log π, D = 9 pixels.
    nll = -torch.distributions.Normal(x_hat, math.sqrt(0.5)).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(nll - 4.5 * math.log(math.pi), squared_error(x_hat, x))


@pytest.mark.parametrize("num_classes", [0, 10])
def test_encode_and_decode_shapes(num_classes):
    _, G, D = tiny_vae(num_classes)
    assert D is None and G.z_dim == 8 and G.supports_truncation is False
    x, y = shapes_fixture(5)
    c = y if num_classes else None
    mu, logvar = G.encode(x, c)
    assert mu.shape == logvar.shape == (5, 8)
    images = G(mu, c)
    assert images.shape == (5, 1, 32, 32) and images.abs().max() <= 1.0
    with pytest.raises(ValueError, match="truncation must be 1.0"):
        G(mu, c, truncation_psi=0.7)
    if num_classes:
        with pytest.raises(ValueError, match="needs class labels"):
            G.encode(x)


def test_resolution_must_be_a_power_of_two():
    spec = VARIANTS.get("vae")
    with pytest.raises(ParamsError, match="power of two"):
        spec.build(spec.default.model, Geometry(channels=1, resolution=28))


def test_reparameterisation_statistics_and_gradients():
    n = 20_000
    mu = torch.tensor([2.0, -1.0]).repeat(n, 1).requires_grad_(True)
    logvar = torch.tensor([math.log(0.25), math.log(4.0)]).repeat(n, 1).requires_grad_(True)
    torch.manual_seed(0)
    z = reparameterize(mu, logvar)
    # Standard errors of the mean: 0.5/√n ≈ 0.0035 and 2/√n ≈ 0.014.
    torch.testing.assert_close(z.mean(0), torch.tensor([2.0, -1.0]), atol=0.06, rtol=0)
    torch.testing.assert_close(z.var(0), torch.tensor([0.25, 4.0]), rtol=0.05, atol=0)
    z.sum().backward()
    # dz/dmu = 1, dz/dlogvar = ½ σ ε = ½ (z − mu).
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, 0.5 * (z - mu).detach())
    # ε comes from the global RNG: the same seed gives the same sample.
    torch.manual_seed(0)
    torch.testing.assert_close(reparameterize(mu, logvar), z, rtol=0, atol=0)


def test_objective_reports_its_terms_and_loss_is_recon_plus_beta_kl():
    cfg, G, _ = tiny_vae(loss={"name": "elbo", "beta": 0.5})
    obj_cls = OBJECTIVES.get("elbo")
    obj = obj_cls(cfg.loss, G, None)
    assert obj_cls.adversarial is False and obj.d_steps == 0
    assert [(p.name, p.net, p.interval) for p in obj.phases] == [("main", "G", 1)]
    x, _ = shapes_fixture(4)
    batch = Batch(real=x, real_c=None, z=torch.randn(4, G.z_dim), gen_c=None)
    torch.manual_seed(3)
    loss, stats = obj.loss(obj.phases[0], batch)
    assert set(stats) == {"recon", "kl", "loss_G"}
    assert all(not v.requires_grad for v in stats.values())
    torch.testing.assert_close(stats["loss_G"], stats["recon"] + 0.5 * stats["kl"])
    torch.testing.assert_close(loss.detach(), stats["loss_G"])
    # The same numbers by hand, with the same ε.
    torch.manual_seed(3)
    mu, logvar = G.encode(x)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    recon = ((G(z) - x) ** 2).sum(dim=(1, 2, 3)).mean()
    kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)).mean()
    torch.testing.assert_close(stats["recon"], recon.detach())
    torch.testing.assert_close(stats["kl"], kl.detach())


def test_variant_section_refuses_a_discriminator():
    spec = VARIANTS.get("vae")
    assert not spec.adversarial and spec.default.d_optim is None
    with pytest.raises(ParamsError, match="vae.d_optim"):
        spec.parse({"d_optim": {"lr": 1e-3}})
    with pytest.raises(ParamsError, match="takes no discriminator|needs discriminator"):
        spec.parse({"loss": {"name": "nonsaturating"}})
    with pytest.raises(ParamsError, match="vae.loss.beta"):
        spec.parse({"loss": {"name": "elbo", "beta": -1.0}})
    with pytest.raises(ParamsError, match="vae.model.z_dim"):
        spec.parse({"model": {"z_dim": 0}})


def test_a_few_optimizer_steps_lower_the_loss():
    cfg, G, _ = tiny_vae()
    obj = OBJECTIVES.get("elbo")(cfg.loss, G, None)
    opt = make_optimizer(G, cfg.g_optim)
    x, _ = shapes_fixture(16)
    batch = Batch(real=x, real_c=None, z=torch.zeros(16, G.z_dim), gen_c=None)

    def evaluate() -> float:
        torch.manual_seed(1)  # the same ε each time
        with torch.no_grad():
            return obj.loss(obj.phases[0], batch)[0].item()

    before = evaluate()
    for _ in range(25):
        opt.zero_grad(set_to_none=True)
        obj.loss(obj.phases[0], batch)[0].backward()
        opt.step()
    after = evaluate()
    assert after < 0.8 * before, (before, after)


class Recorder:
    def __init__(self):
        self.metrics = []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, dict(metrics)))

    def log_image(self, image, key, step):
        pass

    def log_artifact(self, path, artifact_path=None):
        pass


@pytest.mark.parametrize("num_classes", [0, 10])
def test_trains_through_the_loop_without_a_discriminator(num_classes):
    cfg, G, D = tiny_vae(num_classes)
    obj = OBJECTIVES.get(cfg.loss.name)(cfg.loss, G, D)
    x, y = shapes_fixture(32)
    t = Trainee(G, D, obj, make_optimizer(G, cfg.g_optim), None,
                RealBatches(x, y if num_classes else None, 8, 0, torch.device("cpu")),
                ema=EMA(G, 0.05), num_classes=num_classes)
    grid_c = torch.arange(num_classes) if num_classes else None
    grid = Grid(z=latents(num_classes or 4, G.z_dim, 1), c=grid_c, nrow=2, seed=1)
    before = [p.detach().clone() for p in G.parameters()]
    rec = Recorder()
    state = train_loop(t, Budget("g_steps", 4), Cadence(log_every=2, image_every=100,
                                                        checkpoint_every_images=10**6),
                       rec, state=Progress(), grid=grid, save=lambda s: None)
    assert state.step == 4 and state.d_step == 0 and state.images_seen == 4 * 8
    assert [s for s, _ in rec.metrics] == [2, 4]
    assert {"recon", "kl", "loss_G"} <= set(rec.metrics[-1][1])
    assert all(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
