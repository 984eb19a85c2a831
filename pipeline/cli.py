"""The ``ganbench`` console script: one sub-app per stage module, composed with add_typer.

``main()`` imports only the module of the command it runs (the full app is built for
``--help`` and for tests), so a stage loads, and depends on, only its own code. With
``$GANBENCH_TRACE_MODULES`` set to a file, each command appends the package files it
loaded and the files below the working directory it opened for reading to it as JSON
lines (how the tests check dvc.yaml's code deps, and that only the stages meant to read
the test split do)."""

from __future__ import annotations

import atexit
import importlib
import json
import os
import sys
from pathlib import Path

# Nothing in a stage may try the network for telemetry.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

import typer  # noqa: E402

#: command name → module of ganbench_pipeline that defines it.
COMMANDS = {
    "download": "download", "preprocess": "preprocess", "fid-weights": "fid_weights",
    "reference": "reference", "classifier": "classifier", "domain-reference": "domain_reference",
    "probe-reference": "probe_reference", "train": "train", "sample": "sample", "evaluate": "evaluate", "report": "report",
    "generate": "generate", "check": "check", "params": "params", "search": "search",
}
#: Commands that are sub-apps with their own subcommands.
GROUPS = {"params", "search"}


def build_app(commands: list[str]) -> typer.Typer:
    app = typer.Typer(
        name="ganbench",
        help="Train, sample, evaluate and compare GAN variants (DVC stages + MLflow runs).",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _group() -> None:
        """Train, sample, evaluate and compare GAN variants (DVC stages + MLflow runs)."""

    for name in commands:
        module = importlib.import_module(f"ganbench_pipeline.{COMMANDS[name]}")
        if name in GROUPS:
            app.add_typer(module.app, name=name)
        else:
            app.add_typer(module.app)
    return app


def __getattr__(name: str) -> typer.Typer:
    """``ganbench_pipeline.cli.app``: the full app, built on first use (tests, --help)."""
    if name == "app":
        globals()["app"] = built = build_app(list(COMMANDS))
        return built
    raise AttributeError(name)


def _record_reads() -> set[str]:
    """Start recording the files this process opens for reading (an audit hook on
    ``open``: builtins.open, io.open, os.open), as given; returns the set it fills."""
    reads: set[str] = set()
    write_only = os.O_WRONLY

    def hook(event: str, args: tuple) -> None:
        if event != "open" or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        mode, flags = (args[1], args[2]) if len(args) > 2 else (None, 0)
        if isinstance(mode, str) and not ("r" in mode or "+" in mode):
            return
        if mode is None and isinstance(flags, int) and flags & os.O_ACCMODE == write_only:
            return
        reads.add(os.fsdecode(args[0]))

    sys.addaudithook(hook)
    return reads


def _trace(path: str, command: str, reads: set[str]) -> None:
    roots = {"src/ganbench/": Path(importlib.import_module("ganbench").__file__).resolve().parent,
             "pipeline/": Path(__file__).resolve().parent}
    files = set()
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if not origin:
            continue
        origin = Path(origin).resolve()
        for prefix, root in roots.items():
            if origin.is_relative_to(root):
                files.add(prefix + origin.relative_to(root).as_posix())
    cwd = Path.cwd()
    opened = set()
    for name in list(reads):
        target = Path(os.path.abspath(name))
        if target.is_relative_to(cwd) and target.suffix not in (".py", ".pyc"):
            opened.add(target.relative_to(cwd).as_posix())
    with open(path, "a") as f:
        f.write(json.dumps({"command": command, "files": sorted(files), "reads": sorted(opened)}) + "\n")


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    # CPU kernels and threads are chosen from the environment when torch loads: apply the
    # params' numerics section first (nothing above has imported torch).
    from ganbench.errors import GanbenchError
    from ganbench.numerics import apply_for_command

    try:
        apply_for_command(sys.argv[2:])
    except GanbenchError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise SystemExit(1) from None
    if os.environ.get("GANBENCH_TRACE_MODULES") and command in COMMANDS:
        atexit.register(_trace, os.environ["GANBENCH_TRACE_MODULES"], command, _record_reads())
    if command in COMMANDS:
        build_app([command])()
    else:
        build_app(list(COMMANDS))()


if __name__ == "__main__":
    main()
