"""The one reader of params.yaml.

The loader receives the variant registry (it does not import the models), so config
stays below models in the import graph.  Each variant section is parsed exactly once,
here, by its registry entry."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from ganbench.config.coerce import coerce, did_you_mean, from_dict, to_dict, type_error
from ganbench.config.schema import SECTIONS, AutoContext, Params
from ganbench.errors import ParamsError


#: Keys that moved or were replaced: (section, key) → what to write instead.
MOVED = {
    ("runtime", "threads"): "moved to 'numerics.threads' (it decides the numbers, so stages depend on it); "
                            "move it there",
    ("train", "share_fake"): "was replaced by 'train.g_step' (true: shared_fake, false: new_latents; "
                             "same_latents is compare_gan's step); write that instead",
}


class VariantEntry(Protocol):
    default: Any

    def parse(self, section: Mapping[str, Any] | None, prefix: str | None = None,
              auto: AutoContext | None = None) -> Any: ...


class VariantRegistry(Protocol):
    def get(self, name: str) -> VariantEntry: ...

    def names(self) -> list[str]: ...

    def declared(self) -> list[str]: ...

    def __contains__(self, name: object) -> bool: ...


class NameRegistry(Protocol):
    def names(self) -> list[str]: ...

    def __contains__(self, name: object) -> bool: ...


def parse_params(raw: Mapping[str, Any] | None, registry: VariantRegistry,
                 source: str = "params.yaml", metrics: NameRegistry | None = None,
                 models: bool = True) -> Params:
    """Validate a params mapping (already read from YAML) into :class:`Params`; with
    ``metrics``, ``evaluate.metrics`` must name registered metrics. ``models=False``
    leaves the variant sections unparsed (stages that build no model, so that they do
    not load and depend on model code): ``Params.models`` then holds none."""
    raw = dict(raw or {})
    unknown = sorted(k for k in raw if k not in SECTIONS and k not in registry)
    if unknown:
        known = [*SECTIONS, *registry.names()]
        raise ParamsError(
            f"{source}: unknown params section '{unknown[0]}'{did_you_mean(unknown[0], known)}; "
            f"known sections: {', '.join(SECTIONS)} and one per variant ({', '.join(registry.names())})"
        )
    variants = raw.get("variants", registry.declared())
    if isinstance(variants, str) or not isinstance(variants, (list, tuple)):
        raise type_error("variants", variants, list, "a list of variant names")
    variants = tuple(coerce(v, str, f"variants[{i}]") for i, v in enumerate(variants))
    for name in variants:
        if name not in registry:
            raise ParamsError(f"params key 'variants' names unknown variant {name!r}"
                              f"{did_you_mean(name, registry.names())}; registered variants: "
                              f"{', '.join(registry.names())}")
    for (section, key), now in MOVED.items():
        if isinstance(raw.get(section), dict) and key in raw[section]:
            raise ParamsError(f"{source}: params key '{section}.{key}' {now}")
    sections = {k: raw.pop(k) for k in list(raw) if k in registry}
    raw["variants"] = list(variants)
    params = from_dict(Params, raw)
    # stylegan2-ada's `auto` values become numbers here, so every consumer (training, the
    # checkpoint identity, MLflow params, provenance) sees and records the resolved ones.
    params = dataclasses.replace(params, train=params.train.resolved())
    auto = AutoContext(resolution=params.data.resolution, batch_size=params.train.batch_size)
    parsed = {}
    for name, section in sections.items():
        if not isinstance(section, dict):
            raise type_error(name, section, dict, "a mapping")
        if models:
            parsed[name] = registry.get(name).parse(section, prefix=name, auto=auto)
    params = dataclasses.replace(params, models=parsed, sections=sections)
    for name in variants:
        if name not in sections:
            params.model(name)  # raises: every listed variant needs its section
    params.validate("")
    if metrics is not None:
        for i, name in enumerate(params.evaluate.metrics):
            if name not in metrics:
                raise ParamsError(f"params key 'evaluate.metrics[{i}]' is {name!r}, not a registered "
                                  f"metric{did_you_mean(name, metrics.names())}; choose from "
                                  f"{', '.join(metrics.names())}")
    return params


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path} not found; run from the repository root or pass --params PATH")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ParamsError(f"{path} is not valid YAML{line}; fix the syntax") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{path} must be a mapping of sections, got {type(raw).__name__}")
    return raw


def load_params(path: str | os.PathLike[str], registry: VariantRegistry,
                metrics: NameRegistry | None = None, models: bool = True) -> Params:
    """Read and validate params.yaml (see :func:`parse_params`).

    Every :class:`ParamsError` names the file first, then the key and the fix.
    """
    raw = read_yaml(path)
    try:
        return parse_params(raw, registry, source=str(path), metrics=metrics, models=models)
    except ParamsError as err:
        message = str(err)
        if message.startswith(str(path)):
            raise
        raise ParamsError(f"{path}: {message}") from None


def default_params(registry: VariantRegistry) -> dict[str, Any]:
    """Every default, as plain data in params.yaml's layout (variant sections for every
    registered variant)."""
    out = to_dict(Params())
    out.pop("models")
    out.pop("sections")
    out["variants"] = registry.declared()
    for name in registry.names():
        out[name] = to_dict(registry.get(name).default)
    return out
