"""StyleGAN variant: the network contract for this file's variants, plus style mixing,
truncation, noise modes and conditioning.

The contract tests are parametrised over both variants added with it (``stylegan``
and ``wgan_gp``); WGAN-GP's own checks live in test_wgan_gp.py.
"""

from __future__ import annotations

import pytest
import torch

from ganbench.errors import ParamsError
from ganbench.losses import OBJECTIVES, Batch
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry
from ganbench.models.base import count_parameters

SMALL = {
    "stylegan": {"z_dim": 16, "w_dim": 32, "g_channel_base": 64, "g_channel_max": 16,
                 "d_channel_base": 64, "d_channel_max": 16},
    "wgan_gp": {"z_dim": 16, "g_channels": 8, "d_channels": 8, "embed_dim": 4},
}


def build(name: str, num_classes: int = 0, **model):
    spec = VARIANTS.get(name)
    cfg = spec.parse({"model": {**SMALL[name], **model}})
    torch.manual_seed(0)
    G, D = spec.build(cfg.model, Geometry(1, 32, num_classes))
    return cfg, G, D


def make_batch(G, n: int = 4, num_classes: int = 0) -> Batch:
    c = torch.arange(n) % num_classes if num_classes else None
    return Batch(real=torch.rand(n, 1, 32, 32) * 2 - 1, real_c=c, z=torch.randn(n, G.z_dim),
                 gen_c=c.flip(0) if c is not None else None)


def set_trainable(G, D, net: str) -> None:
    G.requires_grad_(net == "G")
    D.requires_grad_(net == "D")


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("name", ["stylegan", "wgan_gp"])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_forward_shapes_and_range(name, num_classes):
    _, G, D = build(name, num_classes)
    b = make_batch(G, num_classes=num_classes)
    for train in (True, False):
        G.train(train)
        img = G(b.z, b.gen_c)
        assert img.shape == (4, 1, 32, 32)
        assert torch.isfinite(img).all() and img.min() >= -1 and img.max() <= 1
    logits = D(img, b.gen_c)
    assert logits.shape == (4,) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", ["stylegan", "wgan_gp"])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_every_parameter_gets_a_nonzero_gradient(name, num_classes):
    cfg, G, D = build(name, num_classes)
    objective = OBJECTIVES.get(cfg.loss.name)(cfg.loss, G, D)
    b = make_batch(G, num_classes=num_classes)
    nonzero = set()
    for phase in objective.phases:
        set_trainable(G, D, phase.net)
        net = G if phase.net == "G" else D
        net.zero_grad(set_to_none=True)
        loss, stats = objective.loss(phase, b)
        assert torch.isfinite(loss) and all(torch.isfinite(v) for v in stats.values())
        loss.backward()
        nonzero |= {(phase.net, n) for n, p in net.named_parameters()
                    if p.grad is not None and p.grad.abs().sum() > 0}
    missing = [f"{tag}.{n}" for tag, net in (("G", G), ("D", D))
               for n, _ in net.named_parameters() if (tag, n) not in nonzero]
    if cfg.loss.name == "wasserstein_gp":
        # D(fake) − D(real) and the penalty ignore a constant offset of the critic's
        # output, so its final bias has an exactly-zero gradient by construction.
        missing = [m for m in missing if m != "D.head.bias"]
    assert not missing


# --------------------------------------------------------------------------- stylegan


def test_default_networks_are_sized_for_a_cpu():
    cfg = VARIANTS.get("stylegan").parse({})
    G, D = VARIANTS.get("stylegan").build(cfg.model, Geometry(1, 32, 0))
    assert G.supports_truncation is True
    assert 50_000 < count_parameters(G) < 2_000_000
    assert 50_000 < count_parameters(D) < 2_000_000


def test_config_validation():
    spec = VARIANTS.get("stylegan")
    with pytest.raises(ParamsError, match="style_mixing_prob"):
        spec.parse({"model": {"style_mixing_prob": 1.5}})
    with pytest.raises(ParamsError, match="stylegan.model.w_dim"):
        spec.parse({"model": {"w_dim": 0}})
    cfg = spec.parse({"model": {}})
    with pytest.raises(ParamsError, match="power of two"):
        spec.build(cfg.model, Geometry(1, 28, 0))


def test_num_ws_and_structure():
    _, G, _ = build("stylegan")
    assert G.num_ws == 8  # 4×4: conv + ToRGB; 8, 16, 32: two convs each (ToRGB shares)
    assert G.mapping.w_avg.shape == (1, 32)


def test_style_mixing_uses_the_second_latent(monkeypatch):
    _, G, _ = build("stylegan", style_mixing_prob=1.0)
    G.train()
    z = torch.randn(3, G.z_dim)
    z2 = torch.randn(3, G.z_dim)
    monkeypatch.setattr(G, "_mixing_cutoff", lambda n, device: torch.full((n,), 4))
    G.style_mixing_prob = 0.0
    unmixed = G(z, noise_mode="const")
    G.style_mixing_prob = 1.0
    monkeypatch.setattr(G, "_mixing_latent", lambda z_: z.clone())
    same = G(z, noise_mode="const")
    torch.testing.assert_close(same, unmixed)  # mixing with itself changes nothing
    monkeypatch.setattr(G, "_mixing_latent", lambda z_: z2)
    mixed = G(z, noise_mode="const")
    assert not torch.allclose(mixed, unmixed, atol=1e-4)
    # The crossover is honoured: layers ≥ 4 come from z2, so a crossover after
    # every layer (num_ws) is no mixing at all.
    monkeypatch.setattr(G, "_mixing_cutoff", lambda n, device: torch.full((n,), G.num_ws))
    torch.testing.assert_close(G(z, noise_mode="const"), unmixed)


def test_style_mixing_matches_manual_synthesis(monkeypatch):
    _, G, _ = build("stylegan", style_mixing_prob=1.0)
    G.train()
    z, z2 = torch.randn(2, G.z_dim), torch.randn(2, G.z_dim)
    monkeypatch.setattr(G, "_mixing_latent", lambda z_: z2)
    monkeypatch.setattr(G, "_mixing_cutoff", lambda n, device: torch.tensor([2, 5]))
    out = G(z, noise_mode="const")
    with torch.no_grad():
        w1, w2 = G.mapping(z, None), G.mapping(z2, None)
        ws = w1[:, None].repeat(1, G.num_ws, 1)
        ws[0, 2:] = w2[0]
        ws[1, 5:] = w2[1]
        ref = torch.tanh(G.synthesis(ws, "const"))
    torch.testing.assert_close(out.detach(), ref)


def test_no_mixing_outside_training():
    _, G, _ = build("stylegan", style_mixing_prob=1.0)
    G.eval()
    z = torch.randn(2, G.z_dim)
    torch.testing.assert_close(G(z, noise_mode="const"), G(z, noise_mode="const"))


def test_w_avg_tracked_only_in_training():
    _, G, _ = build("stylegan")
    G.eval()
    G(torch.randn(8, G.z_dim))
    assert G.mapping.w_avg.abs().sum() == 0
    G.train()
    z = torch.randn(8, G.z_dim)
    G(z)
    w = G.mapping(z, None)
    torch.testing.assert_close(G.mapping.w_avg[0], (1 - 0.995) * w.detach().mean(0))


def test_truncation_psi_zero_gives_the_same_image_for_any_z():
    _, G, _ = build("stylegan")
    G.train()
    for _ in range(3):  # give w_avg a non-trivial value
        G(torch.randn(16, G.z_dim))
    G.eval()
    z1, z2 = torch.randn(2, G.z_dim), torch.randn(2, G.z_dim)
    a = G(z1, truncation_psi=0.0, noise_mode="const")
    b = G(z2, truncation_psi=0.0, noise_mode="const")
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[0], a[1])
    ws = G.mapping.w_avg[:, None].expand(2, G.num_ws, -1)
    torch.testing.assert_close(a, torch.tanh(G.synthesis(ws, "const")))
    # ψ = 1 is the plain generator, which does depend on z.
    plain = G(z1, noise_mode="const")
    torch.testing.assert_close(G(z1, truncation_psi=1.0, noise_mode="const"), plain)
    assert not torch.allclose(plain, a)


def test_conditional_truncation_keeps_the_class():
    _, G, _ = build("stylegan", num_classes=10)
    G.train()
    for _ in range(3):
        G(torch.randn(20, G.z_dim), torch.arange(20) % 10)
    assert G.mapping.w_avg.shape == (10, 32)
    G.eval()
    c = torch.tensor([3, 3, 7])
    out = G(torch.randn(3, G.z_dim), c, truncation_psi=0.0, noise_mode="const")
    torch.testing.assert_close(out[0], out[1])
    assert not torch.allclose(out[0], out[2])


@pytest.mark.parametrize("name", ["stylegan", "wgan_gp"])
def test_conditional_generation_changes_with_class(name):
    _, G, D = build(name, num_classes=10)
    G.eval()
    z = torch.randn(1, G.z_dim).repeat(2, 1)
    kwargs = {"noise_mode": "const"} if name == "stylegan" else {}
    out = G(z, torch.tensor([0, 5]), **kwargs)
    assert not torch.allclose(out[0], out[1], atol=1e-4)
    x = torch.rand(1, 1, 32, 32).repeat(2, 1, 1, 1)
    scores = D(x, torch.tensor([0, 5]))
    assert not torch.allclose(scores[0], scores[1])
    with pytest.raises(ValueError, match="labels"):
        G(z)


def test_noise_modes_in_eval():
    _, G, _ = build("stylegan")
    with torch.no_grad():
        for m in G.modules():
            if hasattr(m, "noise_const"):
                m.strength.fill_(0.5)
    G.eval()
    z = torch.randn(2, G.z_dim)
    assert G.sample_noise_mode == "random"
    assert not torch.allclose(G(z), G(z))  # default: fresh noise, as in training
    torch.testing.assert_close(G(z, noise_mode="const"), G(z, noise_mode="const"))
    torch.testing.assert_close(G(z, noise_mode="none"), G(z, noise_mode="none"))
    _, G2, _ = build("stylegan", sample_noise_mode="const")
    G2.eval()
    torch.testing.assert_close(G2(z), G2(z))


def test_fused_and_unfused_generators_agree():
    _, G1, _ = build("stylegan", fused_modconv=True)
    _, G2, _ = build("stylegan", fused_modconv=False)
    G2.load_state_dict(G1.state_dict())
    G1.eval()
    G2.eval()
    z = torch.randn(3, G1.z_dim)
    torch.testing.assert_close(G1(z, noise_mode="const"), G2(z, noise_mode="const"),
                               rtol=1e-4, atol=1e-5)


def test_discriminator_scores_are_per_sample_up_to_minibatch_std():
    _, _, D = build("stylegan", mbstd_group_size=1)
    x = torch.randn(4, 1, 32, 32)
    torch.testing.assert_close(D(x)[:2], D(x[:2]), rtol=1e-4, atol=1e-5)
