"""Non-saturating logistic loss with lazy R1 and lazy path-length regularisation
(StyleGAN2's objective, after stylegan2-ada-pytorch ``training/loss.py`` ``StyleGAN2Loss``).

Phases: ``Dmain`` (every D step), ``Dreg`` (every ``r1_interval``-th D step: the
R1 penalty alone, scaled by the interval so its average strength is unchanged;
Karras et al. 2020 §3.1 "lazy regularisation"), ``Gmain``, and with ``pl_weight`` > 0
``Greg`` (every ``pl_interval``-th G step: the path-length penalty alone on a
``1/pl_batch_shrink`` share of the batch, scaled by the interval; Karras et al. 2020 §3.2).
The loop corrects the optimizer of a lazily regularised network (``reg_interval``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbench.config.schema import AUTO, AutoContext
from ganbench.errors import ParamsError
from ganbench.losses import register_objective
from ganbench.losses.base import Batch, Objective, Phase, Stats, detached, mean_over_processes, r1_penalty


@dataclass(frozen=True)
class LogisticR1Config:
    name: Literal["logistic_r1"] = "logistic_r1"
    #: R1 weight γ: the D loss gains γ/2 · E‖∇_x D(x)‖² on real images. "auto":
    #: stylegan2-ada-pytorch's rule 0.0002 · resolution² / batch (0.0064 at 32×32, batch 32).
    r1_gamma: float | Literal["auto"] = AUTO
    #: Apply R1 every this many D steps (1 = every step, no lazy scaling).
    r1_interval: int = 16
    #: Path-length regularisation weight (0 = off): the G loss gains
    #: pl_weight · E(‖J_wᵀ y‖ − a)², y image-shaped N(0, 1/(H·W)) noise, J_w the Jacobian of
    #: the image w.r.t. the styles ws, a a running mean of the lengths. Needs a generator
    #: that exposes its styles (``G.exposes_ws``: StyleGAN's).
    pl_weight: float = 0.0
    #: Decay of the running mean a per regularisation step (a ← a + pl_decay · (mean − a)).
    pl_decay: float = 0.01
    #: The penalty is computed on batch_size // pl_batch_shrink fresh latents.
    pl_batch_shrink: int = 2
    #: Apply it every this many G steps (lazy regularisation, like r1_interval).
    pl_interval: int = 4

    def validate(self, prefix: str) -> None:
        if self.r1_gamma != AUTO and self.r1_gamma < 0:
            raise ParamsError(f"params key '{prefix}.r1_gamma' must be ≥ 0 or auto")
        if self.r1_interval < 1:
            raise ParamsError(f"params key '{prefix}.r1_interval' must be ≥ 1")
        if self.pl_weight < 0:
            raise ParamsError(f"params key '{prefix}.pl_weight' must be ≥ 0")
        if not 0.0 <= self.pl_decay <= 1.0:
            raise ParamsError(f"params key '{prefix}.pl_decay' must be in [0, 1]")
        for key in ("pl_batch_shrink", "pl_interval"):
            if getattr(self, key) < 1:
                raise ParamsError(f"params key '{prefix}.{key}' must be ≥ 1")

    def resolved(self, auto: AutoContext) -> LogisticR1Config:
        """This config with ``r1_gamma: auto`` replaced by stylegan2-ada's number for the
        resolution and batch size of ``auto``."""
        return replace(self, r1_gamma=auto.r1_gamma()) if self.r1_gamma == AUTO else self


@register_objective
class LogisticR1(Objective):
    """D: softplus(D(G(z))) + softplus(−D(x)) [+ lazy γ/2‖∇D(x)‖²];
    G: softplus(−D(G(z))) [+ lazy path-length penalty]."""

    name = "logistic_r1"
    Config = LogisticR1Config

    def __init__(self, cfg: LogisticR1Config, G: nn.Module, D: nn.Module | None) -> None:
        if cfg.r1_gamma == AUTO:
            raise ParamsError("logistic_r1: r1_gamma is still auto; parse the params with "
                              "ganbench.config.parse_params, which resolves it")
        if cfg.pl_weight > 0 and not getattr(G, "exposes_ws", False):
            raise ParamsError(f"logistic_r1's path-length regularisation needs a generator that exposes "
                              f"its styles (StyleGAN's), not {type(G).__name__}; set this variant's "
                              "loss.pl_weight: 0")
        super().__init__(cfg, G, D)
        #: Running mean of the path lengths (stylegan2-ada's ``pl_mean``): saved in
        #: checkpoints through :meth:`state_dict`.
        self.pl_mean = torch.zeros([])

    @property
    def phases(self) -> list[Phase]:
        phases = [Phase("Dmain", "D")]
        if self.cfg.r1_gamma > 0:
            phases.append(Phase("Dreg", "D", self.cfg.r1_interval))
        phases.append(Phase("Gmain", "G"))
        if self.cfg.pl_weight > 0:
            phases.append(Phase("Greg", "G", self.cfg.pl_interval))
        return phases

    def state_dict(self) -> dict[str, Tensor]:
        return {"pl_mean": self.pl_mean.detach().cpu().clone()} if self.cfg.pl_weight > 0 else {}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        super().load_state_dict({k: v for k, v in state.items() if k != "pl_mean"})
        if "pl_mean" in state:
            self.pl_mean = state["pl_mean"].detach().clone().to(self.pl_mean.device)

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
        if phase.name == "Greg":
            return self._path_length(batch, phase.interval)
        raise ValueError(f"logistic_r1 has no phase {phase.name!r}")

    def _path_length(self, batch: Batch, interval: int) -> tuple[Tensor, Stats]:
        """stylegan2-ada's ``Gpl``: fresh latents (each phase draws its own there), noise
        y scaled by 1/√(H·W), lengths ‖∂(G·y)/∂ws‖ (squared norm over w_dim, mean over the
        style layers, square root), penalty (length − a)² with a updated by this batch."""
        n = max(1, batch.z.shape[0] // self.cfg.pl_batch_shrink)
        z = torch.randn_like(batch.z[:n])
        c = batch.gen_c[:n] if batch.gen_c is not None else None
        images, ws = self.G(z, c, return_ws=True)
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        (grads,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
        lengths = grads.float().square().sum(2).mean(1).sqrt()
        previous = self.pl_mean.to(lengths.device)
        # As the reference, the penalty's mean includes this batch (and its gradient); the
        # state keeps the mean over every process's share, so all ranks keep the same one.
        pl_mean = previous.lerp(lengths.mean(), self.cfg.pl_decay)
        self.pl_mean = previous.lerp(mean_over_processes(lengths.mean()), self.cfg.pl_decay)
        penalty = (lengths - pl_mean).square()
        # "+ 0 · pixel" keeps the image in the graph, as the reference does.
        loss = (images[:, 0, 0, 0].float() * 0 + penalty * self.cfg.pl_weight).mean() * interval
        return loss, detached(pl_penalty=penalty.mean(), pl_mean=self.pl_mean)
