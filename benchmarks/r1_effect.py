"""Whether StyleGAN's R1 penalty does anything at a given budget: D's gradient at real images.

R1 (Mescheder et al. 2018) adds ``gamma / 2 * E ||grad_x D(x)||^2`` over real images to D's
loss, to keep that gradient small. This trains ``stylegan`` on the params given (e.g. CI's:
``ganbench params merge params.ci.yaml`` in a scratch copy) for each seed, with the params'
``r1_gamma`` and with 0, and prints D's mean squared gradient at 512 fixed training images
after training, with the penalty's size relative to D's loss scale. Where the two runs'
gradients overlap across seeds, R1 is inert at that budget, and planting "R1 off"
(benchmarks/gate_power.py) plants no regression there.

    python benchmarks/r1_effect.py --params params.yaml --processed data/processed --seeds 0 1 2

It trains in ``--out`` (a scratch folder, one run per seed and setting) and reads only the
training split.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from ganbench import numerics

numerics.apply("avx2", 2)  # before torch loads: CI's kernels and threads

import torch  # noqa: E402

from ganbench.config import parse_params  # noqa: E402
from ganbench.config.loader import read_yaml  # noqa: E402
from ganbench.data.dataset import load_split  # noqa: E402
from ganbench.losses.base import r1_penalty  # noqa: E402
from ganbench.models import VARIANTS  # noqa: E402
from ganbench.models.checkpoint import load_checkpoint, networks_from_checkpoint  # noqa: E402
from ganbench.training.run import train_variant  # noqa: E402
from ganbench.training.setup import prepare_training  # noqa: E402

VARIANT = "stylegan"


def real_gradient(checkpoint: Path, real: torch.Tensor, batch: int = 128) -> float:
    """Mean over ``real`` of ||grad_x D(x)||^2 for the checkpoint's discriminator."""
    _, D, _, _, _ = networks_from_checkpoint(load_checkpoint(checkpoint))
    D.eval()
    total = sum(float(r1_penalty(D, real[i:i + batch], None)[0].detach().sum())
                for i in range(0, len(real), batch))
    return total / len(real)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--processed", type=Path, default=Path("data/processed"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("/tmp/ganbench-r1-effect"))
    args = ap.parse_args()

    raw = read_yaml(args.params)
    raw["variants"] = [VARIANT]
    raw.setdefault("train", {})["eval_every_kimg"] = 0
    x, _ = load_split(args.processed, "train")
    real = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(123))[:512]].float()
    gamma = parse_params(raw, VARIANTS).model(VARIANT).loss.r1_gamma
    grads: dict[str, list[float]] = {}
    for label, g in ((f"r1_gamma {gamma:g}", None), ("r1_gamma 0", 0.0)):
        for seed in args.seeds:
            section = dict(raw[VARIANT])
            if g is not None:
                section["loss"] = {**section.get("loss", {}), "r1_gamma": g}
            params = parse_params({**raw, VARIANT: section}, VARIANTS)
            out = args.out / f"{label.replace(' ', '-')}-{seed}"
            train_variant(prepare_training(params, VARIANT, seed, args.processed, out))
            grads.setdefault(label, []).append(real_gradient(out / "checkpoint.pt", real))
            print(json.dumps({"setting": label, "seed": seed, "d_real_grad2": grads[label][-1]}), flush=True)
    for label, values in grads.items():
        print(f"{label}: E||grad D(x)||^2 over seeds {', '.join(f'{v:.3f}' for v in values)} "
              f"(median {statistics.median(values):.3f}); penalty gamma/2 * that = "
              f"{gamma / 2 * statistics.median(values):.4f}")


if __name__ == "__main__":
    main()
