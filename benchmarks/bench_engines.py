"""Inference engines and the Fréchet distance, timed in one process.

(a) domain-classifier features (``ganbench.classifier``): torch (channels_last,
    inference_mode) vs ONNX Runtime (CPU provider), images/s;
(b) Inception pool3 features of the same ``--n`` images: plain pytorch-fid
    (``extract_features(fast=False)``), ganbench's fast torch path (``fast=True``) and
    ONNX Runtime running the exported ``fast_inception`` module, images/s and the max
    relative difference of each against plain pytorch-fid;
(c) ``frechet.frechet_distance`` vs the SciPy ``sqrtm`` route on 2048-d statistics
    (full rank, and the singular covariances of the (b) features);
(d) the fraction of this CPU's FP32 peak that each Inception engine reaches.

Each timing is the median over ``--rounds`` repeats, engines interleaved (the order
alternates every round) so drift on a shared machine hits all of them.  Images: the
Fashion-MNIST test split when ``--data`` (default: Debian's
/usr/share/datasets/fashion-mnist) has it, else the tiny shape fixture.

    .venv/bin/python benchmarks/bench_engines.py                 # ~5 min on 2 cores
    .venv/bin/python benchmarks/bench_engines.py --n 100 --rounds 2 --classifier clf.pt
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ganbench.data.idx import read_idx
from ganbench.classifier import config as cconfig, inference, io as cio, network
from ganbench.metrics import frechet, onnx_engine
from ganbench.metrics.inception_features import extract_features, fast_inception
from ganbench.metrics.inception_build import build_weights
from ganbench.metrics.inception_weights import WEIGHTS_FILENAME, load_inception

DEFAULT_DATA = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_WEIGHTS = Path("models/inception") / WEIGHTS_FILENAME
#: FLOPs (multiply + add = 2) of one Inception-v3 forward at 299x299, the usual figure.
INCEPTION_GFLOP = 11.5
#: FP32 FLOPs per cycle per core with AVX2: 2 FMA units x 8 lanes x 2.
AVX2_FMA_FLOP_PER_CYCLE = 32


def load_images(data: Path, n: int) -> tuple[np.ndarray, str]:
    """uint8 ``(n, 1, 32, 32)`` test images (28x28 padded with 0 = -1), and their source."""
    path = data / "t10k-images-idx3-ubyte.gz"
    if path.is_file():
        images, source = read_idx(path), f"Fashion-MNIST test split ({data})"
    else:  # the speed does not depend on the content
        images = np.random.default_rng(0).integers(0, 256, (max(n, 1), 28, 28), dtype=np.uint8)
        source = "random uint8 images (Fashion-MNIST not found)"
    reps = -(-n // len(images))
    images = np.concatenate([images] * reps)[:n]
    return np.pad(images, ((0, 0), (2, 2), (2, 2)))[:, None].copy(), source


def timed(fns: dict[str, Callable[[], object]], rounds: int) -> tuple[dict[str, float], dict[str, object]]:
    """Median seconds per function over ``rounds`` interleaved rounds, and each
    function's output from its first round."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    first: dict[str, object] = {}
    names = list(fns)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            out = fns[name]()
            times[name].append(time.perf_counter() - t)
            first.setdefault(name, out)
    return {k: statistics.median(v) for k, v in times.items()}, first


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b| / max |b|``."""
    return float(np.abs(a - b).max() / np.abs(b).max())


def cpu_peak() -> tuple[float, str]:
    """Estimated FP32 peak GFLOP/s of the cores torch uses, and how it was estimated."""
    cores = torch.get_num_threads()
    ghz, where = None, ""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"CPU max MHz:\s*([\d.]+)", text)
        if m:
            ghz, where = float(m.group(1)) / 1000, "lscpu 'CPU max MHz'"
    except (OSError, subprocess.SubprocessError):
        pass
    if ghz is None:
        try:
            mhz = [float(v) for v in re.findall(r"cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text())]
            if mhz:
                ghz, where = max(mhz) / 1000, "/proc/cpuinfo 'cpu MHz' (max over cores)"
        except OSError:
            pass
    if ghz is None:
        ghz, where = 2.5, "unknown clock, assumed 2.5 GHz"
    peak = cores * ghz * AVX2_FMA_FLOP_PER_CYCLE
    how = (f"{cores} cores (torch threads) x {ghz:.3f} GHz ({where}) x "
           f"{AVX2_FMA_FLOP_PER_CYCLE} FLOP/cycle (AVX2: 2 FMA x 8 fp32 lanes x 2)")
    return peak, how


def measured_inception_gflop(net: torch.nn.Module) -> float | None:
    """FLOPs of one 32x32 image through ``net`` (resize included) by torch's counter."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:  # pragma: no cover
        return None
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 32, 32).contiguous(memory_format=torch.channels_last))
    return counter.get_total_flops() / 1e9


def inception_ort_features(engine: onnx_engine.OnnxModule, images: np.ndarray, batch: int) -> np.ndarray:
    """pytorch-fid's input path (uint8 / 255, gray → 3 channels) through ORT."""
    out = np.empty((len(images), 2048), dtype=np.float64)
    for s in range(0, len(images), batch):
        x = torch.from_numpy(images[s : s + batch]).float().div_(255.0).expand(-1, 3, -1, -1)
        out[s : s + len(x)] = engine(x.contiguous()).numpy()
    return out


def scipy_fd(mu1, s1, mu2, s2) -> float:
    """The classic formula with ``scipy.linalg.sqrtm(S1 S2)`` (pytorch-fid's route)."""
    import scipy.linalg

    root = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(root).all():
        off = np.eye(len(s1)) * 1e-6
        root = scipy.linalg.sqrtm((s1 + off) @ (s2 + off))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(root.real))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="images for the Inception engines")
    ap.add_argument("--n-domain", type=int, default=10000, help="images for the classifier engines")
    ap.add_argument("--rounds", type=int, default=3, help="repeats (median) of each Inception timing")
    ap.add_argument("--domain-rounds", type=int, default=5)
    ap.add_argument("--fd-rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=50, help="Inception batch size")
    ap.add_argument("--domain-batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch/ORT threads (0 = torch's default)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--classifier", type=Path, default=None,
                    help="a saved domain classifier (default: the default architecture, untrained)")
    ap.add_argument("--skip-inception", action="store_true")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if not onnx_engine.available():
        print(f"ONNX Runtime missing: {onnx_engine.available().reason}", file=sys.stderr)
        return 2
    import onnxruntime

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
          f"{onnxruntime.__version__}, numpy {np.__version__}")
    rows: list[tuple[str, str, str, str]] = []

    # ---------------------------------------------------------------- (a) domain features
    dom_images, source = load_images(args.data, args.n_domain)
    if args.classifier is not None:
        clf, _, _ = cio.load_classifier(args.classifier)
        clf_name = str(args.classifier)
    else:
        torch.manual_seed(0)
        clf, clf_name = network.build_classifier(cconfig.ClassifierConfig()).eval(), "default config, untrained"
    t = time.perf_counter()
    ort_clf = onnx_engine.OnnxModule(network.inference_module(clf), torch.zeros(8, 1, 32, 32))
    export_s = time.perf_counter() - t
    bs = args.domain_batch_size
    fns = {
        "torch": lambda: inference.features_and_predictions(clf, dom_images, bs),
        "onnxruntime": lambda: inference.features_and_predictions(clf, dom_images, bs, runner=ort_clf),
    }
    for fn in fns.values():  # warm-up
        fn()
    med, out = timed(fns, args.domain_rounds)
    ref = out["torch"][0]
    print(f"\n(a) domain classifier features ({clf_name}): {args.n_domain} images from {source}, "
          f"batch {bs}, median of {args.domain_rounds}; ORT export+session {export_s:.1f} s")
    print(f"{'engine':<34} {'median s':>9} {'images/s':>10} {'max rel diff':>13}")
    for name in fns:
        diff = rel_diff(out[name][0], ref)
        print(f"{name:<34} {med[name]:>9.3f} {args.n_domain / med[name]:>10.0f} {diff:>13.1e}")
        rows.append(("domain features", name, f"{args.n_domain / med[name]:.0f} img/s", f"{diff:.1e}"))

    # ---------------------------------------------------------------- (b) Inception
    feats_plain = None
    if not args.skip_inception:
        tmp = None
        weights = args.weights
        if not weights.is_file():
            tmp = tempfile.TemporaryDirectory()
            weights = Path(build_weights(Path(tmp.name), "fid-helper")["path"])
        model = load_inception(weights, "cpu")
        images, source = load_images(args.data, args.n)
        fast = fast_inception(model, "cpu")
        t = time.perf_counter()
        ort_inc = onnx_engine.OnnxModule(fast, torch.zeros(2, 3, 32, 32))
        inc_export_s = time.perf_counter() - t
        b = args.batch_size
        fns = {
            "pytorch-fid (fast=False)": lambda: extract_features(images, model, b, progress=False, fast=False),
            "ganbench torch (fast=True)": lambda: extract_features(images, model, b, progress=False, fast=True),
            "onnxruntime (fast_inception)": lambda: inception_ort_features(ort_inc, images, b),
        }
        warm = images[: min(len(images), b)]
        extract_features(warm, model, b, progress=False, fast=False)
        extract_features(warm, model, b, progress=False, fast=True)
        inception_ort_features(ort_inc, warm, b)
        med, out = timed(fns, args.rounds)
        feats_plain = out["pytorch-fid (fast=False)"]
        peak, how = cpu_peak()
        counted = measured_inception_gflop(fast)
        print(f"\n(b) Inception pool3: {args.n} images 1x32x32 → 299x299 from {source}, batch {b}, "
              f"median of {args.rounds}; ORT export+session {inc_export_s:.1f} s")
        print(f"(d) FP32 peak ≈ {peak:.1f} GFLOP/s = {how}; work = {INCEPTION_GFLOP} GFLOP/image"
              + (f" (torch's FLOP counter: {counted:.2f})" if counted else ""))
        print(f"{'engine':<34} {'median s':>9} {'images/s':>10} {'max rel diff':>13} {'GFLOP/s':>8} {'of peak':>8}")
        for name in fns:
            ips = args.n / med[name]
            diff = rel_diff(out[name], feats_plain)
            gflops = ips * INCEPTION_GFLOP
            print(f"{name:<34} {med[name]:>9.2f} {ips:>10.2f} {diff:>13.1e} {gflops:>8.1f} {gflops / peak:>7.1%}")
            rows.append(("inception pool3", name, f"{ips:.2f} img/s", f"{diff:.1e} ({gflops / peak:.0%} peak)"))
        if tmp is not None:
            tmp.cleanup()

    # ---------------------------------------------------------------- (c) Fréchet
    rng = np.random.default_rng(0)
    d = 2048
    cases = {}
    mix = rng.standard_normal((d, d)) / np.sqrt(d) + 0.5 * np.eye(d)
    x1 = rng.standard_normal((3 * d, d)) @ mix
    x2 = rng.standard_normal((3 * d, d)) @ mix * 1.1 + 0.05
    cases["full rank (N = 6144)"] = (x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False))
    del x1, x2, mix
    if feats_plain is not None and len(feats_plain) >= 4:
        h = len(feats_plain) // 2
        a, bb = feats_plain[:h], feats_plain[h:]
        cases[f"singular (Inception, N = {h})"] = (a.mean(0), np.cov(a, rowvar=False), bb.mean(0), np.cov(bb, rowvar=False))
    print(f"\n(c) Fréchet distance on {d}-d statistics, median of {args.fd_rounds}")
    print(f"{'statistics':<34} {'ganbench s':>10} {'scipy s':>9} {'speed-up':>9} {'rel diff':>9}")
    for label, stats in cases.items():
        med, out = timed({"ours": lambda: frechet.frechet_distance(*stats),
                          "scipy": lambda: scipy_fd(*stats)}, args.fd_rounds)
        diff = abs(out["ours"] - out["scipy"]) / abs(out["scipy"])
        print(f"{label:<34} {med['ours']:>10.2f} {med['scipy']:>9.2f} "
              f"{med['scipy'] / med['ours']:>8.1f}x {diff:>9.1e}")
        rows.append(("frechet " + label, "ganbench vs scipy", f"{med['ours']:.2f} s vs {med['scipy']:.2f} s", f"{diff:.1e}"))

    print("\nsummary")
    print(f"{'what':<40} {'engine':<30} {'speed':<22} {'diff'}")
    for what, engine, speed, diff in rows:
        print(f"{what:<40} {engine:<30} {speed:<22} {diff}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
