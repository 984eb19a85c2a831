"""Objective registry. Importing this package registers every built-in objective."""

from __future__ import annotations

from ganbench.losses.base import Batch, Objective, Phase, Stats
from ganbench.registry import Registry

OBJECTIVES: Registry[type[Objective]] = Registry("loss")


def register_objective(cls: type[Objective]) -> type[Objective]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    return OBJECTIVES.register(cls.name)(cls)


from ganbench.losses import lsgan, nonsaturating, wgan_clip  # noqa: E402,F401

try:  # objectives still being written may be absent
    from ganbench.losses import logistic_r1, wasserstein_gp  # noqa: F401
except ImportError:  # pragma: no cover
    pass

__all__ = ["OBJECTIVES", "Batch", "Objective", "Phase", "Stats", "register_objective"]
