"""Least-squares GAN loss (Mao et al. 2017), targets a=0 (fake), b=c=1 (real)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from ganbench.losses import register_objective
from ganbench.losses.base import Batch, Objective, Phase, Stats, detached


@dataclass(frozen=True)
class LSGANConfig:
    name: Literal["lsgan"] = "lsgan"


@register_objective
class LSGAN(Objective):
    """D: ½(D(x) − 1)² + ½D(G(z))²; G: ½(D(G(z)) − 1)²."""

    name = "lsgan"
    Config = LSGANConfig

    def loss(self, phase: Phase, batch: Batch) -> tuple[Tensor, Stats]:
        if phase.net == "D":
            real = self.scores(batch.real, batch.real_c)
            fake = self.scores(self.fake(batch).detach(), batch.gen_c)
            loss = 0.5 * ((real - 1).square().mean() + fake.square().mean())
            return loss, detached(loss_D=loss, D_real=real.mean(), D_fake=fake.mean())
        fake = self.scores(self.fake(batch), batch.gen_c)
        loss = 0.5 * (fake - 1).square().mean()
        return loss, detached(loss_G=loss)
