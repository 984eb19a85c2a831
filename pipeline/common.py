"""What every stage command shares: the --params option, loading, error reporting, logging."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from ganbench import numerics
from ganbench.config import Params, load_params
from ganbench.errors import GanbenchError
from ganbench.models import VARIANTS

P = ParamSpec("P")
R = TypeVar("R")

ParamsOption = Annotated[
    Path, typer.Option("--params", "-p", help="Path of the params file (DVC passes params.yaml).")
]

#: The folder the preprocess stage writes, read by the stages that need real images.
ProcessedOption = Annotated[Path, typer.Option(help="Folder written by the preprocess stage.")]
#: The domain classifier's weights (the classifier stage's output).
ClassifierOption = Annotated[Path, typer.Option(help="Domain classifier weights.")]


def load(params_path: Path, models: bool = False) -> Params:
    """Read and validate params.yaml (the one reader lives in ganbench.config), and check
    that this process computes as its ``numerics`` section says (``ganbench`` applied it
    before torch loaded; this sets the threads and fails if the kernels differ).
    ``models``: also parse the variant sections (stages that build networks); other
    stages neither load nor depend on model code."""
    from ganbench.metrics.registry import METRICS

    params = load_params(params_path, VARIANTS, metrics=METRICS, models=models)
    numerics.check_applied(params.numerics.cpu_isa, params.numerics.threads)
    return params


def repo_root(params_path: Path) -> Path:
    """The repository root: the folder holding params.yaml, absolute."""
    return Path(params_path).resolve().parent


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        return prefix + record.getMessage()


def _setup_logging() -> None:
    logger = logging.getLogger("ganbench")
    if not any(getattr(h, "_ganbench", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLine())
        handler._ganbench = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def clean_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a GanbenchError into one line on stderr and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        _setup_logging()
        try:
            return fn(*args, **kwargs)
        except GanbenchError as err:
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            if os.environ.get("GANBENCH_TRACEBACK"):
                raise
            raise typer.Exit(code=1) from None

    return wrapper
