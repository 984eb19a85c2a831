"""Non-saturating GAN loss on logits (Goodfellow et al. 2014; DCGAN's objective)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from ganbench.losses import register_objective
from ganbench.losses.base import ScoreObjective, check_n_critic


@dataclass(frozen=True)
class NonSaturatingConfig:
    name: Literal["nonsaturating"] = "nonsaturating"
    #: Discriminator steps per generator step (compare_gan's ``disc_iters``).
    n_critic: int = 1

    def validate(self, prefix: str) -> None:
        check_n_critic(self, prefix)


@register_objective
class NonSaturating(ScoreObjective):
    """D: softplus(-D(x)) + softplus(D(G(z))); G: softplus(-D(G(z)))."""

    name = "nonsaturating"
    Config = NonSaturatingConfig

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()
