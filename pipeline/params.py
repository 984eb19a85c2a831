"""``ganbench params``: print every default, or merge an overlay into a params file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from ganbench_pipeline.common import ParamsOption, clean_errors

app = typer.Typer(help="Show the default params or apply an overlay (e.g. params.ci.yaml).",
                  no_args_is_help=True)


@app.command("defaults")
@clean_errors
def defaults() -> None:
    """Print a complete params.yaml holding every default (one section per variant)."""
    from ganbench.config import default_params
    from ganbench.models import VARIANTS

    typer.echo(yaml.safe_dump(default_params(VARIANTS), sort_keys=False), nl=False)


@app.command("merge")
@clean_errors
def merge(
    overlay: Annotated[Path, typer.Argument(help="YAML with only the keys to change.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Deep-merge OVERLAY into PARAMS in place (validated first; comments are not kept)."""
    from ganbench.config import deep_merge, parse_params, read_yaml
    from ganbench.io import write_text
    from ganbench.models import VARIANTS

    merged = deep_merge(read_yaml(params), read_yaml(overlay))
    parse_params(merged, VARIANTS, source=f"{params} + {overlay}")
    write_text(params, yaml.safe_dump(merged, sort_keys=False))
    typer.echo(f"params: merged {overlay} into {params}")
