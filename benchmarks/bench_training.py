"""Training throughput: ganbench's loop against a plain PyTorch DCGAN loop, plus images/s per variant.

Baseline ("tutorial loop"): the usual DCGAN training step written directly in
PyTorch: same networks, same batch, same Adam settings, contiguous tensors,
BCE-with-logits, one fake batch shared by the D and G steps, and D's parameter
gradients computed during the G step too.

Everything runs in one process. Each configuration is timed over ``--repeats``
runs of ``--steps`` steps after a warm-up, and the median images/s is reported.
A ratio above 1.0 means ganbench is faster than the baseline. Besides the default,
the levers the step could pull are measured in the same run: a fused Adam, the
memory format, and the tutorial loop given ganbench's layout.

    python benchmarks/bench_training.py [--steps 30] [--repeats 5] [--batch B] [--device cuda] [--precisions]

``--batch`` defaults to ``train.batch_size`` in params.yaml. The FLOPs of one step of
each loop are counted with ``torch.utils.flop_counter`` (convolutions and matrix
products; a multiply-add is 2 FLOPs), so the FLOP ratio says how much faster ganbench
could be at equal efficiency; the fraction of this CPU's FP32 peak is given against
a measured one (the median rate of a 2048×2048 float32 matrix product on all threads)
and, for reference, against the nominal one (cores × max clock × 32 FLOP/cycle for
AVX2 FMA).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from ganbench.losses import OBJECTIVES
from ganbench.losses.base import Batch, Phase, detached
from ganbench.losses.wasserstein_gp import WassersteinGP, interpolates, penalty_at
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry
from ganbench.sampling.latents import latents
from ganbench.tracking import NullTracker
from ganbench.training import accel
from ganbench.training.budget import Budget
from ganbench.training.loop import Cadence, Grid, train_loop
from ganbench.training.optim import make_optimizer
from ganbench.training.state import Progress, RealBatches, Trainee


class AllInOneCritic(WassersteinGP):
    """WGAN-GP whose critic step feeds real, fake and interpolates as one (3N) call, the
    penalty's gradient and double backward going through the whole call (the layout
    ganbench used until 2026-12-06; the same maths up to float rounding)."""

    def loss(self, phase: Phase, batch: Batch):  # noqa: ANN201
        if phase.net != "D" or self.cfg.gp_weight == 0:
            return super().loss(phase, batch)
        fake = self.fake(batch).detach()
        eps = torch.rand(fake.shape[0], device=fake.device, dtype=fake.dtype)
        x_hat = interpolates(batch.real, fake, eps)
        scores = self.D(torch.cat([batch.real, fake, x_hat]), None)
        real_scores, fake_scores, hat_scores = scores.split(fake.shape[0])
        gp = penalty_at(hat_scores, x_hat)
        loss = fake_scores.mean() - real_scores.mean() + self.cfg.gp_weight * gp
        return loss, detached(loss_D=loss)


def plain_pytorch_loop(G: nn.Module, D: nn.Module, images: torch.Tensor, batch: int, steps: int,
                       channels_last: bool = False) -> float:
    """The tutorial loop (optionally in ganbench's channels_last layout). Returns images/s."""
    G, D = copy.deepcopy(G).to(images.device), copy.deepcopy(D).to(images.device)
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    device = images.device
    ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)
    start = clock(device)
    for i in range(steps):
        idx = torch.randint(len(images), (batch,), device=device)
        real = images[idx]
        fake = G(torch.randn(batch, G.z_dim, device=device))
        D.zero_grad()
        loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        loss_d.backward()
        opt_d.step()
        G.zero_grad()
        loss_g = bce(D(fake), ones)
        loss_g.backward()
        opt_g.step()
    return batch * steps / (clock(device) - start)


def clock(device: torch.device) -> float:
    """Wall-clock time after the device has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def ganbench_loop(name: str, images: torch.Tensor, batch: int, steps: int, tracking: bool = True,
                  channels_last: bool = True, fused_adam: bool = False, precision: str = "fp32",
                  compile: bool = True, critic_calls: int = 2) -> float:
    """ganbench's own loop (channels_last, phases, on-device stats) at ``precision``
    (``train.precision``); ``compile`` takes effect on CUDA only. ``critic_calls`` is the
    layout of WGAN-GP's layer-norm critic step: 2 = ganbench's (real+fake in one call, the
    interpolates in their own), 3 = three separate calls, 1 = all three batches in one call
    (:class:`AllInOneCritic`, the form of ganbench 2026-12-05). Returns images/s."""
    spec = VARIANTS.get(name)
    cfg = spec.parse({}, prefix=name)
    G, D = spec.build(cfg.model, Geometry(1, 32, 0))
    device = images.device
    fast = accel.select(device, precision=precision, compile=compile, deterministic=False)
    accel.apply_backend_flags(fast, device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    G = G.to(device=device, memory_format=fmt)
    D = D.to(device=device, memory_format=fmt) if D is not None else None
    objective_cls = OBJECTIVES.get(cfg.loss.name)
    if critic_calls == 3:
        objective_cls = type("ThreeCalls", (objective_cls,), {"joint_real_fake": property(lambda self: False)})
    elif critic_calls == 1:
        objective_cls = AllInOneCritic
    objective = objective_cls(cfg.loss, accel.compiled(G, fast), accel.compiled(D, fast))

    def optimizer(net: nn.Module, ocfg, net_name: str) -> torch.optim.Optimizer:  # noqa: ANN001
        opt = make_optimizer(net, ocfg, objective.reg_interval(net_name))
        if fused_adam and isinstance(opt, torch.optim.Adam):
            group = opt.param_groups[0]
            opt = torch.optim.Adam(net.parameters(), lr=group["lr"], betas=group["betas"], eps=group["eps"],
                                   weight_decay=group["weight_decay"], fused=True)
        return opt

    trainee = Trainee(G, D, objective, optimizer(G, cfg.g_optim, "G"),
                      optimizer(D, cfg.d_optim, "D") if D is not None else None,
                      RealBatches(images, None, batch, 0, device, channels_last=channels_last), accel=fast)
    # Log every 50 steps as the default params do; no grids or checkpoints inside the timing.
    cadence = Cadence(log_every=50 if tracking else 10**9, image_every=10**9, checkpoint_every_images=10**12)
    state = train_loop(trainee, Budget("g_steps", steps), cadence, NullTracker(), state=Progress(),
                       grid=Grid(latents(4, G.z_dim, 0), None, 2, 0), save=lambda s: None,
                       clock=lambda: clock(device))
    return state.images_seen / state.wall_clock_s


def flops_per_image(step: Callable[[], object], batch: int) -> float:
    """FLOPs counted while ``step()`` runs one training step, per real image."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops() / batch


def measured_peak_gflops(n: int = 2048, repeats: int = 7) -> float:
    """The median rate of an n×n float32 matrix product on all threads, in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def nominal_peak_gflops() -> tuple[float, str]:
    """cores × max clock × 32 FLOP/cycle (two 8-wide FMA units), with how it was made."""
    import os
    import re
    from pathlib import Path

    cores = os.cpu_count() or 1
    max_freq = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if max_freq.is_file():
        ghz, source = int(max_freq.read_text()) / 1e6, "max clock"
    else:
        mhz = [float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text())]
        ghz, source = (max(mhz) if mhz else 2000.0) / 1000, "reported clock (the boost clock is unknown here)"
    return cores * ghz * 32, f"{cores} cores × {ghz:.2f} GHz {source} × 32 FLOP/cycle"


def median_rate(fn, repeats: int) -> float:
    fn()  # warm-up
    return statistics.median(fn() for _ in range(repeats))


def interleaved_medians(configs: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """The median rate of each configuration over ``repeats`` rounds, each round running
    every configuration once in turn (after one warm-up each), so a shared machine's
    drift in speed reaches every configuration alike and the ratios stay comparable."""
    for fn in configs.values():
        fn()
    runs: dict[str, list[float]] = {label: [] for label in configs}
    for _ in range(repeats):
        for label, fn in configs.items():
            runs[label].append(fn())
    return {label: statistics.median(r) for label, r in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (ganbench then uses its CUDA fast path)")
    ap.add_argument("--precisions", action="store_true",
                    help="also every variant in fp32, bf16 and (CUDA) without torch.compile")
    args = ap.parse_args()
    if args.batch is None:
        import yaml
        from pathlib import Path

        params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
        args.batch = int(params["train"]["batch_size"])
    torch.manual_seed(0)
    device = torch.device(args.device)
    images = (torch.rand(4096, 1, 32, 32) * 2 - 1).to(device)

    spec = VARIANTS.get("dcgan")
    cfg = spec.parse({}, prefix="dcgan")
    G, D = spec.build(cfg.model, Geometry(1, 32, 0))
    configs = {
        "baseline: plain PyTorch DCGAN tutorial loop": lambda: plain_pytorch_loop(G, D, images, args.batch, args.steps),
        "ganbench DCGAN loop (default params)": lambda: ganbench_loop("dcgan", images, args.batch, args.steps),
        "lever: ganbench + fused Adam (fused=True)": lambda: ganbench_loop("dcgan", images, args.batch, args.steps,
                                                                         fused_adam=True),
        "lever: ganbench in contiguous layout": lambda: ganbench_loop("dcgan", images, args.batch, args.steps,
                                                                    channels_last=False),
        "lever: tutorial loop in channels_last layout": lambda: plain_pytorch_loop(
            G, D, images, args.batch, args.steps, channels_last=True),
    }
    rates = interleaved_medians(configs, args.repeats)
    base = rates["baseline: plain PyTorch DCGAN tutorial loop"]
    ours = rates["ganbench DCGAN loop (default params)"]
    print(f"threads={torch.get_num_threads()} batch={args.batch} steps={args.steps} repeats={args.repeats}")
    print("| configuration | images/s (median) | ratio vs baseline |")
    print("|---|---|---|")
    for label, rate in rates.items():
        print(f"| {label} | {rate:.0f} | {rate / base:.2f} |")
    flops_base = flops_per_image(lambda: plain_pytorch_loop(G, D, images, args.batch, 1), args.batch)
    flops_ours = flops_per_image(lambda: ganbench_loop("dcgan", images, args.batch, 1), args.batch)
    print(f"FLOPs per image of one step: baseline {flops_base / 1e6:.1f} MFLOP, ganbench {flops_ours / 1e6:.1f} "
          f"MFLOP: at equal efficiency ganbench could be {flops_base / flops_ours:.2f}x the baseline")
    measured = measured_peak_gflops() if device.type == "cpu" else None
    nominal, how = nominal_peak_gflops()
    for label, rate, flops in () if measured is None else (("baseline", base, flops_base), ("ganbench", ours, flops_ours)):
        achieved = rate * flops / 1e9
        print(f"{label}: {achieved:.0f} GFLOP/s = {achieved / measured * 100:.0f}% of the measured FP32 peak "
              f"({measured:.0f} GFLOP/s, 2048² sgemm), {achieved / nominal * 100:.0f}% of the nominal "
              f"{nominal:.0f} GFLOP/s ({how})")
    for name in VARIANTS.names():
        if name == "dcgan":
            continue
        steps = max(4, args.steps // 3)
        if name != "wgan_gp":
            rate = median_rate(lambda n=name: ganbench_loop(n, images, args.batch, steps), max(3, args.repeats // 2))
            print(f"| ganbench {name} (default params) | {rate:.0f} | - |")
            continue
        # The critic's layout against the other two, interleaved in this run.
        layouts = {calls: (lambda c=calls: ganbench_loop(name, images, args.batch, steps, critic_calls=c))
                   for calls in (2, 3, 1)}
        got = interleaved_medians(layouts, args.repeats)
        print(f"| ganbench {name} (default params: real+fake in one critic call, interpolates in another) "
              f"| {got[2]:.0f} | - |")
        print(f"| ganbench wgan_gp, critic in three calls | {got[3]:.0f} | - |")
        print(f"| ganbench wgan_gp, real+fake+interpolates in one call (until 2026-12-06) | {got[1]:.0f} | - |")
        print(f"WGAN-GP step, default layout: {got[2] / got[3]:.2f}x three calls, {got[2] / got[1]:.2f}x all in one call")
    if args.precisions:
        # Every variant at each arithmetic (and, on CUDA, without torch.compile), against
        # the tutorial loop measured above: the table of train.precision's price.
        print("| variant | fp32 | bf16 | fp32 eager (no compile) | bf16 / fp32 | fp32 / tutorial |")
        print("|---|---|---|---|---|---|")
        steps = max(4, args.steps // 3)
        for name in VARIANTS.names():
            got = {label: median_rate(lambda n=name, kw=kw: ganbench_loop(n, images, args.batch, steps, **kw),
                                      max(3, args.repeats // 2))
                   for label, kw in (("fp32", {}), ("bf16", {"precision": "bf16"}),
                                     ("eager", {"compile": False}))}
            print(f"| {name} | {got['fp32']:.0f} | {got['bf16']:.0f} | {got['eager']:.0f} | "
                  f"{got['bf16'] / got['fp32']:.2f} | {got['fp32'] / base:.2f} |", flush=True)


if __name__ == "__main__":
    main()
