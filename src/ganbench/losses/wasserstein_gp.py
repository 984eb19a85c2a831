"""Wasserstein GAN with gradient penalty (Gulrajani et al. 2017, "WGAN-GP").

Critic: D(G(z)) − D(x) + λ E[(‖∇D(x̂)‖₂ − 1)²] [+ ε_drift E[D(x)²]] with
x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1] per sample; generator: −D(G(z)).
``n_critic`` critic steps run per generator step (via ``d_steps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from ganbench.errors import ParamsError
from ganbench.losses import register_objective
from ganbench.losses.base import Batch, Objective, Phase, Stats, detached


@dataclass(frozen=True)
class WassersteinGPConfig:
    name: Literal["wasserstein_gp"] = "wasserstein_gp"
    #: λ, the gradient-penalty weight.
    gp_weight: float = 10.0
    #: Critic steps per generator step.
    n_critic: int = 5
    #: ε_drift: weight of E[D(x)²], keeps critic scores near 0 (ProGAN uses 1e-3); 0 = off.
    drift: float = 0.0

    def validate(self, prefix: str) -> None:
        if self.gp_weight < 0:
            raise ParamsError(f"params key '{prefix}.gp_weight' must be ≥ 0")
        if self.n_critic < 1:
            raise ParamsError(f"params key '{prefix}.n_critic' must be ≥ 1")
        if self.drift < 0:
            raise ParamsError(f"params key '{prefix}.drift' must be ≥ 0")


def gradient_penalty(D: nn.Module, real: Tensor, fake: Tensor, c: Tensor | None,
                     eps: Tensor) -> Tensor:
    """E[(‖∇_x̂ D(x̂, c)‖₂ − 1)²] over x̂ = eps·real + (1 − eps)·fake.

    real, fake: (N, C, H, W); c: (N,) labels or None (the same labels are used for
    the interpolates); eps: (N,) or broadcastable to the images, in [0, 1].
    Returns a scalar that is differentiable w.r.t. D's parameters."""
    if eps.dim() == 1:
        eps = eps.view(-1, *([1] * (real.dim() - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = D(x_hat, c)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return (norms - 1).square().mean()


@register_objective
class WassersteinGP(Objective):
    """See the module docstring."""

    name = "wasserstein_gp"
    Config = WassersteinGPConfig

    @property
    def d_steps(self) -> int:
        return self.cfg.n_critic

    def loss(self, phase: Phase, batch: Batch) -> tuple[Tensor, Stats]:
        if phase.net == "D":
            fake = self.fake(batch).detach()
            real_scores = self.scores(batch.real, batch.real_c)
            fake_scores = self.scores(fake, batch.gen_c)
            wasserstein = real_scores.mean() - fake_scores.mean()
            loss = -wasserstein
            stats = {}
            if self.cfg.gp_weight > 0:
                # Interpolates pair real i with fake i; the critic sees real i's label.
                eps = torch.rand(real_scores.shape[0], device=fake.device, dtype=fake.dtype)
                gp = gradient_penalty(self.D, batch.real, fake, batch.real_c, eps)
                loss = loss + self.cfg.gp_weight * gp
                stats["gradient_penalty"] = gp
            if self.cfg.drift > 0:
                loss = loss + self.cfg.drift * real_scores.square().mean()
            return loss, detached(loss_D=loss, wasserstein=wasserstein, **stats)
        loss = -self.scores(self.fake(batch), batch.gen_c).mean()
        return loss, detached(loss_G=loss)
