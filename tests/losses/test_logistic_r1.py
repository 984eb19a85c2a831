"""Logistic loss with lazy R1: hand-computed values on tiny networks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganbench.config import from_dict
from ganbench.errors import ParamsError
from ganbench.losses import OBJECTIVES, Batch
from ganbench.losses.logistic_r1 import LogisticR1Config


class LinearD(nn.Module):
    """D(x) = <w, x> + b: ∇_x D = w for every input."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, -2.0, 0.5, 2.0]))
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, x, c=None):
        return x.flatten(1) @ self.w + self.b


class LinearG(nn.Module):
    z_dim = 3

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(3, 4)

    def forward(self, z, c=None, truncation_psi=1.0):
        return torch.tanh(self.net(z)).view(-1, 1, 2, 2)


def make(**cfg):
    torch.manual_seed(0)
    G, D = LinearG(), LinearD()
    obj_cls = OBJECTIVES.get("logistic_r1")
    obj = obj_cls(obj_cls.Config(**cfg), G, D)
    batch = Batch(real=torch.rand(4, 1, 2, 2), real_c=None, z=torch.randn(4, 3), gen_c=None)
    return obj, G, D, batch


def phase(obj, name):
    return next(p for p in obj.phases if p.name == name)


def test_phases_and_lazy_interval():
    obj, *_ = make(r1_gamma=0.5, r1_interval=8)
    assert [(p.name, p.net, p.interval) for p in obj.phases] == [
        ("Dmain", "D", 1), ("Dreg", "D", 8), ("Gmain", "G", 1)]
    assert obj.d_steps == 1
    obj0, *_ = make(r1_gamma=0.0)
    assert [p.name for p in obj0.phases] == ["Dmain", "Gmain"]


def test_main_losses():
    obj, G, D, batch = make()
    loss, stats = obj.loss(phase(obj, "Dmain"), batch)
    with torch.no_grad():
        fake = G(batch.z)
        expected = F.softplus(D(fake)).mean() + F.softplus(-D(batch.real)).mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(stats["loss_D"], expected)
    loss.backward()
    assert all(p.grad is None for p in G.parameters())  # fakes are detached in the D phase
    g_loss, g_stats = obj.loss(phase(obj, "Gmain"), batch)
    torch.testing.assert_close(g_loss, F.softplus(-D(G(batch.z))).mean())
    assert set(g_stats) == {"loss_G"}


def test_lazy_r1_value_is_gamma_half_norm_squared_times_interval():
    obj, _, D, batch = make(r1_gamma=0.5, r1_interval=16)
    loss, stats = obj.loss(phase(obj, "Dreg"), batch)
    norm2 = D.w.detach().square().sum()  # ‖∇_x D‖² = ‖w‖² = 9.25
    torch.testing.assert_close(stats["r1_penalty"], norm2)
    torch.testing.assert_close(loss, 0.5 / 2 * norm2 * 16)
    loss.backward()
    # d/dw (γ/2 ‖w‖² · k) = γ k w
    torch.testing.assert_close(D.w.grad, 0.5 * 16 * D.w.detach())
    assert not stats["r1_penalty"].requires_grad


def test_r1_uses_real_labels():
    seen = []

    class Spy(LinearD):
        def forward(self, x, c=None):
            seen.append(c)
            return super().forward(x, c)

    obj_cls = OBJECTIVES.get("logistic_r1")
    obj = obj_cls(obj_cls.Config(), LinearG(), Spy())
    c_real, c_gen = torch.tensor([1, 2]), torch.tensor([0, 0])
    batch = Batch(real=torch.rand(2, 1, 2, 2), real_c=c_real, z=torch.randn(2, 3), gen_c=c_gen)
    obj.loss(phase(obj, "Dreg"), batch)
    assert seen[-1] is c_real


def test_config_validation():
    cfg = from_dict(LogisticR1Config, {"r1_gamma": 1, "r1_interval": 4}, prefix="s.loss")
    assert cfg.r1_gamma == 1.0 and cfg.r1_interval == 4
    for bad in ({"r1_gamma": -1.0}, {"r1_interval": 0}):
        with pytest.raises(ParamsError, match="s.loss"):
            from_dict(LogisticR1Config, bad, prefix="s.loss")
