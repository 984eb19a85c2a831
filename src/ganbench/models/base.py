"""What every variant declares: its typed configs, its network builder, its defaults.

A *variant* is a generator G, optionally a discriminator/critic D, the objective that
trains them and their optimizer settings.  It is one module under ``ganbench.models``
that registers a :class:`VariantSpec` in ``VARIANTS``; params.yaml then holds one
section named after it.  The spec's ``default`` (a :class:`VariantConfig` instance) is
the one source of that section's defaults.

Network contract (every variant):

* ``G(z, c=None, truncation_psi=1.0) -> images``: ``z`` is ``(N, G.z_dim)``
  float, ``c`` is ``(N,)`` long class labels or ``None``; images are
  ``(N, C, R, R)`` in [-1, 1]. ``G.supports_truncation`` says whether ψ ≠ 1 is
  meaningful (mapping-network generators). ``G.exposes_ws`` (absent: False) says that
  ``G(z, c, return_ws=True)`` returns ``(images, ws)``, the styles the synthesis consumed
  (what path-length regularisation differentiates with respect to).
* ``D(images, c=None) -> logits``: ``(N,)`` unbounded scores (no sigmoid), or no D at
  all for models trained without an adversary (``build`` returns ``None`` for it).
  ``D.batch_independent`` (absent: False) says that each score depends on its own
  sample alone (no BatchNorm, no minibatch statistics), so an objective may send
  several sets of images through one call and get the scores it would get from
  separate calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from ganbench.config.coerce import check, deep_merge, from_dict, to_dict
from ganbench.config.schema import AutoContext, GStep
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

    def validate(self, prefix: str) -> None:
        check(self.lr > 0, f"{prefix}.lr", "> 0")
        check(all(0.0 <= b < 1.0 for b in self.betas), f"{prefix}.betas", "two numbers in [0, 1)")
        check(self.eps > 0, f"{prefix}.eps", "> 0")
        check(self.weight_decay >= 0, f"{prefix}.weight_decay", "≥ 0")


@dataclass(frozen=True)
class VariantConfig:
    """A parsed variant section of params.yaml."""

    #: The variant's network config (its own dataclass).
    model: Any
    #: The objective's config (its own dataclass; ``name`` selects it).
    loss: Any
    g_optim: OptimizerConfig = field(default_factory=OptimizerConfig)
    #: None for variants without a discriminator.
    d_optim: OptimizerConfig | None = field(default_factory=OptimizerConfig)
    #: Class-conditional training; None follows ``train.conditional``.
    conditional: bool | None = None
    #: What the generator step is fed; None follows ``train.g_step``. A variant that
    #: reproduces a published algorithm sets its step (e.g. the lucic_* variants:
    #: compare_gan's).
    g_step: GStep | None = None

    def effective_g_step(self, train_g_step: GStep | None) -> GStep | None:
        """What this variant's generator steps are fed, given ``train.g_step``: see
        :func:`effective_g_step`."""
        return effective_g_step(self.g_step, train_g_step, adversarial=self.d_optim is not None)


def effective_g_step(own: GStep | None, train_g_step: GStep | None, *, adversarial: bool) -> GStep | None:
    """The one rule for what a generator step is fed: the variant's own ``g_step``, else
    ``train.g_step``; None for a variant without a discriminator, whose one step has one
    forward. Training, MLflow and the samples' provenance (from a checkpoint) all ask here."""
    if not adversarial:
        return None
    return own if own is not None else train_g_step


@dataclass(frozen=True)
class _Section:
    """Shape of a raw variant section before the model/loss parts are typed."""

    model: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    g_optim: OptimizerConfig = field(default_factory=OptimizerConfig)
    d_optim: OptimizerConfig | None = None
    conditional: bool | None = None
    g_step: GStep | None = None


BuildFn = Callable[[Any, Geometry], "tuple[nn.Module, nn.Module | None]"]


@dataclass(frozen=True)
class VariantSpec:
    """Registry entry: how to parse a variant's section and build its networks.

    ``default`` is the variant's complete default configuration; a params section is
    merged on top of it.  Choosing another objective (``loss.name``) starts from that
    objective's own defaults."""

    name: str
    model_config: type
    build: BuildFn
    default: VariantConfig

    @property
    def adversarial(self) -> bool:
        return self.default.d_optim is not None

    def parse(self, section: Mapping[str, Any] | None, prefix: str | None = None,
              auto: AutoContext | None = None) -> VariantConfig:
        """The section merged on the defaults and typed. An objective whose config has
        ``resolved(auto)`` gets its ``auto`` values resolved from ``auto``, the data
        resolution and global batch (:func:`~ganbench.config.parse_params` passes the
        params' own; None: those of the default params)."""
        from ganbench.losses import OBJECTIVES

        prefix = prefix or self.name
        section = dict(section or {})
        if "autocast" in section:
            raise ParamsError(f"params key '{prefix}.autocast' is gone: the training arithmetic is "
                              "'train.precision' (fp32 | bf16), the same for every variant; remove it")
        base = to_dict(self.default)
        user_loss = section.get("loss")
        if isinstance(user_loss, dict) and user_loss.get("name", base["loss"]["name"]) != base["loss"]["name"]:
            base["loss"] = {}  # another objective: its own defaults, not this one's
        merged = deep_merge(base, section)
        raw = from_dict(_Section, merged, prefix=prefix)
        model = from_dict(self.model_config, raw.model, prefix=f"{prefix}.model")
        loss_section = dict(raw.loss)
        loss_name = loss_section.pop("name", None)
        if not isinstance(loss_name, str):
            raise ParamsError(f"params key '{prefix}.loss.name' is missing; set it to one of: "
                              f"{', '.join(OBJECTIVES.names())}")
        objective = OBJECTIVES.get(loss_name, key=f"{prefix}.loss.name")
        loss = from_dict(objective.Config, loss_section, prefix=f"{prefix}.loss")
        if callable(getattr(loss, "resolved", None)):
            loss = loss.resolved(auto if auto is not None else AutoContext.default())
        if self.adversarial != (raw.d_optim is not None):
            need = "needs" if self.adversarial else "has no discriminator, so it takes no"
            raise ParamsError(f"variant {self.name!r} {need} '{prefix}.d_optim'; fix the section")
        if self.adversarial != objective.adversarial:
            raise ParamsError(f"params key '{prefix}.loss.name' is {loss_name!r}, which "
                              f"{'needs' if objective.adversarial else 'takes no'} discriminator; "
                              f"variant {self.name!r} {'has' if self.adversarial else 'has no'} one")
        return VariantConfig(model=model, loss=loss, g_optim=raw.g_optim, d_optim=raw.d_optim,
                             conditional=raw.conditional, g_step=raw.g_step)


def variant_config_to_dict(cfg: VariantConfig) -> dict[str, Any]:
    """Plain-data form for checkpoints and MLflow (loss keeps its ``name`` first)."""
    d = to_dict(cfg)
    d["loss"] = {"name": cfg.loss.name, **{k: v for k, v in d["loss"].items() if k != "name"}}
    return d


def count_parameters(module: nn.Module | None) -> int:
    """Number of parameters of ``module`` (0 for None, e.g. a VAE's absent discriminator)."""
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


__all__ = [
    "Geometry",
    "OptimizerConfig",
    "VariantConfig",
    "VariantSpec",
    "variant_config_to_dict",
    "count_parameters",
]
