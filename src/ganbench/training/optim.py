"""Optimizers chosen by name from a variant's ``g_optim`` / ``d_optim`` section."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ganbench.models.base import OptimizerConfig
from ganbench.registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")


@OPTIMIZERS.register("adam")
def _adam(params: Any, lr: float, betas: tuple[float, float], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                            foreach=True)


@OPTIMIZERS.register("rmsprop")
def _rmsprop(params: Any, lr: float, betas: tuple[float, float], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr, eps=cfg.eps, weight_decay=cfg.weight_decay, foreach=True)


def lazy_regularization_correction(cfg: OptimizerConfig, interval: int | None) -> tuple[float, tuple[float, float]]:
    """(lr, betas) for a network regularised every ``interval`` steps.

    With lazy regularisation the optimizer steps ``interval + 1`` times per
    ``interval`` minibatches; stylegan2-ada-pytorch (training_loop.py) keeps the
    effective step size by scaling lr by r = I/(I+1) and raising each beta to r."""
    if not interval or interval <= 1:
        return cfg.lr, tuple(cfg.betas)  # type: ignore[return-value]
    r = interval / (interval + 1)
    return cfg.lr * r, (cfg.betas[0] ** r, cfg.betas[1] ** r)


def make_optimizer(module: nn.Module, cfg: OptimizerConfig,
                   reg_interval: int | None = None) -> torch.optim.Optimizer:
    """The optimizer ``cfg.name`` over ``module``'s parameters, corrected for lazy
    regularisation every ``reg_interval`` steps (see :func:`lazy_regularization_correction`)."""
    lr, betas = lazy_regularization_correction(cfg, reg_interval)
    return OPTIMIZERS.get(cfg.name)(module.parameters(), lr, betas, cfg)
