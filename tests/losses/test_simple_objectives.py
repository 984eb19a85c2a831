"""Hand-checked values for the simple objectives (non-saturating, LSGAN, WGAN clip)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.losses import OBJECTIVES, Batch, Phase


class ConstD(nn.Module):
    """A 'discriminator' returning fixed logits: real → a, fake → b (fake images are all zero)."""

    def __init__(self, a: float, b: float) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x, c=None):
        is_fake = (x.flatten(1).abs().sum(1) == 0).float()
        return self.w * (self.a * (1 - is_fake) + self.b * is_fake)


class ZeroG(nn.Module):
    z_dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, z, c=None):
        return torch.zeros(len(z), 1, 4, 4) * self.p


def run(name, a=1.0, b=-2.0, **cfg):
    obj_cls = OBJECTIVES.get(name)
    obj = obj_cls(obj_cls.Config(**cfg), ZeroG(), ConstD(a, b))
    batch = Batch(real=torch.ones(3, 1, 4, 4), real_c=None, z=torch.zeros(3, 2), gen_c=None)
    d, _ = obj.loss(Phase("Dmain", "D"), batch)
    g, _ = obj.loss(Phase("Gmain", "G"), batch)
    return obj, d.item(), g.item()


def softplus(x):
    return math.log1p(math.exp(x))


def test_nonsaturating_values():
    _, d, g = run("nonsaturating")
    assert math.isclose(d, softplus(-1.0) + softplus(-2.0), rel_tol=1e-6)
    assert math.isclose(g, softplus(2.0), rel_tol=1e-6)


def test_lsgan_values():
    _, d, g = run("lsgan")
    assert math.isclose(d, 0.5 * ((1 - 1) ** 2 + 4.0), rel_tol=1e-6)
    assert math.isclose(g, 0.5 * 9.0, rel_tol=1e-6)


def test_wgan_clip_values_and_clipping():
    obj, d, g = run("wgan_clip", clip=0.5)
    assert math.isclose(d, -2.0 - 1.0, rel_tol=1e-6)
    assert math.isclose(g, 2.0, rel_tol=1e-6)
    assert obj.d_steps == 5
    obj.after_step(Phase("Dmain", "D"))
    assert obj.D.w.item() == 0.5


def test_fake_is_shared_between_phases_only_with_a_graph():
    obj_cls = OBJECTIVES.get("nonsaturating")
    G = ZeroG()
    calls = []
    G.register_forward_hook(lambda m, i, o: calls.append(o.requires_grad))
    obj = obj_cls(obj_cls.Config(), G, ConstD(1.0, -2.0))
    batch = Batch(real=torch.ones(3, 1, 4, 4), real_c=None, z=torch.zeros(3, 2), gen_c=None)
    # G frozen in the D phase: its fake has no graph, so the G phase must recompute it.
    G.p.requires_grad_(False)
    obj.loss(Phase("Dmain", "D"), batch)
    G.p.requires_grad_(True)
    obj.loss(Phase("Gmain", "G"), batch)
    assert calls == [False, True] and batch.fake.grad_fn is not None
    # G trainable in the D phase (train.g_step shared_fake): one forward serves both phases.
    calls.clear()
    batch.fake = None
    obj.loss(Phase("Dmain", "D"), batch)
    obj.loss(Phase("Gmain", "G"), batch)
    assert calls == [True]
