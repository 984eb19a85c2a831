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
    cfg.setdefault("r1_gamma", 0.0064)
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
    obj = obj_cls(obj_cls.Config(r1_gamma=0.0064), LinearG(), Spy())
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


# --------------------------------------------------------------------------- path length


class StyledLinearG(nn.Module):
    """images (N, 1, 2, 2) = Σ_l ws[:, l] @ M[l] with ws = z @ A repeated over 2 layers, so
    the Jacobian of the image w.r.t. ws[:, l] is M[l] whatever the input."""

    z_dim = 3
    exposes_ws = True

    def __init__(self) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.tensor([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]]))
        self.M = nn.Parameter(torch.tensor([[[1.0, 0.0, 2.0, 0.0], [0.0, -1.0, 0.0, 1.0]],
                                            [[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 3.0, -1.0]]]))

    def forward(self, z, c=None, truncation_psi=1.0, return_ws=False):
        ws = (z @ self.A).unsqueeze(1).expand(-1, 2, -1)
        images = torch.einsum("nlw,lwp->np", ws, self.M).view(-1, 1, 2, 2)
        return (images, ws) if return_ws else images


def make_pl(seed=0, **cfg):
    obj_cls = OBJECTIVES.get("logistic_r1")
    cfg = {"r1_gamma": 0.0, "pl_weight": 2.0, "pl_decay": 0.01, "pl_batch_shrink": 2, "pl_interval": 4, **cfg}
    G = StyledLinearG()
    obj = obj_cls(obj_cls.Config(**cfg), G, LinearD())
    batch = Batch(real=torch.rand(6, 1, 2, 2), real_c=None, z=torch.randn(6, 3), gen_c=None)
    return obj, G, batch


def by_hand(G, y, pl_mean, decay=0.01, weight=2.0, interval=4):
    """stylegan2-ada's formulas written out for the linear G: per sample
    length = sqrt(mean_l ‖M[l] y‖²) with y = noise / √(H·W), a ← a + decay·(mean − a),
    loss = weight · mean((length − a)²) · interval."""
    y = y.flatten(1) / 2.0  # H·W = 4
    lengths = (torch.einsum("lwp,np->nlw", G.M, y).square().sum(2).mean(1)).sqrt()
    a = pl_mean + decay * (lengths.mean() - pl_mean)
    return weight * (lengths - a).square().mean() * interval, lengths, a


def draws(seed, batch, n):
    """What the Greg phase draws, in its order: fresh latents, then the image noise."""
    torch.manual_seed(seed)
    z = torch.randn(n, 3)
    return z, torch.randn(n, 1, 2, 2)


def test_path_length_phase_is_lazy_and_on_by_default_for_stylegan():
    obj, *_ = make_pl()
    assert [(p.name, p.net, p.interval) for p in obj.phases] == [
        ("Dmain", "D", 1), ("Gmain", "G", 1), ("Greg", "G", 4)]
    assert obj.reg_interval("G") == 4  # G's Adam is corrected by 4/5 (see test_loop)
    from ganbench.models import VARIANTS

    loss = VARIANTS.get("stylegan").parse({}).loss
    assert (loss.pl_weight, loss.pl_decay, loss.pl_batch_shrink, loss.pl_interval) == (2.0, 0.01, 2, 4)
    assert from_dict(LogisticR1Config, {}, prefix="s.loss").pl_weight == 0.0  # other variants: off


def test_path_length_penalty_matches_the_hand_computed_value_and_gradient():
    obj, G, batch = make_pl()
    greg = phase(obj, "Greg")
    _, y = draws(7, batch, 3)
    torch.manual_seed(7)
    loss, stats = obj.loss(greg, batch)
    expected, lengths, a = by_hand(G, y, torch.tensor(0.0))
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(stats["pl_mean"], a.detach())
    torch.testing.assert_close(stats["pl_penalty"], (lengths - a).square().mean().detach())
    # The gradient reaches G's weights through the double backward, as the closed form's does.
    loss.backward()
    got = G.M.grad.clone()
    G.M.grad = None
    expected_again, _, _ = by_hand(G, y, torch.tensor(0.0))
    expected_again.backward()
    torch.testing.assert_close(got, G.M.grad)
    assert G.A.grad is None or torch.count_nonzero(G.A.grad) == 0  # the Jacobian does not depend on A

    # The running mean carries over to the next regularisation step.
    _, y2 = draws(8, batch, 3)
    torch.manual_seed(8)
    loss2, stats2 = obj.loss(greg, batch)
    expected2, _, a2 = by_hand(G, y2, a.detach())
    torch.testing.assert_close(loss2, expected2)
    torch.testing.assert_close(stats2["pl_mean"], a2.detach())


def test_path_length_uses_a_shrunk_batch_of_fresh_latents():
    obj, G, batch = make_pl(pl_batch_shrink=3)
    seen = []
    G.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    torch.manual_seed(3)
    obj.loss(phase(obj, "Greg"), batch)
    z, _ = draws(3, batch, 2)
    assert len(seen) == 1 and seen[0].shape == (2, 3)  # 6 // 3
    torch.testing.assert_close(seen[0], z)
    assert not torch.equal(seen[0], batch.z[:2])


def test_path_length_mean_is_saved_and_restored():
    obj, _, batch = make_pl()
    assert obj.state_dict() == {"pl_mean": torch.tensor(0.0)}
    torch.manual_seed(0)
    obj.loss(phase(obj, "Greg"), batch)
    state = obj.state_dict()
    assert state["pl_mean"] > 0
    fresh, _, _ = make_pl()
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.pl_mean, state["pl_mean"])
    torch.manual_seed(1)
    a, _ = obj.loss(phase(obj, "Greg"), batch)
    torch.manual_seed(1)
    b, _ = fresh.loss(phase(fresh, "Greg"), batch)
    torch.testing.assert_close(a, b)
    plain, *_ = make(r1_gamma=0.5)
    assert plain.state_dict() == {}


def test_path_length_needs_a_generator_that_exposes_its_styles():
    obj_cls = OBJECTIVES.get("logistic_r1")
    with pytest.raises(ParamsError, match="exposes its styles.*loss.pl_weight: 0"):
        obj_cls(obj_cls.Config(r1_gamma=0.1, pl_weight=2.0), LinearG(), LinearD())
    for bad in ({"pl_weight": -1.0}, {"pl_decay": 2.0}, {"pl_interval": 0}, {"pl_batch_shrink": 0}):
        with pytest.raises(ParamsError, match="s.loss.pl_"):
            from_dict(LogisticR1Config, bad, prefix="s.loss")


def test_stylegan_generator_returns_the_styles_it_synthesised_from():
    from ganbench.models import VARIANTS
    from ganbench.models.base import Geometry

    spec = VARIANTS.get("stylegan")
    cfg = spec.parse({"model": {"z_dim": 8, "w_dim": 8, "g_channel_base": 32, "g_channel_max": 8,
                                "d_channel_base": 32, "d_channel_max": 8}})
    G, _ = spec.build(cfg.model, Geometry(1, 8, 0))
    z = torch.randn(3, 8)
    noise = G.draw_noise(3, torch.Generator().manual_seed(0))
    G.train()
    torch.manual_seed(0)
    images, ws = G(z, return_ws=True, noise=noise)
    assert ws.shape == (3, G.num_ws, 8) and images.shape == (3, 1, 8, 8)
    # ws is what the synthesis consumed: feeding it again gives the same images.
    again = torch.tanh(G.synthesis(ws, "random", noise))
    torch.testing.assert_close(images, again)
    (grad,) = torch.autograd.grad(images.sum(), ws)
    assert grad.shape == ws.shape and torch.isfinite(grad).all()
