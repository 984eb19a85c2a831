"""The training loop: data, phases, EMA, cadence of logs, grids and checkpoints. No loss math.

The loop asks the objective which phases exist, how many discriminator steps come per
generator step, and for each phase's loss; it never knows which objective it runs, nor
whether there is a discriminator at all (a model trained alone has G phases only).
Scalars the objective reports are accumulated on the device and read back once per
``log_every`` generator steps (one host sync), then sent to the tracker it was given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

import torch
from torch import Tensor, nn

from ganbench.config.schema import GStep
from ganbench.errors import TrainingDivergedError, TrainingInterrupted
from ganbench.losses import Batch, Phase
from ganbench.progress import progress_bar
from ganbench.sampling.files import make_grid
from ganbench.sampling.generate import generate
from ganbench.sampling.latents import noise_generator
from ganbench.tracking.base import Tracker
from ganbench.training.budget import Budget
from ganbench.training.distributed import World
from ganbench.training.state import Progress, Trainee, d_steps_per_g_step, images_per_step


@dataclass(frozen=True)
class Cadence:
    """How often the loop reports; none of these changes what is trained."""

    #: Generator steps between loss flushes (one host sync each).
    log_every: int = 50
    #: Generator steps between progress grids.
    image_every: int = 200
    #: Real images between checkpoints (one is always written at the end).
    checkpoint_every_images: int = 20_000
    #: Real images between training-time evaluations (0 = none; one runs at the end).
    probe_every_images: int = 0


@dataclass(frozen=True)
class Grid:
    """Fixed inputs for the progress grids: latents ``z (N, z_dim)``, labels ``c (N,)``
    or None, images per row, and the seed of their noise inputs."""

    z: Tensor
    c: Tensor | None
    nrow: int
    seed: int


class ScalarAccumulator:
    """Sums named scalar tensors on their device; ``flush`` syncs once and returns means
    (averaged over the processes of ``world`` first: one all-reduce)."""

    def __init__(self, world: World | None = None) -> None:
        self.world = world if world is not None else World()
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
        values = self.world.mean_(torch.stack([self.sums[k] for k in keys])).cpu().tolist()  # one sync
        out = {k: v / self.counts[k] for k, v in zip(keys, values)}
        self.sums.clear()
        self.counts.clear()
        return out


def _set_trainable(module: nn.Module | None, flag: bool) -> None:
    if module is None:
        return
    for p in module.parameters():
        p.requires_grad_(flag)


def _run_phase(t: Trainee, phase: Phase, batch: Batch, opt: torch.optim.Optimizer,
               acc: ScalarAccumulator) -> None:
    opt.zero_grad(set_to_none=True)
    with t.accel.autocast_context(t.batches.device):
        loss, stats = t.objective.loss(phase, batch)
    loss.backward()
    opt.step()
    t.objective.after_step(phase)
    acc.add(stats)


_FINITE = "__weights_finite__"
_STOP = "__stop_requested__"
_OUT_OF_TIME = "__main_clock_reached_budget__"


def _weights_finite(t: Trainee) -> Tensor:
    """1.0 when every weight of G, D and the EMA copy is finite, as a device scalar."""
    nets = [t.G, t.D, t.ema.model if t.ema is not None else None]
    params = [p for net in nets if net is not None for p in net.parameters()]
    return torch.stack([torch.isfinite(p).all() for p in params]).all().float()


def _crossed(images_seen: int, step_images: int, every: int) -> bool:
    """True when the last step's images crossed a multiple of ``every`` (0 = never)."""
    return every > 0 and images_seen // every > (images_seen - step_images) // every


def train_loop(
    t: Trainee,
    budget: Budget,
    cadence: Cadence,
    tracker: Tracker,
    *,
    state: Progress,
    grid: Grid,
    save: Callable[[Progress], None],
    g_step: GStep | None = "shared_fake",
    probe: Callable[[Progress], dict[str, float]] | None = None,
    stop: Callable[[], bool] | None = None,
    desc: str = "train",
    clock: Callable[[], float] = time.perf_counter,
) -> Progress:
    """Train until ``budget`` is reached; returns the final progress (``state``, updated).

    ``save(progress)`` is called every ``cadence.checkpoint_every_images`` real images
    and at the end, each time right after the losses were flushed and found finite.
    ``probe(progress)`` (a training-time evaluation returning named values) runs every
    ``cadence.probe_every_images`` real images and at the end; its values go to the
    tracker and its time is counted in ``eval_wall_clock_s``, not in the training
    wall-clock, as is the recalibration of the EMA generator's BatchNorm statistics
    before an evaluation, a grid or a checkpoint uses it. ``stop()`` is asked after every step (a flag, no device sync): when it
    says so, the loop flushes, writes a checkpoint and raises
    :class:`~ganbench.errors.TrainingInterrupted`. Non-finite losses or weights raise
    :class:`~ganbench.errors.TrainingDivergedError` at the next flush, before anything
    is saved. ``clock`` measures time (replaceable in tests).

    ``g_step`` says what the generator step is fed after the discriminator steps:
    ``shared_fake``, the last D step's fake batch, whose graph G's forward recorded there
    (one G forward per step); ``same_latents``, a new G forward on that D step's latents
    (compare_gan's step: G's BatchNorm running statistics move in both forwards);
    ``new_latents``, a new forward on freshly drawn latents. A model without a discriminator
    ignores it (None: its one step has one forward).

    In a distributed run (``t.world`` of several processes, each calling this with the
    same arguments) every rank computes its share of each batch, the scalars are
    averaged over the ranks at each flush, the ranks agree on a stop request at the
    next flush (a signal on one rank must not leave the others waiting), and progress
    grids are drawn on the main rank only; ``tracker``, ``save`` and ``probe`` are the
    caller's to make rank-aware. A ``seconds`` budget is decided by the main rank's
    clock alone (its training wall-clock, evaluation time excluded: the value the
    checkpoint records), sent to the others with the losses at each flush: the ranks'
    own clocks differ (the others also count their waits for the main rank's
    evaluations and grids), and a rank that stopped alone would leave the rest in a
    collective. The run therefore stops at the first flush after the main rank's clock
    reached the budget: up to ``cadence.log_every - 1`` steps later than one process
    would."""
    if t.D is not None and g_step not in get_args(GStep):
        raise ValueError(f"g_step must be one of {', '.join(get_args(GStep))} with a discriminator, got {g_step!r}")
    device = t.batches.device
    bs = t.batches.batch_size
    z_dim = t.G.z_dim
    d_phases = [p for p in t.objective.phases if p.net == "D"]
    g_phases = [p for p in t.objective.phases if p.net == "G"]
    d_steps = d_steps_per_g_step(t)
    step_images = images_per_step(t)
    world = t.world
    acc = ScalarAccumulator(world)
    bar = progress_bar(int(math.ceil(budget.amount)), desc,
                       unit={"kimg": "kimg", "g_steps": "step", "seconds": "s"}[budget.mode],
                       enabled=t.world.main)
    bar.update(int(budget.used(state)))
    start = clock()
    start_images = state.images_seen
    base_wall = state.wall_clock_s
    probe_time = 0.0  # this session's evaluation time, kept out of the training wall-clock
    shown = int(budget.used(state))
    # Several processes end a wall-clock budget together, at a flush (see the docstring).
    timed_together = world.distributed and budget.mode == "seconds"
    done = budget.reached(state)  # equal on every rank: the same checkpoint, or none
    t.G.train()
    if t.D is not None:
        t.D.train()

    def fresh_batch(real: Tensor, real_c: Tensor | None) -> Batch:
        # The global batch's latents from the stream every rank shares; this rank's share.
        z = world.shard(torch.randn(bs, z_dim, device=device))
        gen_c = world.shard(torch.randint(t.num_classes, (bs,), device=device)) if t.num_classes else None
        return Batch(real=real, real_c=real_c, z=z, gen_c=gen_c)

    while not done:
        # Discriminator / critic steps. With shared_fake, G's graph is recorded during the
        # last one so the generator step can reuse that fake batch instead of a new forward.
        _set_trainable(t.G, False)
        _set_trainable(t.D, True)
        batch: Batch | None = None
        for i in range(d_steps):
            if g_step == "shared_fake" and i == d_steps - 1:
                _set_trainable(t.G, True)
            batch = fresh_batch(*t.batches.next())
            with world.own_randomness(t.seed, state.d_step, device):
                for phase in d_phases:
                    if state.d_step % phase.interval == 0:
                        _run_phase(t, phase, batch, t.opt_D, acc)
            state.d_step += 1
        # Generator step.
        _set_trainable(t.G, True)
        _set_trainable(t.D, False)
        if batch is None:  # no discriminator: the generator's own batch of real images
            batch = fresh_batch(*t.batches.next())
        elif g_step == "same_latents":
            batch = Batch(real=batch.real, real_c=batch.real_c, z=batch.z, gen_c=batch.gen_c)
        elif g_step == "new_latents":
            batch = fresh_batch(batch.real, batch.real_c)
        with world.own_randomness(t.seed, -1 - state.step, device):
            for phase in g_phases:
                if state.step % phase.interval == 0:
                    _run_phase(t, phase, batch, t.opt_G, acc)
        state.step += 1
        state.images_seen += step_images
        if t.ema is not None:
            t.ema.update(t.G, step_images, state.images_seen)
        state.wall_clock_s = base_wall + (clock() - start) - probe_time

        done = not timed_together and budget.reached(state)
        stop_requested = stop is not None and stop()
        # One process stops at once; several agree at the next flush.
        interrupted = stop_requested and not world.distributed
        checkpoint = _crossed(state.images_seen, step_images, cadence.checkpoint_every_images)
        if state.step % cadence.log_every == 0 or checkpoint or done or interrupted:
            acc.add({_FINITE: _weights_finite(t)})  # read back with the losses: one sync
            if world.distributed:
                acc.add({_STOP: torch.tensor(float(stop_requested), device=device)})
            if timed_together:  # the main rank's verdict; the others send 0
                acc.add({_OUT_OF_TIME: torch.tensor(float(world.main and budget.reached(state)), device=device)})
            losses = acc.flush()
            finite = losses.pop(_FINITE) == 1.0
            if world.distributed:
                interrupted = losses.pop(_STOP) > 0
            if timed_together:
                done = losses.pop(_OUT_OF_TIME) > 0
            bad = [k for k, v in losses.items() if not math.isfinite(v)]
            if bad or not finite:
                what = f"{bad[0]} became {losses[bad[0]]}" if bad else "a network weight became NaN or inf"
                raise TrainingDivergedError(
                    f"{desc}: {what} by generator step {state.step} (kimg {state.kimg:.1f}); lower "
                    "the learning rates in this variant's g_optim/d_optim params or change the seed; "
                    "the last checkpoint before the divergence was kept")
            rate = (state.images_seen - start_images) / max(state.wall_clock_s - base_wall, 1e-9)
            tracker.log_metrics({**losses, "kimg": state.kimg, "images_per_s": rate}, step=state.step)
            used = int(budget.used(state))
            bar.update(used - shown)
            shown = used
            if losses:
                bar.set_postfix({k: f"{v:.3g}" for k, v in list(losses.items())[:3]})
        if interrupted:
            save(state)
            bar.close()
            raise TrainingInterrupted(
                f"{desc}: interrupted at generator step {state.step} (kimg {state.kimg:.1f}); a "
                "checkpoint was written there: the same command (or `dvc repro`) resumes it")
        probe_due = probe is not None and (done or _crossed(state.images_seen, step_images,
                                                            cadence.probe_every_images))
        grid_due = world.main and (state.step % cadence.image_every == 0 or done)
        if t.ema is not None and world.main and (probe_due or grid_due or checkpoint or done):
            # The EMA generator's BatchNorm statistics, recomputed for its weights before
            # anything uses it: evaluation time, kept out of the training wall-clock.
            calibration_start = clock()
            t.ema.calibrated()
            spent = clock() - calibration_start
            probe_time += spent
            state.eval_wall_clock_s += spent
        if probe_due:
            probe_start = clock()
            tracker.log_metrics(probe(state), step=state.step)
            spent = clock() - probe_start
            probe_time += spent
            state.eval_wall_clock_s += spent
        if grid_due:
            images = generate(t.sampling_G(), grid.z, grid.c, device=device,
                              noise=noise_generator(grid.seed))
            tracker.log_image(make_grid(images, nrow=grid.nrow), "samples", state.step)
        if checkpoint or done:
            save(state)
    bar.close()
    return state
