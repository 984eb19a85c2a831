"""The training loop: data, phases, optimizers, EMA, logging cadence. No loss math.

The loop asks the objective which phases exist, how many discriminator steps
come per generator step, and for each phase's loss; it never knows which
objective it runs. Scalars the objective reports are accumulated on the device
and read back once per ``log_every`` generator steps (one host sync), then
sent to the tracker it was given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ganbench.config import TrainConfig
from ganbench.errors import TrainingDivergedError
from ganbench.losses import Batch, Objective, Phase
from ganbench.models import OptimizerConfig
from ganbench.registry import Registry
from ganbench.sampling import generate, make_grid
from ganbench.tracking import Tracker
from ganbench.training.ema import EMA
from ganbench.utils import progress

# --------------------------------------------------------------------------- optimizers

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")


@OPTIMIZERS.register("adam")
def _adam(params: Any, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                            weight_decay=cfg.weight_decay, foreach=True)


@OPTIMIZERS.register("rmsprop")
def _rmsprop(params: Any, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay,
                               foreach=True)


def make_optimizer(module: nn.Module, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(cfg.name)(module.parameters(), cfg)


# --------------------------------------------------------------------------- data


class RealBatches:
    """Epoch-wise shuffled mini-batches from in-memory tensors, resumable.

    images: (N, C, H, W) float in [-1, 1]; labels: (N,) long or None."""

    def __init__(self, images: Tensor, labels: Tensor | None, batch_size: int, seed: int,
                 device: torch.device, channels_last: bool = False) -> None:
        if len(images) < batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the {len(images)} training images")
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
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
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


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class Progress:
    step: int = 0  #: generator steps done
    d_step: int = 0  #: discriminator steps done
    images_seen: int = 0  #: real images shown to D
    wall_clock_s: float = 0.0  #: training time, summed over resumed sessions

    @property
    def kimg(self) -> float:
        return self.images_seen / 1000.0


class ScalarAccumulator:
    """Sums named scalar tensors on their device; ``flush`` syncs once and returns means."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, Tensor]) -> None:
        for k, v in stats.items():
            v = v.detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
            self.counts[k] = self.counts.get(k, 0) + 1

    def flush(self) -> dict[str, float]:
        if not self.sums:
            return {}
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys]).cpu().tolist()  # the one sync
        out = {k: v / self.counts[k] for k, v in zip(keys, values)}
        self.sums.clear()
        self.counts.clear()
        return out


@dataclass
class Trainee:
    """What the loop trains: networks, objective, optimizers, optional EMA, data."""

    G: nn.Module
    D: nn.Module
    objective: Objective
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    batches: RealBatches
    ema: EMA | None = None
    num_classes: int = 0

    def sampling_G(self) -> nn.Module:
        return self.ema.model if self.ema is not None else self.G


def _set_trainable(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def _run_phase(t: Trainee, phase: Phase, batch: Batch, opt: torch.optim.Optimizer,
               acc: ScalarAccumulator) -> None:
    opt.zero_grad(set_to_none=True)
    loss, stats = t.objective.loss(phase, batch)
    loss.backward()
    opt.step()
    t.objective.after_step(phase)
    acc.add(stats)


def train_loop(
    t: Trainee,
    cfg: TrainConfig,
    tracker: Tracker,
    *,
    total_images: int,
    state: Progress,
    fixed_z: Tensor,
    fixed_c: Tensor | None,
    grid_nrow: int,
    save: Callable[[Progress], None],
    desc: str = "train",
) -> Progress:
    """Train until ``state.images_seen >= total_images``; returns the final progress.

    ``save(progress)`` is called every ``checkpoint_every`` generator steps and at the
    end, always right after the logged losses were checked to be finite."""
    device = t.batches.device
    bs = t.batches.batch_size
    z_dim = t.G.z_dim
    d_phases = [p for p in t.objective.phases if p.net == "D"]
    g_phases = [p for p in t.objective.phases if p.net == "G"]
    acc = ScalarAccumulator()
    bar = progress(total_images, desc)
    bar.update(state.images_seen)
    start = time.perf_counter()
    start_images = state.images_seen
    base_wall = state.wall_clock_s
    t.G.train()
    t.D.train()

    def fresh_batch(real: Tensor, real_c: Tensor | None) -> Batch:
        z = torch.randn(bs, z_dim, device=device)
        gen_c = torch.randint(t.num_classes, (bs,), device=device) if t.num_classes else None
        return Batch(real=real, real_c=real_c, z=z, gen_c=gen_c)

    last_flushed_images = state.images_seen
    while state.images_seen < total_images:
        # Discriminator / critic steps. With share_fake, G's graph is recorded during the
        # last one so the generator step can reuse that fake batch instead of a new forward.
        _set_trainable(t.G, False)
        _set_trainable(t.D, True)
        for i in range(t.objective.d_steps):
            if cfg.share_fake and i == t.objective.d_steps - 1:
                _set_trainable(t.G, True)
            real, real_c = t.batches.next()
            batch = fresh_batch(real, real_c)
            for phase in d_phases:
                if state.d_step % phase.interval == 0:
                    _run_phase(t, phase, batch, t.opt_D, acc)
            state.d_step += 1
            state.images_seen += bs
        # Generator step.
        _set_trainable(t.G, True)
        _set_trainable(t.D, False)
        if not cfg.share_fake:
            batch = fresh_batch(real, real_c)
        for phase in g_phases:
            if state.step % phase.interval == 0:
                _run_phase(t, phase, batch, t.opt_G, acc)
        state.step += 1
        if t.ema is not None:
            t.ema.update(t.G, bs, state.images_seen)

        done = state.images_seen >= total_images
        if state.step % cfg.log_every == 0 or state.step % cfg.checkpoint_every == 0 or done:
            losses = acc.flush()
            bad = [k for k, v in losses.items() if not math.isfinite(v)]
            if bad:
                raise TrainingDivergedError(
                    f"{bad[0]} became {losses[bad[0]]} by generator step {state.step} "
                    f"(kimg {state.kimg:.1f}); lower the learning rates in this variant's "
                    "g_optim/d_optim params or change the seed — the last checkpoint before "
                    "the divergence was kept")
            elapsed = time.perf_counter() - start
            state.wall_clock_s = base_wall + elapsed
            rate = (state.images_seen - start_images) / max(elapsed, 1e-9)
            tracker.log_metrics({**losses, "kimg": state.kimg, "images_per_s": rate}, step=state.step)
            bar.update(state.images_seen - last_flushed_images)
            last_flushed_images = state.images_seen
            if losses:
                bar.set_postfix({k: f"{v:.3g}" for k, v in list(losses.items())[:3]})
        if state.step % cfg.image_every == 0 or done:
            # Seeded noise in a forked RNG: every grid uses the same noise as well as the same
            # latents, and the training RNG stream is untouched (a resumed run stays exact).
            grid = make_grid(generate(t.sampling_G(), fixed_z, fixed_c, device=device,
                                      noise_seed=cfg.seed), nrow=grid_nrow)
            tracker.log_image(grid, "samples", state.step)
        if state.step % cfg.checkpoint_every == 0 or done:
            save(state)
    bar.close()
    state.wall_clock_s = base_wall + (time.perf_counter() - start)
    return state
