"""Training throughput: ganbench's loop against a plain PyTorch DCGAN loop, plus images/s per variant.

Baseline ("tutorial loop"): the usual DCGAN training step written directly in
PyTorch: same networks, same batch, same Adam settings, contiguous tensors,
BCE-with-logits, one fake batch shared by the D and G steps, and D's parameter
gradients computed during the G step too.

Everything runs in one process. Each configuration is timed over ``--repeats``
runs of ``--steps`` steps after a warm-up, and the median images/s is reported.
A ratio above 1.0 means ganbench is faster than the baseline.

    python benchmarks/bench_training.py [--steps 30] [--repeats 5] [--batch B]

``--batch`` defaults to ``train.batch_size`` in params.yaml. The FLOPs of one training
step are counted with ``torch.utils.flop_counter`` on the baseline step (the same
convolutions and matrix products ganbench runs), and the fraction of this CPU's FP32
peak (cores × clock × 32 FLOP/cycle for AVX2 FMA) is reported for both loops.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from ganbench.losses import OBJECTIVES
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry
from ganbench.sampling.latents import latents
from ganbench.tracking import NullTracker
from ganbench.training.budget import Budget
from ganbench.training.loop import Cadence, Grid, train_loop
from ganbench.training.optim import make_optimizer
from ganbench.training.state import Progress, RealBatches, Trainee


def plain_pytorch_loop(G: nn.Module, D: nn.Module, images: torch.Tensor, batch: int, steps: int) -> float:
    """The tutorial loop. Returns images/s."""
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    start = time.perf_counter()
    for i in range(steps):
        idx = torch.randint(len(images), (batch,))
        real = images[idx]
        fake = G(torch.randn(batch, G.z_dim))
        D.zero_grad()
        loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        loss_d.backward()
        opt_d.step()
        G.zero_grad()
        loss_g = bce(D(fake), ones)
        loss_g.backward()
        opt_g.step()
    return batch * steps / (time.perf_counter() - start)


def ganbench_loop(name: str, images: torch.Tensor, batch: int, steps: int, tracking: bool = True) -> float:
    """ganbench's own loop (channels_last, phases, on-device stats). Returns images/s."""
    spec = VARIANTS.get(name)
    cfg = spec.parse({}, prefix=name)
    G, D = spec.build(cfg.model, Geometry(1, 32, 0))
    G = G.to(memory_format=torch.channels_last)
    D = D.to(memory_format=torch.channels_last) if D is not None else None
    objective = OBJECTIVES.get(cfg.loss.name)(cfg.loss, G, D)
    trainee = Trainee(G, D, objective, make_optimizer(G, cfg.g_optim, objective.reg_interval("G")),
                      make_optimizer(D, cfg.d_optim, objective.reg_interval("D")) if D is not None else None,
                      RealBatches(images, None, batch, 0, torch.device("cpu"), channels_last=True))
    # Log every 50 steps as the default params do; no grids or checkpoints inside the timing.
    cadence = Cadence(log_every=50 if tracking else 10**9, image_every=10**9, checkpoint_every_images=10**12)
    state = train_loop(trainee, Budget("g_steps", steps), cadence, NullTracker(), state=Progress(),
                       grid=Grid(latents(4, G.z_dim, 0), None, 2, 0), save=lambda s: None,
                       clock=time.perf_counter)
    return state.images_seen / state.wall_clock_s


def flops_per_image(G: nn.Module, D: nn.Module, images: torch.Tensor, batch: int) -> float:
    """FLOPs of one D step plus one G step of the tutorial loop, per real image."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        plain_pytorch_loop(G, D, images, batch, 1)
    return counter.get_total_flops() / batch


def peak_gflops() -> tuple[float, str]:
    import os
    import re
    from pathlib import Path

    mhz = [float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text())]
    cores = os.cpu_count() or 1
    ghz = (max(mhz) if mhz else 2000.0) / 1000
    return cores * ghz * 32, f"{cores} cores × {ghz:.2f} GHz × 32 FLOP/cycle"


def median_rate(fn, repeats: int) -> float:
    fn()  # warm-up
    return statistics.median(fn() for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=None)
    args = ap.parse_args()
    if args.batch is None:
        import yaml
        from pathlib import Path

        params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
        args.batch = int(params["train"]["batch_size"])
    torch.manual_seed(0)
    images = torch.rand(4096, 1, 32, 32) * 2 - 1

    spec = VARIANTS.get("dcgan")
    cfg = spec.parse({}, prefix="dcgan")
    G, D = spec.build(cfg.model, Geometry(1, 32, 0))
    base = median_rate(lambda: plain_pytorch_loop(G, D, images, args.batch, args.steps), args.repeats)
    ours = median_rate(lambda: ganbench_loop("dcgan", images, args.batch, args.steps), args.repeats)
    print(f"threads={torch.get_num_threads()} batch={args.batch} steps={args.steps} repeats={args.repeats}")
    print("| configuration | images/s (median) | ratio vs baseline |")
    print("|---|---|---|")
    print(f"| baseline: plain PyTorch DCGAN tutorial loop | {base:.0f} | 1.00 |")
    print(f"| ganbench DCGAN loop (default params) | {ours:.0f} | {ours / base:.2f} |")
    flops = flops_per_image(G, D, images, args.batch)
    peak, how = peak_gflops()
    print(f"one DCGAN step: {flops / 1e6:.1f} MFLOP per image; of the FP32 peak {peak:.0f} GFLOP/s ({how}): "
          f"baseline {base * flops / 1e9 / peak * 100:.1f}%, ganbench {ours * flops / 1e9 / peak * 100:.1f}%")
    for name in VARIANTS.names():
        if name == "dcgan":
            continue
        rate = median_rate(lambda n=name: ganbench_loop(n, images, args.batch, max(4, args.steps // 3)),
                           max(3, args.repeats // 2))
        print(f"| ganbench {name} (default params) | {rate:.0f} | - |")


if __name__ == "__main__":
    main()
