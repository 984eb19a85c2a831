"""Least-squares GAN loss (Mao et al. 2017), targets a=0 (fake), b=c=1 (real)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from ganbench.losses import register_objective
from ganbench.losses.base import ScoreObjective


@dataclass(frozen=True)
class LSGANConfig:
    name: Literal["lsgan"] = "lsgan"


@register_objective
class LSGAN(ScoreObjective):
    """D: ½(D(x) − 1)² + ½D(G(z))²; G: ½(D(G(z)) − 1)²."""

    name = "lsgan"
    Config = LSGANConfig

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * ((real - 1).square().mean() + fake.square().mean())

    def g_loss(self, fake: Tensor) -> Tensor:
        return 0.5 * (fake - 1).square().mean()
