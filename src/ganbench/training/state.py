"""What a training run consists of, apart from the loop that advances it: the trainee
(networks, objective, optimizers, EMA, data), its progress counters and its data order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ganbench.losses import Objective
from ganbench.training.accel import Acceleration
from ganbench.training.distributed import World
from ganbench.training.ema import EMA


@dataclass
class Progress:
    """Counters of a run, saved in every checkpoint and summed over resumed sessions."""

    step: int = 0  #: generator (main network) optimizer steps done
    d_step: int = 0  #: discriminator/critic steps done
    images_seen: int = 0  #: real images drawn from the training split
    wall_clock_s: float = 0.0  #: training time (training-time evaluations excluded)
    eval_wall_clock_s: float = 0.0  #: time spent in training-time evaluations

    @property
    def kimg(self) -> float:
        return self.images_seen / 1000.0


class RealBatches:
    """Epoch-wise shuffled mini-batches from in-memory tensors, resumable.

    images: (N, C, H, W) float in [-1, 1]; labels: (N,) long or None. The order comes
    from its own seeded generator, so it is the same on every device and every process.
    ``batch_size`` is the global batch; with a ``world`` of several processes each
    ``next()`` returns this rank's strided share ``idx[rank::size]`` of it (the
    assignment of ``DistributedSampler``; see :mod:`ganbench.training.distributed`).
    The tensors may already live on ``device`` (the CUDA fast path keeps them there)."""

    def __init__(self, images: Tensor, labels: Tensor | None, batch_size: int, seed: int,
                 device: torch.device, channels_last: bool = False, world: World | None = None) -> None:
        if len(images) < batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the {len(images)} training images")
        self.world = world if world is not None else World()
        self.world.check_batch(batch_size)
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(len(images), generator=self.generator)
        self.pos = 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        if self.pos + self.batch_size > len(self.perm):  # drop the ragged tail, reshuffle
            self.perm = torch.randperm(len(self.images), generator=self.generator)
            self.pos = 0
        idx = self.world.shard(self.perm[self.pos : self.pos + self.batch_size])
        self.pos += self.batch_size
        if idx.device != self.images.device:  # the split lives on the accelerator
            idx = idx.to(self.images.device, non_blocking=True)
        x = self.images.index_select(0, idx).to(self.device, non_blocking=True)
        x = x.contiguous(memory_format=self.memory_format)
        c = self.labels.index_select(0, idx).to(self.device) if self.labels is not None else None
        return x, c

    def state_dict(self) -> dict[str, Any]:
        return {"perm": self.perm, "pos": self.pos, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.perm = state["perm"]
        self.pos = int(state["pos"])
        self.generator.set_state(state["generator"])


@dataclass
class Trainee:
    """What the loop trains. ``D``/``opt_D`` are None for models without an adversary."""

    G: nn.Module
    D: nn.Module | None
    objective: Objective
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer | None
    batches: RealBatches
    ema: EMA | None = None
    num_classes: int = 0
    #: The processes training together (one by default) and the run's seed, which
    #: seeds each rank's own randomness inside a step.
    world: World = field(default_factory=World)
    seed: int = 0
    #: The device's fast path (autocast etc.; nothing on CPU).
    accel: Acceleration = field(default_factory=Acceleration)

    def sampling_G(self, generator: str = "ema") -> nn.Module:
        """The generator to draw from (progress grids, the training-time evaluation):
        ``"ema"``, the EMA copy with BatchNorm statistics of its own weights (the trained
        network when there is no EMA), or ``"raw"``, the trained network."""
        if generator not in ("ema", "raw"):
            raise ValueError(f"generator must be 'ema' or 'raw', got {generator!r}")
        return self.ema.calibrated() if self.ema is not None and generator == "ema" else self.G


def images_per_step(t: Trainee) -> int:
    """Real images one generator step consumes: one batch per discriminator step, or one
    batch when there is no discriminator."""
    return t.batches.batch_size * max(d_steps_per_g_step(t), 1)


def d_steps_per_g_step(t: Trainee) -> int:
    """Discriminator steps per generator step (0 without a discriminator)."""
    return t.objective.d_steps if t.D is not None else 0
