"""The InfoGAN-style networks of Lucic et al. 2018 against compare_gan v1's architecture
(abstract_gan.py, VAE.py, ops.py at fbbc05a; docs/lucic_protocol.md): layer shapes,
parameter counts computed from its shapes, BatchNorm settings, init, pixel and latent
mappings."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganbench.errors import ParamsError
from ganbench.models import LUCIC_VARIANTS, VARIANTS
from ganbench.models.base import Geometry, count_parameters
from ganbench.models.infogan import BN_EPS, BN_MOMENTUM, InfoGANConfig, InfoGANDiscriminator, build_gan, build_vae

F_MNIST = Geometry(channels=1, resolution=28)


def shapes(module: nn.Module, run) -> list[tuple[str, tuple[int, ...]]]:
    """(layer type, output shape) of every leaf layer, in call order."""
    out: list[tuple[str, tuple[int, ...]]] = []
    hooks = [m.register_forward_hook(lambda m, i, o: out.append((type(m).__name__, tuple(o.shape))))
             for m in module.modules() if not list(m.children())]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return out


def test_parameter_counts_are_compare_gans():
    # From compare_gan's shapes: D 1,088 + 131,200 (+256 BN) + 6,423,552 (+2,048 BN) + 1,025;
    # G 66,560 + 2,048 + 6,428,800 + 12,544 + 131,136 + 128 + 1,025.
    G, D = build_gan(InfoGANConfig(), F_MNIST)
    assert count_parameters(G) == 6_642_241
    assert count_parameters(D) == 6_559_169
    assert count_parameters(build_gan(InfoGANConfig(d_batchnorm=False), F_MNIST)[1]) == 6_556_865


def test_discriminator_layers():
    _, D = build_gan(InfoGANConfig(), F_MNIST)
    got = shapes(D, lambda: D(torch.rand(2, 1, 28, 28) * 2 - 1))
    assert got == [("Conv2d", (2, 64, 14, 14)), ("LeakyReLU", (2, 64, 14, 14)),
                   ("Conv2d", (2, 128, 7, 7)), ("BatchNorm2d", (2, 128, 7, 7)), ("LeakyReLU", (2, 128, 7, 7)),
                   ("Flatten", (2, 6272)), ("Linear", (2, 1024)), ("BatchNorm1d", (2, 1024)),
                   ("LeakyReLU", (2, 1024)), ("Linear", (2, 1))]
    _, plain = build_gan(InfoGANConfig(d_batchnorm=False), F_MNIST)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in plain.modules())
    assert plain.batch_independent and not D.batch_independent


def test_generator_layers():
    G, _ = build_gan(InfoGANConfig(), F_MNIST)
    got = shapes(G, lambda: G(torch.randn(2, 64)))
    # BN of the second linear layer is per unit over 6,272 features, before the reshape.
    assert got == [("Linear", (2, 1024)), ("BatchNorm1d", (2, 1024)), ("LeakyReLU", (2, 1024)),
                   ("Linear", (2, 6272)), ("BatchNorm1d", (2, 6272)), ("LeakyReLU", (2, 6272)),
                   ("ConvTranspose2d", (2, 64, 14, 14)), ("BatchNorm2d", (2, 64, 14, 14)),
                   ("LeakyReLU", (2, 64, 14, 14)), ("ConvTranspose2d", (2, 1, 28, 28))]
    assert all(m.negative_slope == 0.2 for m in G.modules() if isinstance(m, nn.LeakyReLU))


def test_vae_is_the_d_trunk_and_a_relu_g_layout():
    vae, none = build_vae(InfoGANConfig(latent="normal"), F_MNIST)
    assert none is None
    enc = shapes(vae, lambda: vae.encode(torch.rand(2, 1, 28, 28) * 2 - 1))
    assert [s for _, s in enc] == [(2, 64, 14, 14), (2, 64, 14, 14), (2, 128, 7, 7), (2, 128, 7, 7),
                                   (2, 128, 7, 7), (2, 6272), (2, 1024), (2, 1024), (2, 1024), (2, 128)]
    dec = shapes(vae, lambda: vae(torch.randn(2, 64)))
    assert [t for t, _ in dec].count("ReLU") == 3 and not any(t == "LeakyReLU" for t, _ in dec)
    raw = torch.linspace(-5, 5, 7)
    torch.manual_seed(0)
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    mu, logvar = vae.encode(x)
    head = vae.enc_head(vae.encoder((x + 1) / 2))
    torch.testing.assert_close(logvar, 2 * torch.log(1e-6 + nn.functional.softplus(head[:, 64:])))
    assert torch.isfinite(2 * torch.log(1e-6 + nn.functional.softplus(raw))).all()


def test_batchnorm_is_tfs_decay_0999_eps_1e3():
    for build in (build_gan, build_vae):
        nets = [n for n in build(InfoGANConfig(), F_MNIST) if n is not None]
        norms = [m for n in nets for m in n.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        assert norms and all(m.momentum == BN_MOMENTUM == 0.001 and m.eps == BN_EPS == 1e-3 for m in norms)


def test_init_is_compare_gans():
    torch.manual_seed(0)
    G, D = build_gan(InfoGANConfig(), F_MNIST)
    conv = D.trunk.net[2].weight
    assert conv.abs().max() <= 0.04 and 0.015 < conv.std() < 0.019  # truncated at 2σ: std ≈ 0.88·0.02
    fc = G.body.fc[3].weight
    assert abs(fc.std().item() - 0.02) < 5e-4 and fc.abs().max() > 0.08  # normal, not truncated
    assert all((m.bias == 0).all() for n in (G, D) for m in n.modules() if isinstance(m, (nn.Linear, nn.Conv2d,
                                                                                           nn.ConvTranspose2d)))


def test_generator_draws_uniform_latents_and_d_sees_unit_pixels():
    """G maps its N(0, I) latents to U[-1, 1] (compare_gan's z) and returns 2·sigmoid − 1;
    D sees (x + 1)/2: compare_gan's functions of compare_gan's inputs."""
    G, D = build_gan(InfoGANConfig(), F_MNIST)
    G.eval()
    seen = {}
    G.body.fc[0].register_forward_hook(lambda m, i, o: seen.__setitem__("u", i[0]))
    G.body.register_forward_hook(lambda m, i, o: seen.__setitem__("h", o))
    torch.manual_seed(1)
    images = G(torch.randn(20_000, 64))
    u = seen["u"]
    assert u.min() >= -1 and u.max() <= 1
    assert abs(u.mean().item()) < 0.01 and abs(u.var().item() - 1 / 3) < 0.005  # U[-1, 1]: mean 0, var 1/3
    for q in (0.1, 0.5, 0.9):  # its quantiles too
        assert abs(torch.quantile(u[:2000].flatten(), q).item() - (2 * q - 1)) < 0.02
    torch.testing.assert_close(images, 2 * torch.sigmoid(seen["h"]) - 1, atol=1e-6, rtol=0)
    first = {}
    D.trunk.net[0].register_forward_hook(lambda m, i, o: first.__setitem__("x", i[0]))
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    D(x)
    torch.testing.assert_close(first["x"], (x + 1) / 2)
    assert InfoGANDiscriminator.native_range == (0.0, 1.0)


def test_32x32_and_bad_resolutions():
    G, D = build_gan(InfoGANConfig(), Geometry(1, 32))
    assert G(torch.randn(2, 64)).shape == (2, 1, 32, 32) and D(torch.zeros(2, 1, 32, 32)).shape == (2,)
    with pytest.raises(ParamsError, match="divisible by 4"):
        build_gan(InfoGANConfig(), Geometry(1, 30))


def test_lucic_variants_carry_the_studys_default_settings():
    """compare_gan v1 params.py, sample 0 of each search: (lr, β1, disc_iters, D BN)."""
    expected = {"lucic_ns": ("nonsaturating", 5e-5, 0.0, 1, True), "lucic_mm": ("minimax", 5e-5, 0.0, 1, True),
                "lucic_lsgan": ("lsgan", 2e-4, 0.5, 1, True), "lucic_wgan": ("wgan_clip", 5e-5, 0.5, 5, True),
                "lucic_wgan_gp": ("wasserstein_gp", 1e-4, 0.5, 5, False),
                "lucic_dragan": ("dragan", 1e-4, 0.5, 1, True)}
    for name, (loss, lr, beta1, n_critic, bn) in expected.items():
        cfg = VARIANTS.get(name).parse({}, prefix=name)
        assert (cfg.loss.name, cfg.g_optim.lr, cfg.g_optim.betas, cfg.loss.n_critic, cfg.model.d_batchnorm) == (
            loss, lr, (beta1, 0.999), n_critic, bn), name
        assert cfg.d_optim == cfg.g_optim and cfg.model.latent == "uniform" and cfg.model.z_dim == 64
    assert VARIANTS.get("lucic_lsgan").parse({}).loss.output == "sigmoid"
    assert VARIANTS.get("lucic_wgan").parse({}).loss.clip == 0.01
    vae = VARIANTS.get("lucic_vae").parse({})
    assert (vae.loss.likelihood, vae.model.latent, vae.g_optim.lr, vae.d_optim) == ("bernoulli", "normal", 5e-5, None)
    assert set(LUCIC_VARIANTS) == set(expected) | {"lucic_vae"}
    assert not set(LUCIC_VARIANTS) & set(VARIANTS.declared())  # trained only where `variants` names them
    assert math.isclose(VARIANTS.get("lucic_ns").parse({}).g_optim.eps, 1e-8)
