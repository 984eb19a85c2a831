"""DRAGAN (Kodali et al. 2017) as compare_gan v1 runs it (``gans/DRAGAN.py``, Lucic et al. 2018).

The non-saturating loss on logits, plus for D a gradient penalty around the real data:
``λ E[(‖∇_x̂ sigmoid(D(x̂))‖ − 1)²]`` with x̂ = x + α(x_p − x), α ~ U[0, 1] per image and
the perturbed images x_p = x + ½·std(x)·U[0, 1)^shape, std the one standard deviation of
the whole real batch (numpy's, ddof 0) and the noise uniform and positive, as compare_gan
draws it. The gradient is that of D's sigmoid output, not of its logit, its norm is
``sqrt(Σ g² + 1e-4)`` (compare_gan's), measured in D's own pixel units
(:func:`~ganbench.losses.base.native_gradient_scale`). The perturbation is scale-free, so
drawing it in ganbench's [-1, 1] pixels gives compare_gan's x̂ in its [0, 1] ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ganbench.errors import ParamsError
from ganbench.losses import register_objective
from ganbench.losses.base import Batch, Phase, Stats, check_n_critic, mean_over_processes, native_gradient_scale
from ganbench.losses.nonsaturating import NonSaturating


@dataclass(frozen=True)
class DRAGANConfig:
    name: Literal["dragan"] = "dragan"
    #: λ, the penalty weight (compare_gan default 10).
    gp_weight: float = 10.0
    #: Discriminator steps per generator step.
    n_critic: int = 1

    def validate(self, prefix: str) -> None:
        check_n_critic(self, prefix)
        if self.gp_weight < 0:
            raise ParamsError(f"params key '{prefix}.gp_weight' must be ≥ 0")


def perturbed(real: Tensor) -> Tensor:
    """x + ½·std(x)·U[0, 1) per pixel, std over the whole global batch (ddof 0; every
    process's share in a distributed run, from the all-reduced first and second moments):
    ``(N, C, H, W)``."""
    mean = mean_over_processes(real.mean())
    std = (mean_over_processes(real.square().mean()) - mean.square()).clamp_min(0).sqrt()
    return real + 0.5 * std * torch.rand_like(real)


def dragan_penalty(D, real: Tensor, c: Tensor | None) -> Tensor:
    """E[(‖∇_x̂ sigmoid(D(x̂, c))‖ − 1)²] at x̂ between ``real`` (N, C, H, W) and its
    perturbation, in D's own pixel units; differentiable w.r.t. D's parameters."""
    real = real.detach()
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (real + alpha * (perturbed(real) - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.sigmoid(D(x_hat, c)).sum(), x_hat, create_graph=True)
    grad = grad * native_gradient_scale(D)
    norm = (grad.flatten(1).square().sum(dim=1) + 1e-4).sqrt()
    return (norm - 1).square().mean()


@register_objective
class DRAGAN(NonSaturating):
    """See the module docstring: the non-saturating losses, plus D's penalty."""

    name = "dragan"
    Config = DRAGANConfig

    def loss(self, phase: Phase, batch: Batch) -> tuple[Tensor, Stats]:
        loss, stats = super().loss(phase, batch)
        if phase.net == "D" and self.cfg.gp_weight > 0:
            penalty = dragan_penalty(self.D, batch.real, batch.real_c)
            loss = loss + self.cfg.gp_weight * penalty
            stats = {**stats, "loss_D": loss.detach(), "gradient_penalty": penalty.detach()}
        return loss, stats
