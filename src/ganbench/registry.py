"""Name → implementation registries (datasets, variants, objectives, metrics).

Implementations register themselves with a decorator::

    VARIANTS = Registry("variant")

    @VARIANTS.register("dcgan")
    def build_dcgan(...): ...

and callers look them up by the name written in params.yaml, never with
if/else chains on names.  A built-in is declared lazily, by the module that registers
it (``VARIANTS.lazy("dcgan", "ganbench.models.dcgan")``): its name is known at once, and
the module is imported on first ``get``, so a stage only loads (and only depends on)
the implementations it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from ganbench.errors import ParamsError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping of unique names to objects, with helpful lookup errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}

    def lazy(self, name: str, module: str) -> None:
        """Declare that importing ``module`` registers ``name``."""
        self._lazy[name] = module

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    @contextmanager
    def temporary(self, name: str, obj: T) -> Iterator[T]:
        """Register ``obj`` as ``name`` for the duration of a ``with`` block (tests, fixtures)."""
        self.register(name)(obj)
        try:
            yield obj
        finally:
            if self._items.get(name) is obj:
                del self._items[name]

    def get(self, name: str, key: str | None = None) -> T:
        """The object registered as ``name``; an unknown name is a :class:`ParamsError`
        listing the known ones (and naming the params ``key`` it came from, if given)."""
        if name not in self._items and name in self._lazy:
            importlib.import_module(self._lazy[name])
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "(none)"
            if key is not None:
                raise ParamsError(f"params key '{key}' is {name!r}, an unknown {self.kind}; set it to one "
                                  f"of: {known}") from None
            raise ParamsError(f"unknown {self.kind} {name!r} in params; choose one of: {known}") from None

    def names(self) -> list[str]:
        return sorted({*self._items, *self._lazy})

    def declared(self) -> list[str]:
        """The names in the order they were declared (lazily or by registration)."""
        return list(dict.fromkeys([*self._lazy, *self._items]))

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
