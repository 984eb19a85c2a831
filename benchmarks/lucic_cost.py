"""What the lucic profile costs on this machine: seconds per D step and images/s of each
lucic_* variant at the profile's batch (64) on real Fashion-MNIST at 28x28, and the full
protocol's 15,625 D steps and a K = 100 search extrapolated from them.

    python benchmarks/lucic_cost.py [--variants lucic_ns lucic_vae] [--kimg 6.4] [--work DIR]

Trains each variant for ``--kimg`` thousand real images (100 D steps by default) through
ganbench's own training entry point (``train_variant``), under the profile's numerics
(AVX2 kernels, 2 threads), and reads the wall-clock from its metrics (probe, grids and
checkpoints excluded). The data come from the Debian package or $GANBENCH_DATA_DIR; they
are preprocessed once into ``--work``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from ganbench import numerics

numerics.apply("avx2", 2)  # before torch loads: the profile's kernels and threads

from ganbench.config import parse_params  # noqa: E402
from ganbench.config.schema import DataConfig  # noqa: E402
from ganbench.data.preprocess import preprocess  # noqa: E402
from ganbench.data.sources import fetch  # noqa: E402
from ganbench.models import VARIANTS  # noqa: E402
from ganbench.published import LUCIC_BATCH, LUCIC_D_STEPS  # noqa: E402
from ganbench.training.run import train_variant  # noqa: E402
from ganbench.training.setup import prepare_training  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["lucic_ns", "lucic_vae"])
    ap.add_argument("--kimg", type=float, default=6.4)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ganbench-lucic-cost")
    args = ap.parse_args()
    data = DataConfig(dataset="fashion-mnist", resolution=28, allow_download=False)
    processed = args.work / "processed"
    if not (processed / "train.pt").is_file():
        fetch(data, args.work / "raw")
        preprocess(args.work / "raw", processed, data)
    out = {"cpu": numerics.cpu_model(), "numerics": "avx2, 2 threads", "batch_size": LUCIC_BATCH}
    for variant in args.variants:
        params = parse_params({
            "data": {"resolution": 28}, "variants": [variant],
            "train": {"budget": "kimg", "kimg": args.kimg, "batch_size": LUCIC_BATCH, "ema_kimg": 0.0,
                      "eval_every_kimg": 0},
            "sample": {"generator": "raw"},
            "runtime": {"log_every": 50, "image_every": 10**6, "device": "cpu", "checkpoint_every_kimg": 10**6,
                        "resume": False},
            variant: {}}, VARIANTS)
        m = train_variant(prepare_training(params, variant, 0, processed, args.work / variant)).metrics
        steps = m["d_steps"] or m["g_steps"]  # a VAE step shows one batch, as a D step does
        per_step = m["wall_clock_s"] / steps
        out[variant] = {"steps": steps, "s_per_d_step": round(per_step, 4), "images_per_s": m["images_per_s"],
                        "full_protocol_h": round(per_step * LUCIC_D_STEPS / 3600, 2),
                        "search_k100_h": round(100 * per_step * LUCIC_D_STEPS / 3600, 1)}
        print(variant, json.dumps(out[variant]), flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
