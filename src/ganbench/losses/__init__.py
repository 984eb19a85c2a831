"""Objective registry: one module per objective, declared here and imported on first use."""

from __future__ import annotations

from ganbench.losses.base import Batch, Objective, Phase, Stats
from ganbench.registry import Registry

OBJECTIVES: Registry[type[Objective]] = Registry("loss")


def register_objective(cls: type[Objective]) -> type[Objective]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    return OBJECTIVES.register(cls.name)(cls)


# Built-in objectives: each module registers its Objective class when imported.
for _name in ("dragan", "logistic_r1", "lsgan", "minimax", "nonsaturating", "wasserstein_gp", "wgan_clip"):
    OBJECTIVES.lazy(_name, f"ganbench.losses.{_name}")
OBJECTIVES.lazy("elbo", "ganbench.losses.vae")

__all__ = ["OBJECTIVES", "Batch", "Objective", "Phase", "Stats", "register_objective"]
