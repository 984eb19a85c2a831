"""Exponential moving average of generator weights (Karras et al. 2018)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``self.model``, an averaged copy of a network.

    The decay per update is ``beta = 0.5 ** (images / half_life_images)``, where
    ``images`` is what the update's training step consumed (for a generator step after
    n_critic critic steps: n_critic batches), so the average forgets half its history
    every ``half_life_kimg`` thousand images whatever the objective.
    With ``rampup > 0`` the half-life is capped at ``rampup × images_seen`` early on.
    Buffers (e.g. BatchNorm statistics, w_avg) are copied, not averaged."""

    def __init__(self, model: nn.Module, half_life_kimg: float, rampup: float = 0.0) -> None:
        if half_life_kimg <= 0:
            raise ValueError("EMA half-life must be > 0")
        self.half_life_kimg = half_life_kimg
        self.rampup = rampup
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def beta(self, images: int, images_seen: int) -> float:
        """Decay for an update after a step that consumed ``images`` real images, with
        ``images_seen`` in total so far."""
        half_life = self.half_life_kimg * 1000.0
        if self.rampup > 0:
            half_life = min(half_life, images_seen * self.rampup)
        return 0.5 ** (images / max(half_life, 1e-8))

    @torch.no_grad()
    def update(self, model: nn.Module, images: int, images_seen: int) -> None:
        beta = self.beta(images, images_seen)
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - beta)
        for b_ema, b in zip(self.model.buffers(), model.buffers()):
            b_ema.copy_(b)
