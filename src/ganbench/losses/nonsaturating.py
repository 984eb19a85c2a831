"""Non-saturating GAN loss on logits (Goodfellow et al. 2014; DCGAN's objective)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from ganbench.losses import register_objective
from ganbench.losses.base import Batch, Objective, Phase, Stats, detached


@dataclass(frozen=True)
class NonSaturatingConfig:
    name: Literal["nonsaturating"] = "nonsaturating"


@register_objective
class NonSaturating(Objective):
    """D: softplus(-D(x)) + softplus(D(G(z))); G: softplus(-D(G(z)))."""

    name = "nonsaturating"
    Config = NonSaturatingConfig

    def loss(self, phase: Phase, batch: Batch) -> tuple[Tensor, Stats]:
        if phase.net == "D":
            real_logits = self.scores(batch.real, batch.real_c)
            fake_logits = self.scores(self.fake(batch).detach(), batch.gen_c)
            loss_real = F.softplus(-real_logits).mean()
            loss_fake = F.softplus(fake_logits).mean()
            loss = loss_real + loss_fake
            return loss, detached(loss_D=loss, D_real=real_logits.mean(), D_fake=fake_logits.mean())
        fake_logits = self.scores(self.fake(batch), batch.gen_c)
        loss = F.softplus(-fake_logits).mean()
        return loss, detached(loss_G=loss)
