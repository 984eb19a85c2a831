"""Variant registry: one module per variant, declared here and imported on first use
(so a stage that builds no network loads no network code). The contract every variant
follows is in :mod:`ganbench.models.base`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganbench.registry import Registry

if TYPE_CHECKING:
    from ganbench.models.base import VariantSpec

VARIANTS: Registry[VariantSpec] = Registry("variant")


def register_variant(spec: VariantSpec) -> VariantSpec:
    """Add ``spec`` to :data:`VARIANTS` under ``spec.name``."""
    return VARIANTS.register(spec.name)(spec)


# Built-in variants: each module registers its VariantSpec when imported.
for _name in ("dcgan", "wgan_gp", "stylegan", "vae"):
    VARIANTS.lazy(_name, f"ganbench.models.{_name}")

__all__ = ["VARIANTS", "register_variant"]
