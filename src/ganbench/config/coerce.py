"""Strict conversion of plain YAML data into typed config dataclasses, and back.

``from_dict`` checks names and types: a misspelt key (with a "did you mean"), a wrong
type (``train.kimg: "ten"``) or a value a section's ``validate`` rejects fails with one
:class:`~ganbench.errors.ParamsError` line that names the key, the allowed values and
the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

from ganbench.errors import ParamsError

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is not None:
        return str(tp).replace("typing.", "")
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def type_error(key: str, value: Any, tp: Any, want: str | None = None) -> ParamsError:
    return ParamsError(
        f"params key '{key}' must be {want or _type_name(tp)}, got {value!r} "
        f"({type(value).__name__}); fix it in params.yaml"
    )


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'kimg'?)`` when a known name is close to ``name``, else ``""``."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it in canonical form."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return coerce(value, arg, key)
            except ParamsError:
                continue
        raise type_error(key, value, tp)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ParamsError(f"params key '{key}' must be one of {_type_name(tp)}, got {value!r}"
                          f"{did_you_mean(value, map(str, get_args(tp)))}; fix it in params.yaml")
    if tp is type(None):
        if value is None:
            return None
        raise type_error(key, value, tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise type_error(key, value, tp, "a mapping")
        return from_dict(tp, value, prefix=key)
    if origin in (tuple, list):
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise type_error(key, value, tp, "a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise type_error(key, value, tp, f"a list of {len(args)} items")
            items = [coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise type_error(key, value, tp, "a mapping")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise type_error(key, value, tp)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise type_error(key, value, tp)
    if tp is float:
        # PyYAML (YAML 1.1) reads 2e-4 as a string; accept numeric strings, reject NaN/inf.
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if number is not None and number == number and abs(number) != float("inf"):
            return number
        raise type_error(key, value, tp, "a finite number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise type_error(key, value, tp)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise type_error(key, value, tp)


def from_dict(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types, then
    run the dataclass's ``validate(prefix)`` when it has one."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"section '{prefix}'" if prefix else "the top level"
        raise ParamsError(
            f"unknown params key '{join(prefix, str(unknown[0]))}' in {where}"
            f"{did_you_mean(unknown[0], fields)}; known keys: {', '.join(sorted(fields))}"
        )
    kwargs = {name: coerce(value, hints[name], join(prefix, name)) for name, value in data.items()}
    try:
        obj = cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ParamsError(f"params section '{prefix or cls.__name__}': {exc}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(prefix)
    return obj


def join(prefix: str, name: str) -> str:
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


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} → {'a.b': 1} (MLflow params, key comparisons)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = join(prefix, str(k))
        if isinstance(v, Mapping):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``, recursively for mappings; lists are replaced."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def check(cond: bool, key: str, rule: str) -> None:
    """Raise a ParamsError naming ``key`` unless ``cond``: ``check(x > 0, "train.kimg", "> 0")``."""
    if not cond:
        raise ParamsError(f"params key '{key}' must be {rule}; fix it in params.yaml")
