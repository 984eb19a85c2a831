"""Objective registry. Importing this package registers every built-in objective."""

from __future__ import annotations

from ganbench.losses.base import Batch, Objective, Phase, Stats
from ganbench.registry import Registry

OBJECTIVES: Registry[type[Objective]] = Registry("loss")


def register_objective(cls: type[Objective]) -> type[Objective]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    return OBJECTIVES.register(cls.name)(cls)


from ganbench.losses import (  # noqa: E402,F401
    logistic_r1,
    lsgan,
    nonsaturating,
    vae,
    wasserstein_gp,
    wgan_clip,
)

__all__ = ["OBJECTIVES", "Batch", "Objective", "Phase", "Stats", "register_objective"]
