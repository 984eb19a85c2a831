"""The VAE objective: the negative evidence lower bound (Kingma & Welling 2014).

For a real image x (D = C·H·W pixels in [-1, 1]) with label c (or none), encoder
q(z|x, c) = N(mu, diag(exp(logvar))) and decoder mean x̂(z, c) = G(z, c):

* one reparameterised sample per image (Kingma & Welling's L = 1):
  ``z = mu + exp(logvar / 2) · ε`` with ε ~ N(0, I) drawn from the global torch RNG
  (so the checkpointed RNG state makes resumed training exact);
* reconstruction (``likelihood: gaussian``), a Gaussian with fixed variance ½ per pixel:
  ``recon = Σ_pixels (x̂ − x)²``, which is −log N(x; x̂, ½·I) up to the constant
  (D/2)·log π (≈ 586 nats for 1×32×32) that does not depend on the model;
  or (``likelihood: bernoulli``) :func:`bernoulli_nll`;
* KL to the prior N(0, I) in closed form (Kingma & Welling, appendix B):
  ``kl = ½ Σ_j (mu_j² + exp(logvar_j) − 1 − logvar_j)``;
* ``loss_G = recon + β · kl``: per image, summed over pixels and latent dimensions,
  then averaged over the batch.  With β = 1 it is the negative ELBO per image (up to
  the constant above); β ≠ 1 gives the β-VAE objective (Higgins et al. 2017).

The loop trains G (the whole VAE) alone: ``adversarial = False``, no discriminator
steps, one phase ``main`` on G.  Reported (detached, batch means): ``recon``, ``kl``
and ``loss_G``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ganbench.errors import ParamsError
from ganbench.losses import register_objective
from ganbench.losses.base import Batch, Objective, Phase, Stats, detached


@dataclass(frozen=True)
class ELBOConfig:
    name: Literal["elbo"] = "elbo"
    #: Weight of the KL term (1 = the ELBO; β-VAE otherwise).
    beta: float = 1.0
    #: p(x|z): "gaussian" (fixed variance ½, the squared error) or "bernoulli" (pixels
    #: mapped to [0, 1] as probabilities, compare_gan's VAE: Lucic et al. 2018).
    likelihood: Literal["gaussian", "bernoulli"] = "gaussian"

    def validate(self, prefix: str) -> None:
        if self.beta < 0:
            raise ParamsError(f"params key '{prefix}.beta' must be ≥ 0; fix it in params.yaml")


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """A sample ``z = mu + exp(logvar / 2) · ε``, ε ~ N(0, I) from the global RNG; shapes
    ``(N, z_dim)`` in and out; differentiable with respect to ``mu`` and ``logvar``."""
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) ‖ N(0, I)) per row: ``(N, z_dim)`` → ``(N,)``."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


def squared_error(recon: Tensor, x: Tensor) -> Tensor:
    """Σ over pixels of (recon − x)²: ``(N, C, H, W)`` twice → ``(N,)``; the negative
    log-likelihood of x under N(recon, ½·I) up to an additive constant."""
    return (recon - x).square().flatten(1).sum(dim=1)


def bernoulli_nll(recon: Tensor, x: Tensor) -> Tensor:
    """−Σ over pixels of [t·log p + (1 − t)·log(1 − p)] with p = (recon + 1)/2 clipped to
    [1e-8, 1 − 1e-8] (compare_gan VAE.py clips the same) and t = (x + 1)/2: ``(N, C, H, W)``
    twice → ``(N,)``; the Bernoulli negative log-likelihood of continuous pixels."""
    p = ((recon + 1) * 0.5).clamp(1e-8, 1 - 1e-8)
    t = (x + 1) * 0.5
    return -(t * p.log() + (1 - t) * (1 - p).log()).flatten(1).sum(dim=1)


#: likelihood name → per-image negative log-likelihood (up to a constant).
LIKELIHOODS = {"gaussian": squared_error, "bernoulli": bernoulli_nll}


@register_objective
class NegativeELBO(Objective):
    """See the module docstring. ``G`` must offer ``encode(x, c) -> (mu, logvar)`` and
    decode with ``G(z, c)``; ``D`` is None."""

    name = "elbo"
    Config = ELBOConfig
    adversarial = False

    @property
    def phases(self) -> list[Phase]:
        return [Phase("main", "G")]

    @property
    def d_steps(self) -> int:
        return 0

    def loss(self, phase: Phase, batch: Batch) -> tuple[Tensor, Stats]:
        mu, logvar = self.G.encode(batch.real, batch.real_c)
        z = reparameterize(mu, logvar)
        recon = LIKELIHOODS[self.cfg.likelihood](self.G(z, batch.real_c), batch.real).mean()
        kl = gaussian_kl(mu, logvar).mean()
        loss = recon + self.cfg.beta * kl
        return loss, detached(recon=recon, kl=kl, loss_G=loss)
