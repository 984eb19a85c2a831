"""Non-saturating GAN loss on logits (Goodfellow et al. 2014; DCGAN's objective)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from ganbench.losses import register_objective
from ganbench.losses.base import ScoreObjective


@dataclass(frozen=True)
class NonSaturatingConfig:
    name: Literal["nonsaturating"] = "nonsaturating"


@register_objective
class NonSaturating(ScoreObjective):
    """D: softplus(-D(x)) + softplus(D(G(z))); G: softplus(-D(G(z)))."""

    name = "nonsaturating"
    Config = NonSaturatingConfig

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()
