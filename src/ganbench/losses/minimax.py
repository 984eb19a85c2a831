"""The minimax GAN loss on logits (Goodfellow et al. 2014's original game; "MM GAN" in
Lucic et al. 2018, compare_gan v1 ``GAN_MINMAX``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from ganbench.losses import register_objective
from ganbench.losses.base import check_n_critic
from ganbench.losses.nonsaturating import NonSaturating


@dataclass(frozen=True)
class MinimaxConfig:
    name: Literal["minimax"] = "minimax"
    #: Discriminator steps per generator step (compare_gan's ``disc_iters``).
    n_critic: int = 1

    def validate(self, prefix: str) -> None:
        check_n_critic(self, prefix)


@register_objective
class Minimax(NonSaturating):
    """D: softplus(-D(x)) + softplus(D(G(z))), as the non-saturating loss; G minimises
    log(1 − sigmoid(D(G(z)))) = −softplus(D(G(z))), the saturating original."""

    name = "minimax"
    Config = MinimaxConfig

    def g_loss(self, fake: Tensor) -> Tensor:
        return -F.softplus(fake).mean()
