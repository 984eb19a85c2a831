"""Variant registry. Importing this package registers every built-in variant."""

from __future__ import annotations

from ganbench.models.base import Geometry, OptimizerConfig, VariantConfig, VariantSpec
from ganbench.registry import Registry

VARIANTS: Registry[VariantSpec] = Registry("variant")


def register_variant(spec: VariantSpec) -> VariantSpec:
    """Add ``spec`` to :data:`VARIANTS` under ``spec.name``."""
    return VARIANTS.register(spec.name)(spec)


# Built-in variants register themselves on import.
from ganbench.models import dcgan  # noqa: E402,F401

try:  # variants still being written may be absent
    from ganbench.models import wgan_gp  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    from ganbench.models import stylegan  # noqa: F401
except ImportError:  # pragma: no cover
    pass

__all__ = ["VARIANTS", "Geometry", "OptimizerConfig", "VariantConfig", "VariantSpec", "register_variant"]
