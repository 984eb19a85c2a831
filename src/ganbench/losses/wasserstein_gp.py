"""Wasserstein GAN with gradient penalty (Gulrajani et al. 2017, "WGAN-GP").

Critic: D(G(z)) − D(x) + λ E[(‖∇D(x̂)‖₂ − 1)²] [+ ε_drift E[D(x)²]] with
x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1] per sample; generator: −D(G(z)).
``n_critic`` critic steps run per generator step (via ``d_steps``). A critic that scores
each sample on its own (``D.batch_independent``: the layer-norm critic) sees the real and
fake images in one call (:func:`joint_scores`); the interpolates always get a call of their
own, because the penalty's gradient and double backward then run through N samples, not
the whole call's (measured on CPU, ``benchmarks/bench_training.py``: all three batches in
one call made the critic step 0.70× the three-call step, this layout 1.08×).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from ganbench.errors import ParamsError
from ganbench.losses import register_objective
from ganbench.losses.base import Batch, Objective, Phase, Stats, detached, native_gradient_scale


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


def interpolates(real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """x̂ = eps·real + (1 − eps)·fake, detached from both and requiring grad.

    real, fake: (N, C, H, W); eps: (N,) or broadcastable to the images, in [0, 1]."""
    if eps.dim() == 1:
        eps = eps.view(-1, *([1] * (real.dim() - 1)))
    return (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)


def penalty_at(scores: Tensor, x_hat: Tensor, scale: float = 1.0) -> Tensor:
    """E[(‖∇_x̂ score‖₂ − 1)²] for critic ``scores`` (N,) computed from ``x_hat``; the
    gradient keeps its graph, so the penalty is differentiable w.r.t. the critic. ``scale``
    turns the gradient into the critic's own pixel units (see
    :func:`~ganbench.losses.base.native_gradient_scale`)."""
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    if scale != 1.0:
        grad = grad * scale
    return (grad.flatten(1).norm(2, dim=1) - 1).square().mean()


def gradient_penalty(D: nn.Module, real: Tensor, fake: Tensor, c: Tensor | None,
                     eps: Tensor) -> Tensor:
    """E[(‖∇_x̂ D(x̂, c)‖₂ − 1)²] over x̂ = eps·real + (1 − eps)·fake, in a call of its own.

    real, fake: (N, C, H, W); c: (N,) labels or None (the same labels are used for
    the interpolates); eps: (N,) or broadcastable to the images, in [0, 1].
    Returns a scalar that is differentiable w.r.t. D's parameters."""
    x_hat = interpolates(real, fake, eps)
    return penalty_at(D(x_hat, c), x_hat, native_gradient_scale(D))


def joint_scores(D: nn.Module, real: Tensor, fake: Tensor, real_c: Tensor | None,
                 gen_c: Tensor | None) -> tuple[Tensor, Tensor]:
    """Critic scores of real and fake images from one call on their concatenation
    ((2N, C, H, W), fewer and larger convolutions). Equal to two calls up to float rounding
    when every score depends on its own sample alone (``D.batch_independent``).

    real, fake: (N, C, H, W); real_c, gen_c: (N,) labels or both None.
    Returns (real_scores (N,), fake_scores (N,))."""
    labels = torch.cat([real_c, gen_c]) if real_c is not None else None
    real_scores, fake_scores = D(torch.cat([real, fake]), labels).split(real.shape[0])
    return real_scores, fake_scores


@register_objective
class WassersteinGP(Objective):
    """See the module docstring."""

    name = "wasserstein_gp"
    Config = WassersteinGPConfig

    @property
    def d_steps(self) -> int:
        return self.cfg.n_critic

    @property
    def joint_real_fake(self) -> bool:
        """Real and fake images go through one critic call (the same maths) when the critic
        scores each sample on its own; a critic with batch statistics (BatchNorm, minibatch
        stddev) gets separate calls."""
        return bool(getattr(self.D, "batch_independent", False))

    def loss(self, phase: Phase, batch: Batch) -> tuple[Tensor, Stats]:
        if phase.net == "D":
            fake = self.fake(batch).detach()
            if self.joint_real_fake:
                real_scores, fake_scores = joint_scores(self.D, batch.real, fake, batch.real_c, batch.gen_c)
            else:
                real_scores = self.scores(batch.real, batch.real_c)
                fake_scores = self.scores(fake, batch.gen_c)
            gp = None
            if self.cfg.gp_weight > 0:
                # Interpolates pair real i with fake i; the critic sees real i's label.
                eps = torch.rand(fake.shape[0], device=fake.device, dtype=fake.dtype)
                gp = gradient_penalty(self.D, batch.real, fake, batch.real_c, eps)
            wasserstein = real_scores.mean() - fake_scores.mean()
            loss = -wasserstein
            stats = {}
            if gp is not None:
                loss = loss + self.cfg.gp_weight * gp
                stats["gradient_penalty"] = gp
            if self.cfg.drift > 0:
                loss = loss + self.cfg.drift * real_scores.square().mean()
            return loss, detached(loss_D=loss, wasserstein=wasserstein, **stats)
        loss = -self.scores(self.fake(batch), batch.gen_c).mean()
        return loss, detached(loss_G=loss)
