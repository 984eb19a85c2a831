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
#: Lucic et al. 2018's networks and objectives (the ``lucic`` profile, params.lucic.yaml):
#: known, but trained only where ``variants`` names them.
LUCIC_VARIANTS = ("lucic_ns", "lucic_mm", "lucic_lsgan", "lucic_wgan", "lucic_wgan_gp", "lucic_dragan", "lucic_vae")
for _name in LUCIC_VARIANTS:
    VARIANTS.lazy(_name, "ganbench.models.infogan", default=False)

__all__ = ["LUCIC_VARIANTS", "VARIANTS", "register_variant"]
