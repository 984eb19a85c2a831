"""The original Wasserstein GAN with weight clipping (Arjovsky et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ganbench.losses import register_objective
from ganbench.losses.base import Batch, Objective, Phase, Stats, detached


@dataclass(frozen=True)
class WGANClipConfig:
    name: Literal["wgan_clip"] = "wgan_clip"
    #: Critic weights are clamped to [-clip, clip] after every critic step.
    clip: float = 0.01
    #: Critic steps per generator step.
    n_critic: int = 5

    def validate(self, prefix: str) -> None:
        from ganbench.errors import ParamsError

        if self.clip <= 0 or self.n_critic < 1:
            raise ParamsError(f"'{prefix}.clip' must be > 0 and '{prefix}.n_critic' ≥ 1")


@register_objective
class WGANClip(Objective):
    """Critic: D(G(z)) − D(x); generator: −D(G(z)); critic weights clipped."""

    name = "wgan_clip"
    Config = WGANClipConfig

    @property
    def d_steps(self) -> int:
        return self.cfg.n_critic

    def loss(self, phase: Phase, batch: Batch) -> tuple[Tensor, Stats]:
        if phase.net == "D":
            real = self.scores(batch.real, batch.real_c).mean()
            fake = self.scores(self.fake(batch).detach(), batch.gen_c).mean()
            loss = fake - real
            return loss, detached(loss_D=loss, wasserstein=real - fake)
        loss = -self.scores(self.fake(batch), batch.gen_c).mean()
        return loss, detached(loss_G=loss)

    @torch.no_grad()
    def after_step(self, phase: Phase) -> None:
        if phase.net == "D":
            for p in self.D.parameters():
                p.clamp_(-self.cfg.clip, self.cfg.clip)
