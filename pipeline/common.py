"""What every stage command shares: the --params option, error reporting, repo paths."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from ganbench.config import Params, load_params
from ganbench.errors import GanbenchError

P = ParamSpec("P")
R = TypeVar("R")

ParamsOption = Annotated[
    Path, typer.Option("--params", "-p", help="Path of the params file (DVC passes params.yaml).")
]


def load(params_path: Path) -> Params:
    """Read params.yaml (the one reader lives in ganbench.config)."""
    return load_params(params_path)


def repo_root(params_path: Path) -> Path:
    """The repository root: the folder holding params.yaml, absolute."""
    return Path(params_path).resolve().parent


def clean_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a GanbenchError into one line on stderr and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except GanbenchError as err:
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            if os.environ.get("GANBENCH_TRACEBACK"):
                raise
            raise typer.Exit(code=1) from None

    return wrapper
