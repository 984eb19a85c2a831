"""Name → implementation registries (datasets, variants, objectives, metrics).

Implementations register themselves with a decorator::

    VARIANTS = Registry("variant")

    @VARIANTS.register("dcgan")
    def build_dcgan(...): ...

and callers look them up by the name written in params.yaml, never with
if/else chains on names.  A built-in is declared lazily, by the module that registers
it (``VARIANTS.lazy("dcgan", "ganbench.models.dcgan")``): its name is known at once, and
the module is imported on first ``get``, so a stage only loads (and only depends on)
the implementations it uses.  A folder can be declared instead
(``METRICS.lazy_package("ganbench.metrics.library")``): each module in it registers the
item named as the module, so adding one is adding a file.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
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
        self._packages: list[str] = []
        self._optional: set[str] = set()

    def lazy(self, name: str, module: str, default: bool = True) -> None:
        """Declare that importing ``module`` registers ``name``; ``default=False`` leaves it
        out of :meth:`declared` (the default selection), though it stays known."""
        self._lazy[name] = module
        if not default:
            self._optional.add(name)

    def lazy_package(self, package: str) -> None:
        """Declare that every module ``<package>.<name>`` (not starting with ``_``)
        registers ``name``.  The folder is listed, not imported, whenever names are asked
        for, so a module added to it is found without any other file naming it."""
        self._packages.append(package)

    def _scan(self) -> None:
        for package in self._packages:
            if package in sys.modules:  # imported: its __path__, which a test may extend
                where = sys.modules[package].__path__
            else:  # listed without importing the package
                where = getattr(importlib.util.find_spec(package), "submodule_search_locations", None)
            if where is None:
                raise ImportError(f"{self.kind} package {package!r} is not a package folder")
            for info in pkgutil.iter_modules(list(where)):
                if not info.name.startswith("_"):
                    self._lazy.setdefault(info.name, f"{package}.{info.name}")

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
        if name not in self._items and name in self:
            module = self._lazy[name]
            importlib.import_module(module)
            if name not in self._items:
                raise ImportError(f"importing {module} did not register the {self.kind} {name!r}; a module "
                                  f"of a {self.kind} package must register the name it is called by")
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "(none)"
            if key is not None:
                raise ParamsError(f"params key '{key}' is {name!r}, an unknown {self.kind}; set it to one "
                                  f"of: {known}") from None
            raise ParamsError(f"unknown {self.kind} {name!r} in params; choose one of: {known}") from None

    def names(self) -> list[str]:
        self._scan()
        return sorted({*self._items, *self._lazy})

    def declared(self) -> list[str]:
        """The names in the order they were declared (lazily or by registration), less
        those declared with ``default=False``."""
        self._scan()
        return [n for n in dict.fromkeys([*self._lazy, *self._items]) if n not in self._optional]

    def __contains__(self, name: object) -> bool:
        if name in self._items or name in self._lazy:
            return True
        self._scan()
        return name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
