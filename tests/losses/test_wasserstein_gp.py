"""WGAN-GP objective: hand-computed gradient penalties and loss bookkeeping."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.config import from_dict
from ganbench.errors import ParamsError
from ganbench.losses import OBJECTIVES, Batch, Phase
from ganbench.losses.wasserstein_gp import WassersteinGPConfig, gradient_penalty


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b (+ <v_c, x> when conditional): ∇_x D = w (+ v_c), known in closed form."""

    def __init__(self, w: torch.Tensor, num_classes: int = 0) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.zeros(()))
        self.v = nn.Parameter(torch.randn(num_classes, w.numel())) if num_classes else None

    def forward(self, x, c=None):
        out = x.flatten(1) @ self.w.flatten() + self.b
        if self.v is not None:
            out = out + (x.flatten(1) * self.v[c]).sum(1)
        return out


class QuadraticCritic(nn.Module):
    """D(x) = ½‖x‖²: ∇_x D = x, so the penalty depends on where x̂ lies."""

    def forward(self, x, c=None):
        return 0.5 * x.flatten(1).square().sum(1)


class LinearG(nn.Module):
    z_dim = 3

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(3, 4)

    def forward(self, z, c=None, truncation_psi=1.0):
        return torch.tanh(self.net(z)).view(-1, 1, 2, 2)


def test_penalty_of_linear_critic_is_norm_minus_one_squared():
    w = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]])  # ‖w‖ = 5
    D = LinearCritic(w)
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    for eps in (torch.rand(6), torch.zeros(6), torch.ones(6)):
        gp = gradient_penalty(D, real, fake, None, eps)
        assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)


def test_penalty_gradient_wrt_critic_weights():
    w = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]])
    D = LinearCritic(w)
    gp = gradient_penalty(D, torch.randn(2, 1, 2, 2), torch.randn(2, 1, 2, 2), None, torch.rand(2))
    gp.backward()
    # d/dw (‖w‖ − 1)² = 2(‖w‖ − 1) w / ‖w‖
    torch.testing.assert_close(D.w.grad, 2 * 4 * w / 5)


def test_penalty_uses_per_sample_interpolates():
    real = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).view(2, 1, 1, 2)
    fake = torch.tensor([[-1.0, 0.0], [0.0, 0.0]]).view(2, 1, 1, 2)
    eps = torch.tensor([0.25, 0.5])
    # x̂_0 = 0.25·(1,0) + 0.75·(−1,0) = (−0.5, 0) → ‖·‖ = 0.5; x̂_1 = (0, 1) → 1.
    expected = ((0.5 - 1) ** 2 + (1 - 1) ** 2) / 2
    gp = gradient_penalty(QuadraticCritic(), real, fake, None, eps)
    assert gp.item() == pytest.approx(expected)
    # eps may also come already shaped like the images.
    gp4 = gradient_penalty(QuadraticCritic(), real, fake, None, eps.view(2, 1, 1, 1))
    assert gp4.item() == pytest.approx(expected)


def test_penalty_passes_labels_to_a_conditional_critic():
    torch.manual_seed(0)
    D = LinearCritic(torch.zeros(1, 1, 2, 2), num_classes=3)
    c = torch.tensor([0, 2])
    real, fake = torch.randn(2, 1, 2, 2), torch.randn(2, 1, 2, 2)
    gp = gradient_penalty(D, real, fake, c, torch.rand(2))
    expected = ((D.v[c].norm(dim=1) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)


def make(**cfg):
    torch.manual_seed(0)
    G, D = LinearG(), LinearCritic(torch.randn(1, 1, 2, 2))
    obj_cls = OBJECTIVES.get("wasserstein_gp")
    obj = obj_cls(obj_cls.Config(**cfg), G, D)
    batch = Batch(real=torch.rand(5, 1, 2, 2), real_c=None, z=torch.randn(5, 3), gen_c=None)
    return obj, G, D, batch


def test_critic_and_generator_losses():
    obj, G, D, batch = make()
    assert obj.d_steps == 5
    phases = [(p.name, p.net, p.interval) for p in obj.phases]
    assert phases == [("Dmain", "D", 1), ("Gmain", "G", 1)]
    loss, stats = obj.loss(Phase("Dmain", "D"), batch)
    assert set(stats) == {"loss_D", "wasserstein", "gradient_penalty"}
    with torch.no_grad():
        fake = G(batch.z)
        w_est = D(batch.real).mean() - D(fake).mean()
        gp = (D.w.norm() - 1) ** 2  # linear critic: any interpolate gives this
    torch.testing.assert_close(stats["wasserstein"], w_est)
    torch.testing.assert_close(stats["gradient_penalty"], gp)
    torch.testing.assert_close(loss, -w_est + 10 * gp)
    assert not any(v.requires_grad for v in stats.values())
    g_loss, g_stats = obj.loss(Phase("Gmain", "G"), batch)
    torch.testing.assert_close(g_loss, -D(G(batch.z)).mean())
    assert set(g_stats) == {"loss_G"}


def test_critic_step_does_not_backprop_into_generator():
    obj, G, D, batch = make()
    loss, _ = obj.loss(Phase("Dmain", "D"), batch)
    loss.backward()
    assert all(p.grad is None for p in G.parameters())
    assert D.w.grad is not None


def test_drift_term_and_disabled_penalty():
    obj, _, D, batch = make(gp_weight=0.0, drift=0.001, n_critic=2)
    assert obj.d_steps == 2
    loss, stats = obj.loss(Phase("Dmain", "D"), batch)
    assert "gradient_penalty" not in stats
    with torch.no_grad():
        drift = 0.001 * D(batch.real).square().mean()
    torch.testing.assert_close(loss, -stats["wasserstein"] + drift)


def test_config_parsing_and_validation():
    cfg = from_dict(WassersteinGPConfig, {"gp_weight": 5, "n_critic": 3}, prefix="v.loss")
    assert cfg.gp_weight == 5.0 and cfg.n_critic == 3 and cfg.drift == 0.0
    for bad in ({"n_critic": 0}, {"gp_weight": -1.0}, {"drift": -0.1}):
        with pytest.raises(ParamsError, match="v.loss"):
            from_dict(WassersteinGPConfig, bad, prefix="v.loss")


# One critic call for real and fake, the interpolates in their own ---------------------


def tiny_critic(variant: str, conditional: bool):
    from ganbench.models import VARIANTS
    from ganbench.models.base import Geometry

    spec = VARIANTS.get(variant)
    cfg = spec.parse({"model": {"z_dim": 4, "g_channels": 4, "d_channels": 4}}, prefix=variant)
    torch.manual_seed(3)
    G, D = spec.build(cfg.model, Geometry(1, 16, 3 if conditional else 0))
    return G, D


def critic_grads(obj, batch, joint: bool):
    """The critic loss, its stats and D's gradients, with the joint real+fake call forced."""
    declared = type(obj).__dict__["joint_real_fake"]
    type(obj).joint_real_fake = property(lambda self: joint)
    calls = []
    hook = obj.D.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    try:
        obj.D.zero_grad(set_to_none=True)
        torch.manual_seed(11)  # the interpolation's eps
        loss, stats = obj.loss(Phase("Dmain", "D"), batch)
        loss.backward()
    finally:
        type(obj).joint_real_fake = declared
        hook.remove()
    n = batch.real.shape[0]
    assert calls == ([2 * n, n] if joint else [n, n, n])  # real+fake together, x̂ on its own
    return loss.detach(), stats, {n: p.grad.clone() for n, p in obj.D.named_parameters()}


@pytest.mark.parametrize("conditional", [False, True])
def test_joint_critic_call_equals_separate_calls_to_float_rounding(conditional):
    """The layer-norm critic (per-sample) on real and fake concatenated gives the
    separate calls' loss, penalty and D gradients (the penalty's double backward included)."""
    G, D = tiny_critic("wgan_gp", conditional)
    D = D.to(memory_format=torch.channels_last)
    obj_cls = OBJECTIVES.get("wasserstein_gp")
    obj = obj_cls(obj_cls.Config(), G, D)
    assert obj.joint_real_fake  # the layer-norm critic declares itself batch-independent
    torch.manual_seed(5)
    c = torch.randint(3, (8,)) if conditional else None
    batch = Batch(real=(torch.rand(8, 1, 16, 16) * 2 - 1).contiguous(memory_format=torch.channels_last),
                  real_c=c, z=torch.randn(8, 4), gen_c=torch.randint(3, (8,)) if conditional else None)
    loss3, stats3, grads3 = critic_grads(obj, batch, joint=False)
    loss1, stats1, grads1 = critic_grads(obj, batch, joint=True)
    assert stats1["gradient_penalty"] > 0
    # The penalty scores the interpolates with the real images' labels (both layouts).
    torch.manual_seed(11)
    fake = obj.fake(batch).detach()
    eps = torch.rand(fake.shape[0], dtype=fake.dtype)
    torch.testing.assert_close(stats1["gradient_penalty"],
                               gradient_penalty(D, batch.real, fake, batch.real_c, eps).detach(),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss1, loss3, rtol=1e-5, atol=1e-6)
    for k in stats3:
        torch.testing.assert_close(stats1[k], stats3[k], rtol=1e-5, atol=1e-6)
    for name in grads3:
        torch.testing.assert_close(grads1[name], grads3[name], rtol=1e-4, atol=1e-6)


def test_critics_with_batch_statistics_keep_separate_calls():
    """BatchNorm (DCGAN's discriminator) or minibatch stddev (StyleGAN's) make a score
    depend on the batch: such critics are never fed the concatenation."""
    obj_cls = OBJECTIVES.get("wasserstein_gp")
    for variant in ("dcgan", "stylegan"):
        from ganbench.models import VARIANTS
        from ganbench.models.base import Geometry

        spec = VARIANTS.get(variant)
        G, D = spec.build(spec.default.model, Geometry(1, 32, 0))
        assert D.batch_independent is False
        assert not obj_cls(obj_cls.Config(), G, D).joint_real_fake
    assert not obj_cls(obj_cls.Config(), LinearG(), QuadraticCritic()).joint_real_fake  # undeclared: False
