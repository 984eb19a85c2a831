"""The speed cost of portable numerics, stage by stage: ``numerics.cpu_isa: avx2``
(baseline: the portable default) against ``native`` on this CPU.

The kernels are chosen when torch loads, so each measurement runs in a fresh child
process started with the level's environment (:func:`ganbench.numerics.environment`),
both levels with the same thread count; the children run one at a time, alternating
levels, and each reports the median images/s of ``--repeats`` timed rounds after a
warm-up. A ratio above 1.0 means native is that much faster than the portable default.

Workloads (the work each stage repeats):

* ``train:<variant>``: ganbench's training loop at the default batch and networks;
* ``classifier``: training steps of the domain classifier (batch 256, 28×28 crop);
* ``sample:<variant>``: drawing samples in batches of 500 (no gradients);
* ``domain``: the domain classifier's features of 2,000 images (evaluate, domain-reference).

The Inception pass runs on ONNX Runtime, whose kernels no numerics setting touches.

    python benchmarks/bench_numerics.py [--repeats 5] [--threads 2] [--only train:dcgan ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKLOADS = ("train:dcgan", "train:wgan_gp", "train:stylegan", "train:vae", "classifier",
             "sample:dcgan", "sample:stylegan", "domain")


def child(workload: str, repeats: int) -> None:
    """Run in the child: time ``workload`` and print its median images/s as JSON."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    torch.manual_seed(0)
    kind, _, name = workload.partition(":")
    if kind == "train":
        from bench_training import ganbench_loop

        images = torch.rand(2048, 1, 32, 32) * 2 - 1
        steps = {"wgan_gp": 4, "stylegan": 10}.get(name, 20)
        run = lambda: ganbench_loop(name, images, 32, steps)  # noqa: E731
    elif kind == "classifier":
        from ganbench.classifier.config import ClassifierConfig
        from ganbench.classifier.training import train_classifier

        x, y = torch.rand(2048, 1, 32, 32) * 2 - 1, torch.randint(10, (2048,))

        def run() -> float:
            start = time.perf_counter()
            train_classifier(x, y, ClassifierConfig(epochs=1), max_steps=6)
            return 6 * 256 / (time.perf_counter() - start)
    elif kind == "sample":
        from ganbench.models import VARIANTS
        from ganbench.models.base import Geometry
        from ganbench.sampling.generate import generate
        from ganbench.sampling.latents import latents

        spec = VARIANTS.get(name)
        G, _ = spec.build(spec.default.model, Geometry(1, 32, 0))
        G = G.to(memory_format=torch.channels_last)
        z = latents(500, G.z_dim, 0)

        def run() -> float:
            start = time.perf_counter()
            for _ in range(2):
                generate(G, z, None, device=torch.device("cpu"))
            return 1000 / (time.perf_counter() - start)
    elif kind == "domain":
        from ganbench.classifier.config import ClassifierConfig
        from ganbench.classifier.inference import features_and_predictions
        from ganbench.classifier.network import build_classifier

        model = build_classifier(ClassifierConfig()).eval()
        images = torch.randint(0, 256, (2000, 1, 32, 32), dtype=torch.uint8)

        def run() -> float:
            start = time.perf_counter()
            features_and_predictions(model, images)
            return 2000 / (time.perf_counter() - start)
    else:
        raise SystemExit(f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")
    run()  # warm-up
    print(json.dumps({"images_per_s": statistics.median(run() for _ in range(repeats)),
                      "capability": torch.backends.cpu.get_cpu_capability()}))


def measure(workload: str, level: str, threads: int, repeats: int) -> dict[str, float | str]:
    from ganbench.numerics import THREAD_VARIABLES, environment

    env = dict(os.environ)
    for key, value in environment(level, threads).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env.update({k: str(threads) for k in THREAD_VARIABLES})
    out = subprocess.run([sys.executable, __file__, "--child", workload, "--repeats", str(repeats)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="both levels (numerics.threads)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating child processes per level")
    ap.add_argument("--only", nargs="*", default=list(WORKLOADS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.repeats)
        return
    from ganbench.numerics import cpu_model

    print(f"CPU: {cpu_model()}; threads {args.threads}; medians of {args.repeats} rounds in each of "
          f"{args.rounds} alternating processes per level")
    print("| workload | avx2 (portable) images/s | native images/s | native / avx2 | kernels (avx2 / native) |")
    print("|---|---|---|---|---|")
    for workload in args.only:
        rates: dict[str, list[float]] = {"avx2": [], "native": []}
        caps: dict[str, str] = {}
        for _ in range(args.rounds):
            for level in ("avx2", "native"):
                got = measure(workload, level, args.threads, args.repeats)
                rates[level].append(float(got["images_per_s"]))
                caps[level] = str(got["capability"])
        portable, native = statistics.median(rates["avx2"]), statistics.median(rates["native"])
        print(f"| {workload} | {portable:.0f} | {native:.0f} | {native / portable:.2f} | "
              f"{caps['avx2']} / {caps['native']} |", flush=True)


if __name__ == "__main__":
    main()
