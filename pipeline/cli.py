"""The ``ganbench`` console script: one sub-app per stage module, composed with add_typer."""

from __future__ import annotations

import os

# Nothing in a stage may try the network for telemetry.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

import typer  # noqa: E402

from ganbench_pipeline import (  # noqa: E402
    check,
    download,
    evaluate,
    fid_weights,
    generate,
    params,
    preprocess,
    reference,
    report,
    sample,
    train,
)

app = typer.Typer(
    name="ganbench",
    help="Train, sample, evaluate and compare GAN variants (DVC stages + MLflow runs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for module in (download, preprocess, train, sample, fid_weights, reference, evaluate, report, generate,
               check):
    app.add_typer(module.app)
app.add_typer(params.app, name="params")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
