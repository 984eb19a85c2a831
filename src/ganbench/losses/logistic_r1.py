"""Non-saturating logistic loss with lazy R1 regularisation (StyleGAN2's objective).

Phases: ``Dmain`` (every D step), ``Dreg`` (every ``r1_interval``-th D step: the
R1 penalty alone, scaled by the interval so its average strength is unchanged;
Karras et al. 2020 §3.1 "lazy regularisation"), ``Gmain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from ganbench.errors import ParamsError
from ganbench.losses import register_objective
from ganbench.losses.base import Batch, Objective, Phase, Stats, detached, r1_penalty


@dataclass(frozen=True)
class LogisticR1Config:
    name: Literal["logistic_r1"] = "logistic_r1"
    #: R1 weight γ: the D loss gains γ/2 · E‖∇_x D(x)‖² on real images. Default:
    #: stylegan2-ada-pytorch's auto rule 0.0002 · resolution² / batch at 32×32, batch 32.
    r1_gamma: float = 0.0064
    #: Apply R1 every this many D steps (1 = every step, no lazy scaling).
    r1_interval: int = 16

    def validate(self, prefix: str) -> None:
        if self.r1_gamma < 0:
            raise ParamsError(f"params key '{prefix}.r1_gamma' must be ≥ 0")
        if self.r1_interval < 1:
            raise ParamsError(f"params key '{prefix}.r1_interval' must be ≥ 1")


@register_objective
class LogisticR1(Objective):
    """D: softplus(D(G(z))) + softplus(−D(x)) [+ lazy γ/2‖∇D(x)‖²]; G: softplus(−D(G(z)))."""

    name = "logistic_r1"
    Config = LogisticR1Config

    @property
    def phases(self) -> list[Phase]:
        phases = [Phase("Dmain", "D")]
        if self.cfg.r1_gamma > 0:
            phases.append(Phase("Dreg", "D", self.cfg.r1_interval))
        phases.append(Phase("Gmain", "G"))
        return phases

    def loss(self, phase: Phase, batch: Batch) -> tuple[Tensor, Stats]:
        if phase.name == "Dmain":
            real_logits = self.scores(batch.real, batch.real_c)
            fake_logits = self.scores(self.fake(batch).detach(), batch.gen_c)
            loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
            return loss, detached(loss_D=loss, D_real=real_logits.mean(),
                                  D_fake=fake_logits.mean())
        if phase.name == "Dreg":
            penalty, real_logits = r1_penalty(self.D, batch.real, batch.real_c)
            # "+ 0 · logits" keeps every D output in the graph (cheap, avoids unused-output
            # surprises); the interval factor compensates for running 1/interval as often.
            loss = (penalty.mean() * (self.cfg.r1_gamma / 2) + real_logits.mean() * 0) \
                * phase.interval
            return loss, detached(r1_penalty=penalty.mean())
        if phase.name == "Gmain":
            fake_logits = self.scores(self.fake(batch), batch.gen_c)
            loss = F.softplus(-fake_logits).mean()
            return loss, detached(loss_G=loss)
        raise ValueError(f"logistic_r1 has no phase {phase.name!r}")
