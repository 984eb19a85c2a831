"""BatchNorm whose training statistics span every process of a distributed run.

``torch.nn.SyncBatchNorm`` computes the global batch's statistics on accelerators only:
it refuses CPU tensors, and ``DistributedDataParallel`` refuses a CPU module that holds
one ("SyncBatchNorm layers only work with GPU modules"). A gloo run on CPU could then
only normalise each process's share of the batch: a different model from the
one-process run. This layer reduces the per-channel sums with
a differentiable all-reduce (gloo on CPU, NCCL on CUDA) whose backward all-reduces the
gradients of those sums, so the forward pass and the gradients
are those of one process's BatchNorm over the whole batch, on every device.

The per-channel sums and squares, their all-reduce and the normalisation run in
float32 even for a bf16 input under autocast; the output has the input's dtype.

It synchronises only in training mode, with autograd on, inside an initialised process
group of more than one process. Everything else (one process, eval mode, sampling or
progress grids under ``torch.no_grad`` on one rank) is a plain local BatchNorm, so a
forward pass on one rank alone never waits for the others. Parameters, buffers and
``state_dict`` keys are those of ``nn.BatchNorm2d``: checkpoints load into either.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


class _AllReduceSum(torch.autograd.Function):
    """Sum of ``x`` over the processes of ``group``; the gradient of every process's input
    is the sum of the gradients arriving at every process's output."""

    @staticmethod
    def forward(ctx, x: Tensor, group: dist.ProcessGroup) -> Tensor:  # noqa: ANN001
        ctx.group = group
        out = x.clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: ANN001
        grad = grad.clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


def all_reduce_sum(x: Tensor, group: dist.ProcessGroup) -> Tensor:
    """Differentiable all-reduce (sum) of ``x``."""
    return _AllReduceSum.apply(x, group)


def _syncing(layer: SyncBatchNorm) -> bool:
    return (layer.training and torch.is_grad_enabled() and dist.is_available() and dist.is_initialized()
            and dist.get_world_size(layer.process_group or dist.group.WORLD) > 1)


class SyncBatchNorm(_BatchNorm):
    """``forward(x (N, C, ...)) -> (N, C, ...)``: BatchNorm over the batch of every process
    of ``process_group`` (default: all; see the module docstring). Build it with
    :func:`convert_sync_batchnorm`."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: dist.ProcessGroup | None = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: Tensor) -> Tensor:
        if not _syncing(self):
            return super().forward(input)
        return self._synced_forward(input)

    def _momentum(self) -> float:
        # As _BatchNorm.forward: momentum None means a cumulative moving average.
        if self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        if self.momentum is None:
            return 1.0 / float(self.num_batches_tracked)
        return self.momentum

    def _synced_forward(self, input: Tensor) -> Tensor:
        group = self.process_group or dist.group.WORLD
        # Statistics in float32 whatever the input (a bf16 activation under autocast: a
        # bf16 sum keeps 8 significant bits); the output in the input's dtype, as
        # BatchNorm2d's under autocast. A float32 input is used as it is.
        x = input.float()
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = (1, c) + (1,) * (x.dim() - 2)
        local_count = x.new_full((1,), x.numel() // c)
        sums = all_reduce_sum(torch.cat([x.sum(dims), local_count]), group)  # differentiable
        count = sums[c]
        mean = sums[:c] / count
        centred = x - mean.view(shape)
        var = all_reduce_sum(centred.square().sum(dims), group) / count  # biased, as BatchNorm
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                m = self._momentum()
                n = float(count)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * (n / max(n - 1.0, 1.0)), m)
        return y.to(input.dtype)


def convert_sync_batchnorm(module: nn.Module, process_group: dist.ProcessGroup | None = None) -> nn.Module:
    """``module`` with every ``BatchNorm1d/2d/3d`` replaced by :class:`SyncBatchNorm`
    (parameters and buffers carried over); other layers untouched."""
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        out = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
        if module.affine:
            with torch.no_grad():
                out.weight = module.weight
                out.bias = module.bias
        out.running_mean = module.running_mean
        out.running_var = module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
        return out
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child, process_group))
    return module


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, _BatchNorm) for m in module.modules())
