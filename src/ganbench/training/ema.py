"""Exponential moving average of generator weights (Karras et al. 2018), with BatchNorm
statistics recomputed for the averaged weights."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ganbench.sampling.latents import derived_seed


@dataclass(frozen=True)
class BatchNormRecalibration:
    """How an averaged generator's BatchNorm running statistics are recomputed: forward
    passes in train mode over ``batches`` batches of ``batch_size`` latents (and uniform
    labels when ``num_classes``), drawn from a CPU generator seeded with ``seed`` (the
    same inputs every time, the training RNG untouched), without gradients, as a
    cumulative average (momentum None), as ``torch.optim.swa_utils.update_bn`` does for
    averaged weights (Izmailov et al. 2018)."""

    batches: int
    batch_size: int
    z_dim: int
    num_classes: int
    seed: int
    device: torch.device

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> None:
        norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
        if not norms:
            return
        was_training = model.training
        momenta = [m.momentum for m in norms]
        model.eval()  # everything else as at sampling time (noise modes, no w_avg update)
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        g = torch.Generator().manual_seed(self.seed)
        try:
            # The generator's own randomness in the forward, if any, must not move the
            # training stream either.
            devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices, device_type=self.device.type if devices else "cuda"):
                for _ in range(self.batches):
                    z = torch.randn(self.batch_size, self.z_dim, generator=g).to(self.device)
                    c = torch.randint(self.num_classes, (self.batch_size,), generator=g).to(self.device) \
                        if self.num_classes else None
                    model(z, c)
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            model.train(was_training)


def recalibration_seed(seed: int) -> int:
    """The seed of a run's recalibration latents: its own stream of the training seed."""
    return derived_seed(seed, "ema-batchnorm")


class EMA:
    """Keeps ``self.model``, an averaged copy of a network.

    The decay per update is ``beta = 0.5 ** (images / half_life_images)``, where
    ``images`` is what the update's training step consumed (for a generator step after
    n_critic critic steps: n_critic batches), so the average forgets half its history
    every ``half_life_kimg`` thousand images whatever the objective.
    With ``rampup > 0`` the half-life is capped at ``rampup × images_seen`` early on
    (:meth:`half_life_images`). Buffers (e.g. w_avg) are copied, not averaged, except
    BatchNorm running statistics: those would belong to the trained weights, so
    :meth:`calibrated` recomputes them for the averaged ones (``batchnorm``) before the
    copy is used (checkpoints, evaluations, grids)."""

    def __init__(self, model: nn.Module, half_life_kimg: float, rampup: float = 0.0,
                 batchnorm: BatchNormRecalibration | None = None) -> None:
        if half_life_kimg <= 0:
            raise ValueError("EMA half-life must be > 0")
        self.half_life_kimg = half_life_kimg
        self.rampup = rampup
        self.batchnorm = batchnorm
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        stats = {id(b) for m in self.model.modules() if isinstance(m, _BatchNorm) for b in m.buffers()}
        if stats and batchnorm is None:
            raise ValueError("an EMA of a network with BatchNorm needs a BatchNormRecalibration: the "
                             "trained network's statistics do not fit the averaged weights")
        #: Whether each buffer (in ``buffers()`` order) is copied from the trained network.
        self._copied = [id(b) not in stats for b in self.model.buffers()]
        self._stale = True

    def half_life_images(self, images_seen: int) -> float:
        """The half-life in real images after ``images_seen`` images: ``half_life_kimg``
        thousand, capped by the ramp-up at ``rampup × images_seen``."""
        half_life = self.half_life_kimg * 1000.0
        if self.rampup > 0:
            half_life = min(half_life, images_seen * self.rampup)
        return half_life

    def beta(self, images: int, images_seen: int) -> float:
        """Decay for an update after a step that consumed ``images`` real images, with
        ``images_seen`` in total so far."""
        return 0.5 ** (images / max(self.half_life_images(images_seen), 1e-8))

    def describe(self, images_seen: int, images_per_step: int) -> dict[str, float]:
        """The half-life in effect after ``images_seen`` images (what the last update
        used), in kimg and in generator steps of ``images_per_step`` images, beside the
        nominal settings."""
        images = self.half_life_images(images_seen)
        return {"half_life_kimg": images / 1000.0, "half_life_g_steps": images / images_per_step,
                "nominal_kimg": self.half_life_kimg, "rampup": self.rampup}

    @torch.no_grad()
    def update(self, model: nn.Module, images: int, images_seen: int) -> None:
        beta = self.beta(images, images_seen)
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - beta)
        for b_ema, b, copied in zip(self.model.buffers(), model.buffers(), self._copied):
            if copied:
                b_ema.copy_(b)
        self._stale = True

    def calibrated(self) -> nn.Module:
        """``self.model`` with BatchNorm statistics of its current weights (recomputed once
        after each update, when there is a ``batchnorm`` recipe)."""
        if self._stale and self.batchnorm is not None:
            self.batchnorm(self.model)
        self._stale = False
        return self.model
