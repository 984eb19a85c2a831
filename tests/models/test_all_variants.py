"""Every registered variant × objective at tiny sizes on CPU (timm-style registry tests)."""

from __future__ import annotations

import pytest
import torch

from ganbench.losses import OBJECTIVES, Batch
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry
from ganbench.models.base import variant_config_to_dict
from ganbench.models.checkpoint import FORMAT, load_checkpoint, networks_from_checkpoint, trained_g_step
from ganbench.training.checkpoint import save_checkpoint
from ganbench.training.optim import make_optimizer
from tests.fixtures import TINY_MODEL

#: Objectives whose critic loss is invariant to adding a constant to D's output.
SHIFT_INVARIANT = {"wasserstein_gp", "wgan_clip"}


def tiny(name: str, **extra):
    spec = VARIANTS.get(name)
    section = {"model": TINY_MODEL.get(name, {}), **extra}
    return spec, spec.parse(section, prefix=name)


def build(name: str, num_classes: int = 0, **extra):
    spec, cfg = tiny(name, **extra)
    torch.manual_seed(0)
    G, D = spec.build(cfg.model, Geometry(channels=1, resolution=32, num_classes=num_classes))
    return spec, cfg, G, D


def batch(G, n=4, num_classes=0) -> Batch:
    c = torch.arange(n) % num_classes if num_classes else None
    return Batch(real=torch.rand(n, 1, 32, 32) * 2 - 1, real_c=c, z=torch.randn(n, G.z_dim), gen_c=c)


@pytest.mark.parametrize("name", VARIANTS.names())
@pytest.mark.parametrize("num_classes", [0, 10])
def test_forward_shapes_and_range(name, num_classes):
    _, _, G, D = build(name, num_classes)
    b = batch(G, num_classes=num_classes)
    img = G(b.z, b.gen_c)
    assert img.shape == (4, 1, 32, 32)
    assert torch.isfinite(img).all() and img.abs().max() <= 1.0
    if D is not None:
        logits = D(img, b.gen_c)
        assert logits.shape == (4,)
        assert torch.isfinite(logits).all()


def compatible(name: str, loss: str) -> bool:
    """An objective fits a variant when both have a discriminator or neither has."""
    return VARIANTS.get(name).adversarial == OBJECTIVES.get(loss).adversarial


@pytest.mark.parametrize("name", VARIANTS.names())
@pytest.mark.parametrize("loss", OBJECTIVES.names())
def test_every_parameter_gets_a_gradient(name, loss):
    if not compatible(name, loss):
        pytest.skip(f"{loss} does not fit {name}'s networks")
    _, cfg, G, D = build(name, loss={"name": loss})
    objective = OBJECTIVES.get(loss)(cfg.loss, G, D)
    b = batch(G)
    reached, nonzero = set(), set()
    for phase in objective.phases:
        net = G if phase.net == "G" else D
        net.zero_grad(set_to_none=True)
        value, stats = objective.loss(phase, b)
        assert torch.isfinite(value), (phase, value)
        assert all(torch.isfinite(v) for v in stats.values())
        value.backward()
        for n, p in net.named_parameters():
            if p.grad is not None:
                reached.add((phase.net, n))
                if p.grad.abs().sum() > 0:
                    nonzero.add((phase.net, n))
    for prefix, net in (("G", G), ("D", D)):
        if net is None:
            continue
        params = [n for n, p in net.named_parameters() if p.requires_grad]
        missing = [n for n in params if (prefix, n) not in reached]
        assert not missing, f"{name}/{loss}: no gradient reached {prefix}.{missing}"
        zero = [n for n in params if (prefix, n) not in nonzero]
        if loss in SHIFT_INVARIANT:
            # D(fake) - D(real) cancels a constant offset: the critic's output bias has an
            # exactly-zero gradient by construction.
            zero = [n for n in zero if not n.endswith("bias")]
        assert not zero, f"{name}/{loss}: zero gradient at {prefix}.{zero}"


@pytest.mark.parametrize("name", VARIANTS.names())
@pytest.mark.parametrize("num_classes", [0, 10])
def test_a_few_training_steps_stay_finite(name, num_classes):
    _, cfg, G, D = build(name, num_classes)
    objective = OBJECTIVES.get(cfg.loss.name)(cfg.loss, G, D)
    opt = {"G": make_optimizer(G, cfg.g_optim)}
    if D is not None:
        opt["D"] = make_optimizer(D, cfg.d_optim)
    for step in range(3):
        for phase in objective.phases:
            if step % phase.interval:
                continue
            opt[phase.net].zero_grad(set_to_none=True)
            value, _ = objective.loss(phase, batch(G, num_classes=num_classes))
            value.backward()
            opt[phase.net].step()
            objective.after_step(phase)
            assert torch.isfinite(value)
    for p in list(G.parameters()) + (list(D.parameters()) if D is not None else []):
        assert torch.isfinite(p).all()


@pytest.mark.parametrize("name", VARIANTS.names())
def test_checkpoint_roundtrip_gives_identical_outputs(name, tmp_path):
    spec, cfg, G, D = build(name)
    path = tmp_path / "ckpt.pt"
    save_checkpoint({"format": FORMAT, "variant": name, "variant_config": variant_config_to_dict(cfg),
                     "geometry": {"channels": 1, "resolution": 32, "num_classes": 0},
                     "G": G.state_dict(), "D": D.state_dict() if D is not None else None,
                     "G_ema": None, "progress": {}}, path)
    G2, D2, G_ema, cfg2, _ = networks_from_checkpoint(load_checkpoint(path))
    assert cfg2 == cfg and G_ema is None and (D2 is None) == (D is None)
    z = torch.randn(3, G.z_dim)
    for net in (G, G2, D, D2):
        if net is not None:
            net.eval()
    torch.manual_seed(1)
    a = G(z)
    torch.manual_seed(1)
    b = G2(z)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    if D is not None:
        torch.testing.assert_close(D(a), D2(a), rtol=0, atol=0)


@pytest.mark.parametrize("name", VARIANTS.names())
@pytest.mark.parametrize("train_g_step", ["shared_fake", "same_latents", "new_latents"])
def test_the_generator_step_has_one_rule_for_training_and_checkpoints(name, train_g_step):
    """The variant's own g_step wins over train's; a variant without D has none. The
    checkpoint's reading (samples' provenance) gives what training used."""
    spec, cfg, G, D = build(name)
    want = (cfg.g_step or train_g_step) if D is not None else None
    assert cfg.effective_g_step(train_g_step) == want
    ckpt = {"variant_config": variant_config_to_dict(cfg), "train": {"g_step": train_g_step},
            "D": D.state_dict() if D is not None else None}
    assert trained_g_step(ckpt) == want


@pytest.mark.parametrize("name", VARIANTS.names())
def test_conditional_generation_depends_on_class(name):
    _, _, G, _ = build(name, num_classes=10)
    G.eval()
    z = torch.randn(1, G.z_dim).repeat(2, 1)
    torch.manual_seed(0)
    a = G(z[:1], torch.tensor([0]))
    torch.manual_seed(0)
    b = G(z[1:], torch.tensor([7]))
    assert not torch.allclose(a, b)
