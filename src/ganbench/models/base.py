"""What every variant declares: its typed configs, its network builder, its defaults.

A *variant* is a pair of networks (generator G, discriminator/critic D), the
objective that trains them, optimizer settings and an optional EMA of G.  It is
one module under ``ganbench.models`` that registers a :class:`VariantSpec` in
``VARIANTS``; params.yaml then needs one section named after it.

Network contract (every variant):

* ``G(z, c=None, truncation_psi=1.0) -> images``: ``z`` is ``(N, G.z_dim)``
  float, ``c`` is ``(N,)`` long class labels or ``None``; images are
  ``(N, C, R, R)`` in [-1, 1]. ``G.supports_truncation`` says whether ψ ≠ 1 is
  meaningful (mapping-network generators); others raise on ψ ≠ 1.
* ``D(images, c=None) -> logits``: ``(N,)`` unbounded scores (no sigmoid).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from ganbench.config import from_dict, to_dict
from ganbench.errors import ParamsError


@dataclass(frozen=True)
class Geometry:
    """Image geometry and label count the networks are built for."""

    channels: int = 1
    resolution: int = 32
    #: Number of classes for conditional models; 0 = unconditional.
    num_classes: int = 0


@dataclass(frozen=True)
class OptimizerConfig:
    name: Literal["adam", "rmsprop"] = "adam"
    lr: float = 2e-4
    #: Adam's (β1, β2); ignored by RMSprop.
    betas: tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0


@dataclass(frozen=True)
class VariantConfig:
    """A parsed variant section of params.yaml."""

    #: The variant's network config (its own dataclass).
    model: Any
    #: The objective's config (its own dataclass; ``name`` selects it).
    loss: Any
    g_optim: OptimizerConfig = field(default_factory=OptimizerConfig)
    d_optim: OptimizerConfig = field(default_factory=OptimizerConfig)
    #: Half-life of the generator EMA in thousands of images; 0 disables EMA.
    ema_kimg: float = 0.0
    #: EMA ramp-up: half-life ≤ ema_rampup × images seen (0 = no ramp-up).
    ema_rampup: float = 0.0
    #: Class-conditional training; None follows ``train.conditional``.
    conditional: bool | None = None


@dataclass(frozen=True)
class _Section:
    """Shape of a raw variant section before the model/loss parts are typed."""

    model: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    g_optim: OptimizerConfig = field(default_factory=OptimizerConfig)
    d_optim: OptimizerConfig = field(default_factory=OptimizerConfig)
    ema_kimg: float = 0.0
    ema_rampup: float = 0.0
    conditional: bool | None = None


BuildFn = Callable[[Any, Geometry], "tuple[nn.Module, nn.Module]"]


@dataclass(frozen=True)
class VariantSpec:
    """Registry entry: how to parse a variant's section and build its networks."""

    name: str
    model_config: type
    build: BuildFn
    #: Defaults merged under the user's section (keys of :class:`_Section`).
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def parse(self, section: Mapping[str, Any] | None, prefix: str | None = None) -> VariantConfig:
        from ganbench.losses import OBJECTIVES

        prefix = prefix or self.name
        merged = _deep_merge(dict(self.defaults), dict(section or {}))
        raw = from_dict(_Section, merged, prefix=prefix)
        model = from_dict(self.model_config, raw.model, prefix=f"{prefix}.model")
        loss_section = dict(raw.loss)
        loss_name = loss_section.pop("name", None)
        if not isinstance(loss_name, str):
            raise ParamsError(f"params key '{prefix}.loss.name' is missing; set it to one of: "
                              f"{', '.join(OBJECTIVES.names())}")
        objective = OBJECTIVES.get(loss_name)
        loss = from_dict(objective.Config, loss_section, prefix=f"{prefix}.loss")
        return VariantConfig(model=model, loss=loss, g_optim=raw.g_optim, d_optim=raw.d_optim,
                             ema_kimg=raw.ema_kimg, ema_rampup=raw.ema_rampup,
                             conditional=raw.conditional)


def variant_config_to_dict(cfg: VariantConfig) -> dict[str, Any]:
    """Plain-data form for checkpoints and MLflow (loss keeps its ``name``)."""
    d = to_dict(cfg)
    d["loss"] = {"name": cfg.loss.name, **{k: v for k, v in d["loss"].items() if k != "name"}}
    return d


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            # A different loss name replaces the default loss settings entirely.
            if k == "loss" and v.get("name", out[k].get("name")) != out[k].get("name"):
                out[k] = dict(v)
            else:
                out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "Geometry",
    "OptimizerConfig",
    "VariantConfig",
    "VariantSpec",
    "variant_config_to_dict",
    "count_parameters",
]
