"""Variant registry. Importing this package registers every built-in variant."""

from __future__ import annotations

from ganbench.models.base import Geometry, OptimizerConfig, VariantConfig, VariantSpec
from ganbench.registry import Registry

VARIANTS: Registry[VariantSpec] = Registry("variant")


def register_variant(spec: VariantSpec) -> VariantSpec:
    """Add ``spec`` to :data:`VARIANTS` under ``spec.name``."""
    return VARIANTS.register(spec.name)(spec)


# Built-in variants register themselves on import.
from ganbench.models import dcgan, stylegan, vae, wgan_gp  # noqa: E402,F401

__all__ = ["VARIANTS", "Geometry", "OptimizerConfig", "VariantConfig", "VariantSpec", "register_variant"]
