"""Data-parallel training on torch.distributed: the process world, DDP-wrapped networks,
per-rank randomness, and the ``torchrun`` launcher.

One process is the default and runs none of this: ``World()`` is rank 0 of 1, and every
helper below is then the identity, so single-process results are unchanged.

Under ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in the environment) each
process trains a share of the global batch:

* Data: every rank draws the same seeded permutation and takes the rank-strided slice
  ``idx[rank::world]`` of each global batch: the assignment
  ``torch.utils.data.DistributedSampler`` makes within an epoch (a test compares them),
  and together the ranks see exactly the batch one process would.
* Latents: every rank draws the global ``(batch, z_dim)`` latents from the same RNG
  stream and keeps its slice, so the generated batch is also one process's. All other
  randomness inside a step (noise inputs, the gradient penalty's interpolation, a VAE's
  reparameterisation) comes from a per-rank stream seeded by (seed, rank, step), so
  ranks never repeat each other's draws and a resumed run draws what it would have.
* Gradients: :class:`Replicated` sends a network's forward through
  ``DistributedDataParallel`` while that network is being trained and through the bare
  module while it is frozen (the discriminator inside the generator's loss, the
  generator during critic steps), so exactly the trained network's gradients are
  averaged, once per backward. Per-rank losses are means over the rank's share, so the
  averaged gradient is the gradient of the global batch mean, as in one process.
* BatchNorm layers become :class:`ganbench.nn.sync_batchnorm.SyncBatchNorm` (statistics
  of the global batch; gloo on CPU, NCCL on CUDA).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ganbench.errors import GanbenchError, ParamsError


@dataclass(frozen=True)
class World:
    """Where this process sits in the run: ``rank`` of ``size`` processes, ``local_rank``
    on this machine (its CUDA device)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> World:
        """The world ``torchrun`` describes in the environment (one process without it)."""
        env = os.environ if env is None else env
        if "WORLD_SIZE" not in env:
            return cls()
        try:
            return cls(rank=int(env["RANK"]), size=int(env["WORLD_SIZE"]),
                       local_rank=int(env.get("LOCAL_RANK", env["RANK"])))
        except (KeyError, ValueError):
            raise GanbenchError("WORLD_SIZE is set but RANK/LOCAL_RANK are missing or not integers; "
                                "start distributed training with torchrun or `ganbench train --nproc N`") from None

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """Only the main process logs, writes files and talks to MLflow."""
        return self.rank == 0

    def shard(self, x: Tensor | None) -> Tensor | None:
        """This rank's rows of a global batch: ``x[rank::size]``."""
        if x is None or not self.distributed:
            return x
        return x[self.rank :: self.size]

    def mean_(self, x: Tensor) -> Tensor:
        """Average ``x`` over the ranks in place (a no-op in one process)."""
        if self.distributed:
            dist.all_reduce(x)
            x.div_(self.size)
        return x

    @contextlib.contextmanager
    def own_randomness(self, seed: int, step: int, device: torch.device) -> Iterator[None]:
        """Inside: torch's RNG seeded for (seed, rank, step); after: the shared stream as it
        was. One process: nothing changes."""
        if not self.distributed:
            yield
            return
        digest = hashlib.sha256(f"{seed}/{self.rank}/{step}".encode()).digest()
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
            torch.manual_seed(int.from_bytes(digest[:8], "little") % 2**63)
            yield

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.size:
            raise ParamsError(
                f"train.batch_size {batch_size} does not split evenly over {self.size} processes; "
                f"choose a batch size divisible by {self.size} or another train.nproc "
                "(the global batch, learning rates and kimg stay as in one process)")


def init_process_group(world: World, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on CPU) and return this rank's device."""
    if not world.distributed or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(minutes=30),
                            device_id=device if device.type == "cuda" else None)
    return device


def destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class Replicated(nn.Module):
    """A network as the objective sees it in a distributed run: calls (``forward`` and the
    module's other methods, e.g. a VAE's ``encode``) go through
    ``DistributedDataParallel`` while the network's parameters require gradients and
    autograd is on, else straight to the module. ``parameters()`` and attributes are the
    module's own."""

    def __init__(self, module: nn.Module, device: torch.device) -> None:
        super().__init__()
        from torch.nn.parallel import DistributedDataParallel

        self.ddp = DistributedDataParallel(
            _Methods(module), device_ids=[device] if device.type == "cuda" else None,
            **_no_buffer_broadcast())

    @property
    def module(self) -> nn.Module:
        return self.ddp.module.module

    def _through_ddp(self) -> bool:
        first = next(self.module.parameters(), None)
        return torch.is_grad_enabled() and first is not None and first.requires_grad

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.call("forward", *args, **kwargs)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._through_ddp():
            return self.ddp(*args, _method=method, **kwargs)
        return getattr(self.module, method)(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            pass
        value = getattr(self.module, name)
        if callable(value) and not isinstance(value, nn.Module) and hasattr(type(self.module), name):
            return lambda *args, **kwargs: self.call(name, *args, **kwargs)
        return value


def _no_buffer_broadcast() -> dict[str, bool]:
    """DDP's switch for not re-broadcasting buffers before every forward (SyncBatchNorm
    keeps the statistics equal on every rank; rank 0's are the ones saved): named
    ``forward_sync_buffers`` in newer torch, ``broadcast_buffers`` before."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    names = inspect.signature(DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in names else {"broadcast_buffers": False}


class _Methods(nn.Module):
    """What DDP wraps: ``forward(..., _method=name)`` calls ``module.<name>``, so every
    method an objective uses is a DDP forward."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: Any, _method: str = "forward", **kwargs: Any) -> Any:
        return getattr(self.module, _method)(*args, **kwargs)


def replicate(module: nn.Module | None, world: World, device: torch.device) -> nn.Module | None:
    """The handle an objective should call: ``module`` itself in one process, else a
    :class:`Replicated` wrapper."""
    if module is None or not world.distributed:
        return module
    return Replicated(module, device)


def torchrun_command(nproc: int, module_args: Sequence[str]) -> list[str]:
    """``torchrun --standalone --nproc_per_node N -m <module args>`` with this interpreter
    (a single-machine rendezvous on loopback)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "--", *module_args]


def launch(nproc: int, module_args: Sequence[str]) -> int:
    """Run ``module_args`` (``package.module arg ...``) in ``nproc`` processes with torchrun
    and return its exit status. While it runs, SIGTERM is passed on to torchrun (which
    passes it to the workers: they checkpoint and stop) and SIGINT is left to the
    terminal's process group, which the workers share. After a passed-on signal the
    status is 128 + its number, as for one process."""
    if nproc < 1:
        raise ParamsError(f"train.nproc must be ≥ 1, got {nproc}")
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    child = subprocess.Popen(torchrun_command(nproc, module_args), env=env)
    if threading.current_thread() is not threading.main_thread():
        return child.wait()
    received: list[int] = []

    def pass_on(signum: int, frame: object) -> None:
        received.append(signum)
        if signum == signal.SIGTERM:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, pass_on) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = child.wait()
        return 128 + received[0] if code and received else code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
