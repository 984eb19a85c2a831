"""Least-squares GAN loss (Mao et al. 2017), targets a=0 (fake), b=c=1 (real), on D's raw
scores, or on their sigmoid as compare_gan's LSGAN (Lucic et al. 2018; LSGAN.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ganbench.losses import register_objective
from ganbench.losses.base import ScoreObjective, check_n_critic


@dataclass(frozen=True)
class LSGANConfig:
    name: Literal["lsgan"] = "lsgan"
    #: What the squares act on: D's raw scores ("score"), or sigmoid(score) ("sigmoid",
    #: compare_gan's LSGAN, whose D ends in a sigmoid).
    output: Literal["score", "sigmoid"] = "score"
    #: Discriminator steps per generator step.
    n_critic: int = 1

    def validate(self, prefix: str) -> None:
        check_n_critic(self, prefix)


@register_objective
class LSGAN(ScoreObjective):
    """D: ½(D(x) − 1)² + ½D(G(z))²; G: ½(D(G(z)) − 1)²."""

    name = "lsgan"
    Config = LSGANConfig

    def _out(self, scores: Tensor) -> Tensor:
        return torch.sigmoid(scores) if self.cfg.output == "sigmoid" else scores

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        real, fake = self._out(real), self._out(fake)
        return 0.5 * ((real - 1).square().mean() + fake.square().mean())

    def g_loss(self, fake: Tensor) -> Tensor:
        return 0.5 * (self._out(fake) - 1).square().mean()
