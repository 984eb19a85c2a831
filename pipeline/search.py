"""``ganbench search``: a hyper-parameter search with the same budget per variant, queued as
DVC experiments (``queue``), and its aggregate (``report``). See :mod:`ganbench.search`.

    ganbench search queue --k 100              # K queued experiments per variant in params.yaml
    dvc queue start -j 2                        # DVC runs them (workers, machines: DVC's own queue)
    ganbench search report                      # best of K, median, expected best vs budget
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer

from ganbench_pipeline.common import ParamsOption, clean_errors, load

app = typer.Typer(help="Hyper-parameter search as queued DVC experiments (Lucic et al. 2018's protocol).",
                  no_args_is_help=True)

PlanOption = Annotated[Path, typer.Option(help="The search's plan: every experiment's name, variant and setting.")]


@app.command("queue")
@clean_errors
def queue(
    k: Annotated[int, typer.Option(help="Settings per variant (the first is the variant's defaults).")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the settings' draws.")] = 123,
    search_range: Annotated[str, typer.Option("--range", help="compare_gan's 'wide' or 'narrow' range.")] = "wide",
    variants: Annotated[list[str] | None, typer.Option("--variant", help="Only these variants (default: "
                                                                          "params 'variants').")] = None,
    params: ParamsOption = Path("params.yaml"),
    num_real: Annotated[int, typer.Option(help="Training images the selecting FID is computed against.")] = 10_000,
    plan: PlanOption = Path("search/plan.json"),
    dry_run: Annotated[bool, typer.Option(help="Write the plan and print the commands; queue nothing.")] = False,
) -> None:
    """Queue K experiments per variant (`dvc exp run --queue`), each one setting drawn from
    Lucic et al.'s ranges, evaluated against the training split (the test split selects
    nothing), and write the plan."""
    from ganbench.errors import ParamsError
    from ganbench.io import write_json
    from ganbench.models.base import variant_config_to_dict
    from ganbench.search import RANGES, experiment_name, overrides, sample_settings

    if search_range not in RANGES:
        raise ParamsError(f"--range is {search_range!r}; choose one of {', '.join(RANGES)}")
    p = load(params, models=True)
    chosen = list(variants or p.variants)
    entries: list[dict[str, Any]] = []
    for variant in chosen:
        section = variant_config_to_dict(p.model(variant))
        for index, setting in enumerate(sample_settings(section, k, f"{seed}/{variant}", search_range)):
            entries.append({"name": experiment_name(variant, index), "variant": variant, "index": index,
                            "setting": setting,
                            "set_params": overrides(variant, section, setting, search_range, num_real)})
    write_json(plan, {"k": k, "seed": seed, "range": search_range, "variants": chosen, "num_real": num_real,
                      "experiments": entries})
    for entry in entries:
        cmd = ["dvc", "exp", "run", "--queue", "-n", entry["name"]]
        for value in entry["set_params"]:
            cmd += ["-S", value]
        if dry_run:
            typer.echo(" ".join(cmd))
            continue
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise ParamsError(f"`{' '.join(cmd)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    verb = "planned" if dry_run else "queued"
    typer.echo(f"search: {verb} {len(entries)} experiments ({k} per variant: {', '.join(chosen)}); plan in {plan}; "
               f"run them with `dvc queue start`, then `ganbench search report`")


#: A FID headline of ganbench's evaluate stage: fid2k, fid10k, fid500.
FID_NAME = re.compile(r"^fid\d+k?$")


def score_of(row: dict[str, Any], variant: str) -> float | None:
    """The FID of ``variant``'s seed-0 run in a row of ``dvc.api.exp_show()``: a column
    ``fidN`` (bare when one file holds that name, else ``<file>:fidN``)."""
    for column, value in row.items():
        path, _, name = column.rpartition(":")
        if FID_NAME.match(name) and (not path or path.endswith(f"/{variant}-0.json")) and value is not None:
            return float(value)
    return None


@app.command("report")
@clean_errors
def report(
    plan: PlanOption = Path("search/plan.json"),
    out: Annotated[Path, typer.Option(help="JSON summary to write (a Markdown table beside it).")] = Path(
        "reports/search.json"),
) -> None:
    """Per variant: the best of K, the median and the expected best FID when only k of the
    K settings are tried, from the finished experiments of the plan (`dvc exp show`)."""
    import dvc.api

    from ganbench.errors import DataError
    from ganbench.io import read_json_object, write_json, write_text
    from ganbench.search import summarize

    planned = read_json_object(plan, "search queue")
    by_name = {e["name"]: e for e in planned["experiments"]}
    scores: dict[str, dict[str, float]] = {v: {} for v in planned["variants"]}
    for row in dvc.api.exp_show():
        entry = by_name.get(row.get("Experiment") or "")
        if entry is None:
            continue
        value = score_of(row, entry["variant"])
        if value is not None:
            scores[entry["variant"]][entry["name"]] = value
    if not any(scores.values()):
        raise DataError(f"no finished experiment of {plan} has a FID yet; run the queue (`dvc queue start`) "
                        "and wait for it (`dvc queue status`)")
    summary = summarize(scores)
    for variant, s in summary.items():
        s["best_setting"] = by_name[s["best_experiment"]]["setting"]
        s["planned"] = sum(e["variant"] == variant for e in planned["experiments"])
    write_json(out, {"plan": str(plan), "range": planned["range"], "selection": "FID against the training split",
                     "variants": summary})
    lines = ["| variant | finished / planned | best FID | median | expected best at k = 1, 5, 10, 20, 50 | best setting |",
             "|---|---|---|---|---|---|"]
    for variant, s in summary.items():
        curve = s["expected_best"]
        at = ", ".join(f"{curve[k - 1]:.1f}" if k <= len(curve) else "–" for k in (1, 5, 10, 20, 50))
        lines.append(f"| {variant} | {s['k']} / {s['planned']} | {s['best']:.2f} | {s['median']:.2f} | {at} | "
                     f"{json.dumps(s['best_setting'])} |")
    write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    typer.echo("\n".join(lines))
