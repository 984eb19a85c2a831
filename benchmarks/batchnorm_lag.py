"""How far a trained generator's BatchNorm running statistics lag its final weights.

Sampling in running mode (``sample.batchnorm: running``, the lucic profile's, as compare_gan
samples) uses the statistics the training forwards accumulated, an average over the last
~1/momentum steps of weights that kept moving. This scores one checkpoint's raw generator
with the training-time metric (``fd_domain{N}`` against the *training* split's probe
reference, so nothing here looks at the test split) four ways: the stored statistics,
batch statistics (batches of 500 and of the training batch 64), and statistics recomputed
for the final weights (``training.ema.BatchNormRecalibration``: a cumulative average over
``--batches`` latent batches of 64).

    python benchmarks/batchnorm_lag.py models/lucic_ns-0/checkpoint.pt [--batches 50 400]

Run it in the repository root after ``dvc repro`` (it reads ``models/classifier`` and
``data/probe-reference``); it writes nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from ganbench import numerics

numerics.apply("avx2", 2)  # before torch loads: the profile's kernels and threads

import torch  # noqa: E402

from ganbench.metrics.probe import DomainProbe  # noqa: E402
from ganbench.metrics.registry import with_n  # noqa: E402
from ganbench.models.checkpoint import load_checkpoint, sampling_generator  # noqa: E402
from ganbench.training.ema import BatchNormRecalibration  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--classifier", type=Path, default=Path("models/classifier/classifier.pt"))
    ap.add_argument("--probe-reference", type=Path, default=Path("data/probe-reference/features.npz"))
    ap.add_argument("--num", type=int, default=2000, help="samples per score (the probe's train.eval_num)")
    ap.add_argument("--batches", type=int, nargs="+", default=[50, 400],
                    help="latent batches of 64 for each recomputation")
    args = ap.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    G, _ = sampling_generator(ckpt, "raw")
    cpu = torch.device("cpu")

    def score(model: torch.nn.Module, mode: str, batch_size: int = 500) -> float:
        probe = DomainProbe(args.classifier, args.probe_reference, args.num, 0, model.z_dim, 0, cpu,
                            batch_size=batch_size, batchnorm=mode)
        return round(next(iter(probe(model).values())), 3)

    out = {"checkpoint": str(args.checkpoint), "d_steps": ckpt["progress"].get("d_step"),
           "metric": f"{with_n('fd_domain', args.num)} (training split)",
           "stored running statistics": score(G, "running"),
           "batch statistics (batches of 500)": score(G, "batch"),
           "batch statistics (batches of 64)": score(G, "batch", 64)}
    for n in args.batches:
        fresh = copy.deepcopy(G)
        BatchNormRecalibration(n, 64, G.z_dim, 0, 12345, cpu)(fresh)
        out[f"running statistics recomputed over {n} x 64 latents"] = score(fresh, "running")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
