"""Pipeline outputs for the report tests, written exactly as the stages write them:
:func:`write_outputs` writes a run's metrics, plots and sample grid, :func:`provenance` one
metric's provenance. tests/test_report_data.py checks that they read back as the input
contract says."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.report.inputs import ReportPaths, run_ids

#: Provenance fields of the Inception-feature metrics.
INCEPTION = {"feature_extractor": "pytorch-fid InceptionV3 pool3", "weights_sha256": "ab" * 32,
             "feature_dim": 2048, "resize": "bilinear to 299x299"}
#: Provenance fields of the domain-classifier-feature metrics.
DOMAIN = {"feature_extractor": "ganbench domain classifier penultimate", "weights_sha256": "cd" * 32,
          "feature_dim": 128, "resize": None, "classifier_accuracy": 0.91}
#: metric → (extractor fields, N generated, extra provenance)
METRICS: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = {
    "fid2k": (INCEPTION, 2000, {}),
    "kid2k": (INCEPTION, 2000, {"kid_subset_size": 1000}),
    "precision2k": (INCEPTION, 2000, {"pr_k": 3}),
    "recall2k": (INCEPTION, 2000, {"pr_k": 3}),
    "fd_domain10k": (DOMAIN, 10000, {}),
    "kid_domain10k": (DOMAIN, 10000, {"kid_subset_size": 1000}),
    "class_kl10k": (DOMAIN, 10000, {}),
    "classes_covered10k": (DOMAIN, 10000, {}),
}
#: Loss columns of each variant's losses CSV.
LOSS_NAMES = {"dcgan": ("loss_G", "loss_D"), "wgan_gp": ("loss_G", "loss_D", "gp"),
              "stylegan": ("loss_G", "loss_D", "r1"), "vae": ("recon", "kl")}


def provenance(metric: str, seed: int, **over: Any) -> dict[str, Any]:
    """The provenance the evaluate stage records for ``metric``; ``over`` replaces fields
    (``samples.x`` for the nested sample settings)."""
    ext, n_gen, extra = METRICS[metric]
    prov = {"metric": metric, **ext, "num_gen": n_gen, "num_real": n_gen, "reference_split": "test",
            "dataset": "fashion-mnist", "image_shape": [1, 32, 32], **extra,
            "samples": {"seed": 123, "generator": "ema", "ema_kimg": 2.5, "truncation": 1.0,
                        "batchnorm": "running", "checkpoint": "last", "checkpoint_kimg": 140.0},
            "versions": {"torch": "2.14.1", "ganbench": "0.1.0"}}
    for k, v in over.items():
        if k.startswith("samples."):
            prov["samples"] = {**prov["samples"], k.split(".", 1)[1]: v}
        else:
            prov[k] = v
    return prov


def scores(variant: str, seed: int) -> dict[str, float]:
    """Plausible, distinct numbers per run (deterministic)."""
    base = {"dcgan": 40.0, "wgan_gp": 60.0, "stylegan": 30.0, "vae": 90.0}.get(variant, 50.0)
    j = [0.0, 1.5, -1.0, 0.5][seed % 4]
    return {"fid2k": base + j, "kid2k": round(base / 3000 + j / 5000, 6), "kid2k_std": 0.0011,
            "precision2k": round(0.9 - base / 200 + j / 100, 4), "recall2k": round(0.3 + base / 300, 4),
            "fd_domain10k": round(base / 12 + j / 10, 4), "kid_domain10k": round(base / 10000, 6),
            "kid_domain10k_std": 0.0004, "class_kl10k": round(base / 1000 + j / 1000, 5),
            "classes_covered10k": 10 - (variant == "vae")}


def grid_png(seed: int, rows: int = 8, cols: int = 8, side: int = 32) -> bytes:
    """A deterministic greyscale PNG sample grid of ``rows``×``cols`` tiles."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    tiles = (rng.random((rows, cols, side, side)) ** 3 * 255).astype(np.uint8)
    yy, xx = np.mgrid[0:side, 0:side]
    tiles[..., (yy - side / 2) ** 2 + (xx - side / 2) ** 2 < (side / 3) ** 2] = 220
    img = tiles.transpose(0, 2, 1, 3).reshape(rows * side, cols * side)
    buf = io.BytesIO()
    Image.fromarray(img, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def write_outputs(root: Path, variants=("dcgan", "wgan_gp"), seeds=(0, 1, 2), *, steps: int = 40,
                  eval_over=None, train_over=None, prov_over=None, conditional: bool = False,
                  grids: bool = True) -> ReportPaths:
    """Write metrics/train, metrics/eval, plots/losses, plots/curves, samples under ``root``.

    ``eval_over(key) → dict`` updates a run's eval JSON; ``train_over(key)`` its train JSON;
    ``prov_over(key, metric) → dict`` overrides provenance fields (``samples.x`` for nested)."""
    paths = ReportPaths(root / "metrics/train", root / "metrics/eval", root / "samples",
                        root / "plots/losses", root / "plots/curves")
    for d in (paths.train_dir, paths.eval_dir, paths.samples_dir, paths.losses_dir, paths.curves_dir):
        d.mkdir(parents=True, exist_ok=True)
    for rid in run_ids(variants, seeds):
        key, v, s = rid.key, rid.variant, rid.seed
        sc = scores(v, s)
        ev: dict[str, Any] = {"variant": v, "seed": s, **sc}
        ev["provenance"] = {m: provenance(m, s, **(prov_over(key, m) if prov_over else {})) for m in METRICS}
        if eval_over:
            ev.update(eval_over(key))
        d_per_g = 5 if v == "wgan_gp" else 1
        tr = {"variant": v, "seed": s, "budget": "g_steps", "budget_amount": 4375, "kimg": 140.0 * d_per_g,
              "images_seen": 140000 * d_per_g, "g_steps": 4375, "d_steps": 4375 * d_per_g, "batch_size": 32,
              "ema_kimg": 2.5, "wall_clock_s": 600.0 + 37 * s + 100 * d_per_g, "images_per_s": 233.0 - s,
              "eval_wall_clock_s": 41.5, "params_G": 3_576_449, "params_D": 2_765_633, "device": "cpu",
              "threads": 2, "conditional": conditional, "loss": LOSS_NAMES.get(v, ("x",))[0],
              "replay": {"budget": "g_steps", "g_steps": 4375}}
        if train_over:
            tr.update(train_over(key))
        (paths.eval_dir / f"{key}.json").write_text(json.dumps(ev, indent=2))
        (paths.train_dir / f"{key}.json").write_text(json.dumps(tr, indent=2))
        rng = np.random.default_rng(1000 + s)
        loss_rows = ["step,name,value"]
        for step in range(0, steps * 50 + 1, 50):
            for i, name in enumerate(LOSS_NAMES.get(v, ("loss",))):
                val = (1.5 - i) * np.exp(-step / 1500) + 0.1 * rng.standard_normal() + 0.3 * i
                loss_rows.append(f"{step},{name},{val:.6g}")
        (paths.losses_dir / f"{key}.csv").write_text("\n".join(loss_rows) + "\n")
        curve_rows = ["step,kimg,name,value"]                   # History.export(kimg_column=True)
        for step in range(0, steps * 50 + 1, 200):
            kimg = step * 32 * d_per_g / 1000
            curve_rows.append(f"{step},{kimg:.6g},fd_domain2k,"
                              f"{sc['fd_domain10k'] * (1 + 20 * np.exp(-step / 600)):.6g}")
        (paths.curves_dir / f"{key}.csv").write_text("\n".join(curve_rows) + "\n")
        if grids:
            rows = 10 if conditional else 8
            (paths.samples_dir / f"{key}.png").write_bytes(grid_png(s * 7 + len(v), rows=rows))
    return paths
