"""The comparison report: one row per variant, what each score cost and how it was made."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.errors import DataError
from ganbench.io import write_text

TRAIN_COLUMNS = ["loss", "budget", "kimg", "g_steps", "d_steps", "batch_size", "ema_kimg", "wall_clock_s",
                 "images_per_s", "params_G", "params_D"]

#: Provenance fields that must agree for two scores to be comparable (a protocol).
PROTOCOL_FIELDS = ("dataset", "reference_split", "num_real", "num_gen", "image_shape", "feature_extractor",
                   "weights_sha256", "resize", "samples.generator", "samples.truncation", "samples.batchnorm")


def _read_json(path: Path, stage: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise DataError(f"{path} is missing or unreadable; run `dvc repro {stage}` first") from None


WARNING = ("**Warning:** these scores were made with different protocols (see `fid_protocol` "
           "and below): compare only rows with the same protocol.")


def protocol(prov: dict[str, Any]) -> dict[str, Any]:
    """The fields of a score's provenance that define its protocol (see PROTOCOL_FIELDS)."""
    out = {}
    for field in PROTOCOL_FIELDS:
        value: Any = prov
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out[field] = value
    return out


def provenance_key(prov: dict[str, Any]) -> str:
    """Scores are comparable only when every protocol field matches."""
    return json.dumps(protocol(prov), sort_keys=True, default=str)


def collect(variants: list[str], train_dir: Path, eval_dir: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    rows, provs = [], []
    for v in variants:
        ev = _read_json(eval_dir / f"{v}.json", f"evaluate@{v}")
        tr = _read_json(train_dir / f"{v}.json", f"train@{v}")
        row: dict[str, Any] = {"variant": v}
        row.update({k: val for k, val in ev.items()
                    if isinstance(val, (int, float)) and k not in ("seed",)})
        row.update({k: tr.get(k) for k in TRAIN_COLUMNS})
        if tr.get("budget") is not None:
            row["budget"] = f"{tr['budget']} {tr.get('budget_amount', ''):g}" if isinstance(
                tr.get("budget_amount"), (int, float)) else tr["budget"]
        rows.append(row)
        prov = ev.get("provenance", {})
        first = next(iter(prov.values()), {}) if prov and all(isinstance(v, dict) for v in prov.values()) \
            else prov  # per-metric provenance: the first metric's stands for the row
        provs.append(first)
    return pd.DataFrame(rows), provs


def build_report(variants: list[str], train_dir: Path, eval_dir: Path, samples_dir: Path,
                 out_dir: Path, title: str = "ganbench report") -> pd.DataFrame:
    """Write report.md, index.html, metrics.csv and the grids into ``out_dir``."""
    df, provs = collect(variants, train_dir, eval_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with_grids = []
    for v in variants:
        src = samples_dir / f"{v}.png"
        if src.is_file():
            shutil.copyfile(src, out_dir / f"{v}.png")
            with_grids.append(v)
    groups = sorted({provenance_key(p) for p in provs})
    df["fid_protocol"] = [groups.index(provenance_key(p)) + 1 for p in provs]
    csv_path = out_dir / "metrics.csv"
    write_text(csv_path, df.to_csv(index=False))

    lines = [f"# {title}", "", df.to_markdown(index=False, floatfmt=".4g"), ""]
    if len(groups) > 1:
        lines += [WARNING, ""]
    lines += ["## How the scores were made", ""]
    for i, g in enumerate(groups, 1):
        example = provs[[provenance_key(p) for p in provs].index(g)]
        members = [v for v, p in zip(variants, provs) if provenance_key(p) == g]
        lines.append(f"Protocol {i} ({', '.join(members)}):")
        lines += [f"- {k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}"
                  for k, v in protocol(example).items()]
        lines.append(f"- versions: {json.dumps(example.get('versions'))}")
        lines.append("")
    budgets = sorted({str(b) for b in df["budget"].dropna()}) if "budget" in df else []
    lines += [f"Training budget: {', '.join(budgets) or 'unknown'} (the same for every variant "
              "unless stated otherwise). Cost columns: `kimg` = thousands of real images shown to "
              "the discriminator, `g_steps`/`d_steps` = optimizer steps, `ema_kimg` = the "
              "generator EMA half-life, `wall_clock_s` and `images_per_s` measured on the machine "
              "that trained.", "", "## Samples", ""]
    lines += [f"### {v}\n\n![{v}]({v}.png)\n" for v in with_grids]
    write_text(out_dir / "report.md", "\n".join(lines))

    body = [f"<h1>{html.escape(title)}</h1>"]
    if len(groups) > 1:
        body.append(f"<p><strong>{html.escape(WARNING.strip('*'))}</strong></p>")
    body.append(df.to_html(index=False, float_format=lambda x: f"{x:.4g}"))
    body += [f"<h2>{html.escape(v)}</h2><img src='{html.escape(v)}.png' alt='{html.escape(v)} samples'>"
             for v in with_grids]
    body += ["<h2>How the scores were made</h2><pre>"
             + html.escape(json.dumps(provs, indent=2, default=str)) + "</pre>"]
    write_text(out_dir / "index.html",
               "<!doctype html><html><head><meta charset='utf-8'><title>ganbench report</title>"
               "</head><body>" + "\n".join(body) + "</body></html>\n")
    return df
