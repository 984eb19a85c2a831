"""The objective interface the training loop runs without knowing which one it is.

An objective owns the loss math. The loop owns optimizers, data, schedules and
bookkeeping. They meet in *phases* (after stylegan2-ada's ``accumulate_gradients``):

* ``phases`` lists :class:`Phase` entries, each naming which network it updates
  (``"D"`` or ``"G"``) and how often (every ``interval``-th step of that network).
* ``d_steps`` is the number of discriminator/critic steps per generator step
  (WGAN's n_critic); each consumes one batch of real images.
* ``loss(phase, batch)`` returns the scalar to minimise and a dict of named,
  detached scalars to report (the loop decides where they go).
* ``after_step(phase)`` runs after that phase's optimizer step (e.g. weight clipping).
* ``state_dict()`` / ``load_state_dict(state)``: the objective's own persistent state
  (e.g. the path-length running mean), which checkpoints save and resuming restores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class Phase:
    name: str
    #: Which network's optimizer steps after this phase.
    net: Literal["G", "D"]
    #: Run on every ``interval``-th step of that network (lazy regularisation).
    interval: int = 1


@dataclass
class Batch:
    """One step's inputs. Shapes: real (N, C, H, W) in [-1, 1]; labels (N,) long or None;
    z (N, z_dim); gen_c (N,) long or None; fake (N, C, H, W) is G(z, gen_c) once computed
    (cached so the phases of one step share a single generator forward)."""

    real: Tensor
    real_c: Tensor | None
    z: Tensor
    gen_c: Tensor | None
    fake: Tensor | None = None


Stats = dict[str, Tensor]


class Objective:
    """Base class: subclasses set ``Config`` (a frozen dataclass with a ``name`` field)."""

    Config: ClassVar[type]
    name: ClassVar[str]
    #: Whether the objective trains a discriminator/critic (False: G alone, e.g. a VAE).
    adversarial: ClassVar[bool] = True

    def __init__(self, cfg, G: nn.Module, D: nn.Module | None) -> None:
        self.cfg = cfg
        self.G = G
        self.D = D

    @property
    def phases(self) -> list[Phase]:
        return [Phase("Dmain", "D"), Phase("Gmain", "G")]

    @property
    def d_steps(self) -> int:
        return 1

    def loss(self, phase: Phase, batch: Batch) -> tuple[Tensor, Stats]:
        raise NotImplementedError

    def reg_interval(self, net: str) -> int | None:
        """The interval of ``net``'s lazy regularisation phase (a phase that runs every
        I-th step), or None. The optimizer of that net is corrected for it (Karras et al.
        2020, appendix B: lr × I/(I+1), betas ^ I/(I+1))."""
        lazy = [p.interval for p in self.phases if p.net == net and p.interval > 1]
        return max(lazy) if lazy else None

    def after_step(self, phase: Phase) -> None:
        """Hook after ``phase``'s optimizer step; default: nothing."""

    def state_dict(self) -> dict[str, Tensor]:
        """State the objective carries from step to step besides the networks (saved in
        every checkpoint); default: none."""
        return {}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if state:
            raise ValueError(f"the {self.name} objective keeps no state, got {sorted(state)}")

    # Helpers shared by objectives -------------------------------------------------

    def fake(self, batch: Batch) -> Tensor:
        """G(z, gen_c) for this batch, cached on the batch so phases can share one forward
        (see ``train.g_step``). A cached fake made while G was frozen carries no graph;
        it is recomputed when G is being trained, so the G loss always reaches G."""
        needs_graph = torch.is_grad_enabled() and any(p.requires_grad for p in self.G.parameters())
        if batch.fake is None or (needs_graph and batch.fake.grad_fn is None):
            batch.fake = self.G(batch.z, batch.gen_c)
        return batch.fake

    def scores(self, images: Tensor, c: Tensor | None) -> Tensor:
        return self.D(images, c)


class ScoreObjective(Objective):
    """An objective that is a function of the discriminator's scores alone (logits or
    critic values, ``(N, 1)``): a subclass gives :meth:`d_loss` of the real and the fake
    scores and :meth:`g_loss` of the fake ones; the phases, the fake images and the
    stats (``loss_D``, ``D_real``, ``D_fake``, ``loss_G``) are shared. Its config's
    ``n_critic`` is the number of discriminator steps per generator step."""

    @property
    def d_steps(self) -> int:
        return self.cfg.n_critic

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def g_loss(self, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def loss(self, phase: Phase, batch: Batch) -> tuple[Tensor, Stats]:
        if phase.net == "D":
            real = self.scores(batch.real, batch.real_c)
            fake = self.scores(self.fake(batch).detach(), batch.gen_c)
            loss = self.d_loss(real, fake)
            return loss, detached(loss_D=loss, D_real=real.mean(), D_fake=fake.mean())
        loss = self.g_loss(self.scores(self.fake(batch), batch.gen_c))
        return loss, detached(loss_G=loss)


def check_n_critic(cfg, prefix: str) -> None:
    """``n_critic`` (discriminator steps per generator step) must be ≥ 1."""
    from ganbench.errors import ParamsError

    if cfg.n_critic < 1:
        raise ParamsError(f"params key '{prefix}.n_critic' must be ≥ 1 (discriminator steps per generator step)")


def native_gradient_scale(D: nn.Module) -> float:
    """The factor that turns a gradient with respect to ganbench's pixels ([-1, 1]) into
    one with respect to the pixel units D was designed for (``D.native_range``, absent:
    (-1, 1)): a network built for [0, 1] sees x' = (x + 1)/2, so ∂D/∂x' = 2·∂D/∂x.
    Gradient penalties whose target norm (1) is stated in those units use it."""
    lo, hi = getattr(D, "native_range", (-1.0, 1.0))
    return 2.0 / (hi - lo)


def detached(**values: Tensor) -> Stats:
    return {k: v.detach() for k, v in values.items()}


def mean_over_processes(x: Tensor) -> Tensor:
    """``x`` (detached) averaged over the processes of a distributed run: the value one
    process would compute over the whole batch when each rank holds an equal share;
    ``x`` itself in one process."""
    x = x.detach()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    total = x.clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def r1_penalty(D: nn.Module, real: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
    """Squared gradient norm of D's score at real images (Mescheder et al. 2018).

    Returns (penalty per sample (N,), scores (N,))."""
    real = real.detach().requires_grad_(True)
    scores = D(real, c)
    (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1), scores
