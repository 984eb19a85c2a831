"""Distributed pieces in one process (world, data shards, per-rank randomness, the CUDA
fast path's selection) and SyncBatchNorm in two real gloo processes.

The end-to-end comparison of a 2-process training run with one process is in
tests/pipeline/test_distributed_training.py."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DistributedSampler

from ganbench.errors import GanbenchError, ParamsError
from ganbench.models import VARIANTS
from ganbench.nn.sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm
from ganbench.training import accel
from ganbench.training.distributed import World, replicate, torchrun_command
from ganbench.training.state import RealBatches, Trainee
from tests.fixtures import one_variant_per_network


def spawn_ranks(fn, args: tuple, size: int = 2, timeout: float = 240.0) -> None:
    """Run ``fn(rank, *args)`` in ``size`` spawned processes and wait for all of them; a
    process that raises fails the test, and so does one still running after ``timeout``
    seconds (a rank stuck in a collective), after every process was stopped."""
    ctx = mp.start_processes(fn, args=args, nprocs=size, join=False, start_method="spawn")
    deadline = time.monotonic() + timeout
    try:
        while not ctx.join(timeout=max(deadline - time.monotonic(), 0.0)):
            if time.monotonic() >= deadline:
                pytest.fail(f"{size} processes still running after {timeout:.0f} s: a rank waits "
                            "in a collective the others never call")
    finally:
        for proc in ctx.processes:
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=30)


def init_gloo(rank: int, size: int, store: str, timeout_s: float = 300.0) -> None:
    """Join a gloo group through a file store; a collective left waiting raises after
    ``timeout_s`` instead of hanging."""
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=size,
                            timeout=timedelta(seconds=timeout_s))


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    from ganbench.config.schema import DataConfig
    from ganbench.data.preprocess import preprocess
    from ganbench.data.sources import fetch
    from tests.fixtures import make_fake_dataset

    tmp = tmp_path_factory.mktemp("ddp-data")
    make_fake_dataset(tmp / "idx", n_train=96, n_test=8)
    cfg = DataConfig(dataset="idx-folder", source_dir=str(tmp / "idx"), allow_download=False)
    fetch(cfg, tmp / "raw", env={})
    preprocess(tmp / "raw", tmp / "processed", cfg)
    return tmp / "processed"


def test_world_from_env():
    assert World.from_env({}) == World()
    w = World.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (w.rank, w.size, w.local_rank, w.distributed, w.main) == (1, 2, 1, True, False)
    with pytest.raises(GanbenchError, match="torchrun"):
        World.from_env({"WORLD_SIZE": "2"})


def test_a_batch_that_does_not_split_evenly_is_a_params_error():
    with pytest.raises(ParamsError, match="train.batch_size 10 does not split evenly over 3"):
        RealBatches(torch.zeros(64, 1, 4, 4), None, 10, 0, torch.device("cpu"), world=World(0, 3))


@pytest.mark.parametrize("size", [2, 4])
def test_rank_shards_are_distributed_samplers_assignment_and_make_up_the_global_batch(size):
    """Each rank's batch is what DistributedSampler gives that rank from the epoch's
    order, and the ranks together hold exactly one process's batch, epoch after epoch."""
    images = torch.arange(40, dtype=torch.float32).view(40, 1, 1, 1)
    batch = 8
    one = RealBatches(images, None, batch, seed=3, device=torch.device("cpu"))
    ranks = [RealBatches(images, None, batch, seed=3, device=torch.device("cpu"), world=World(r, size))
             for r in range(size)]
    steps = 12  # 40 // 8 = 5 batches per epoch: crosses two reshuffles
    for step in range(steps):
        whole, _ = one.next()
        if step % 5 == 0:  # a new epoch: DistributedSampler over this epoch's order
            order = one.perm.tolist()
            samplers = [list(DistributedSampler(order, num_replicas=size, rank=r, shuffle=False,
                                                drop_last=True)) for r in range(size)]
        shares = [rb.next()[0] for rb in ranks]
        k = step % 5
        per_rank = batch // size
        for r, share in enumerate(shares):
            expected = [order[i] for i in samplers[r][k * per_rank : (k + 1) * per_rank]]
            assert share.flatten().long().tolist() == expected
        assert sorted(torch.cat(shares).flatten().tolist()) == sorted(whole.flatten().tolist())


def test_own_randomness_is_per_rank_and_leaves_the_shared_stream_untouched():
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    with World().own_randomness(0, 5, cpu):
        a = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(a, torch.rand(3))  # one process: the ordinary stream

    draws = {}
    for rank in (0, 1):
        torch.manual_seed(0)
        with World(rank, 2).own_randomness(7, 5, cpu):
            draws[rank] = torch.rand(3)
        after = torch.rand(3)
        torch.manual_seed(0)
        assert torch.equal(after, torch.rand(3))  # the shared stream continues as if untouched
    assert not torch.equal(draws[0], draws[1])
    torch.manual_seed(123)
    with World(1, 2).own_randomness(7, 5, cpu):
        again = torch.rand(3)
    assert torch.equal(again, draws[1])  # a function of (seed, rank, step) only: resumable


def test_one_process_uses_the_modules_themselves():
    net = nn.Linear(2, 2)
    assert replicate(net, World(), torch.device("cpu")) is net
    assert replicate(None, World(0, 2), torch.device("cpu")) is None


def test_torchrun_command_keeps_the_commands_options_away_from_torchrun():
    cmd = torchrun_command(2, ["ganbench_pipeline.cli", "train", "dcgan", "--nproc", "2"])
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--standalone" in cmd
    assert cmd[cmd.index("-m", 3) + 1] == "--"  # argparse would read --nproc as its own option


def test_sync_batchnorm_in_one_process_is_batchnorm():
    torch.manual_seed(0)
    ref = nn.BatchNorm2d(3)
    nn.init.normal_(ref.weight)
    sync = convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3)))[0]
    assert isinstance(sync, SyncBatchNorm)
    sync.load_state_dict(ref.state_dict())
    x = torch.randn(8, 3, 5, 5)
    for m in (ref, sync):
        m(x.clone().requires_grad_(True)).square().sum().backward()
    torch.testing.assert_close(sync.weight.grad, ref.weight.grad)
    torch.testing.assert_close(sync.running_var, ref.running_var)
    assert set(sync.state_dict()) == set(ref.state_dict())


def _bn_case(bf16: bool) -> tuple[torch.Tensor, torch.Tensor, nn.Module]:
    """The batch, the regression target and a BatchNorm2d of the SyncBatchNorm tests. The
    bf16 batch sits far from 0 (mean ≈ 100), where a bf16 sum of 64 values has lost the
    statistics (its spacing there is 32)."""
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4)
    target = torch.randn(8, 3, 4, 4)
    layer = nn.BatchNorm2d(3)
    nn.init.normal_(layer.weight)
    return ((x + 100).bfloat16() if bf16 else x), target, layer


def _sync_bn_worker(rank: int, size: int, store: str, out: str, bf16: bool) -> None:
    init_gloo(rank, size, store)
    x, target, bn = _bn_case(bf16)
    layer = convert_sync_batchnorm(nn.Sequential(bn))
    share = x[rank::size].clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = layer(share)
    # The global mean of a per-element loss, as DDP would average it: mean over the share.
    ((y.float() - target[rank::size]).square().mean() / size).backward()
    grads = {"x": share.grad, "w": layer[0].weight.grad.clone(), "b": layer[0].bias.grad.clone()}
    dist.all_reduce(grads["w"])
    dist.all_reduce(grads["b"])
    torch.save({"y": y.detach(), **grads, "running_mean": layer[0].running_mean,
                "running_var": layer[0].running_var}, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bf16-autocast"])
def test_sync_batchnorm_across_two_gloo_processes_equals_one_batchnorm_over_the_whole_batch(bf16, tmp_path):
    """Float32 in, float32 out: one BatchNorm over the whole batch, to float rounding.
    A bf16 input under autocast: the statistics are still float32 ones (sums, squares and
    their all-reduce in float32), only the output is rounded to bf16, as BatchNorm2d's is."""
    size = 2
    spawn_ranks(_sync_bn_worker, (size, str(tmp_path / "store"), str(tmp_path / "out"), bf16))
    x, target, ref = _bn_case(bf16)
    x = x.float().requires_grad_(True)
    y = ref(x)
    (y - target).square().mean().backward()
    # bf16 rounds the output (relative spacing 2**-8) and thereby the gradients behind it.
    loose = {"rtol": 1e-2, "atol": 1e-2} if bf16 else {}
    for rank in range(size):
        got = torch.load(tmp_path / f"out.{rank}", weights_only=True)
        assert got["y"].dtype == got["x"].dtype == (torch.bfloat16 if bf16 else torch.float32)
        torch.testing.assert_close(got["y"], y.detach()[rank::size].to(got["y"].dtype),
                                   **(loose or {"rtol": 1e-5, "atol": 1e-6}))
        torch.testing.assert_close(got["x"].float(), x.grad[rank::size], **(loose or {"rtol": 1e-4, "atol": 1e-7}))
        torch.testing.assert_close(got["w"], ref.weight.grad, **(loose or {"rtol": 1e-4, "atol": 1e-7}))
        torch.testing.assert_close(got["b"], ref.bias.grad, **(loose or {"rtol": 1e-4, "atol": 1e-7}))
        torch.testing.assert_close(got["running_mean"], ref.running_mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got["running_var"], ref.running_var, rtol=1e-5, atol=1e-6)


# The fast path ----------------------------------------------------------------------


def test_the_fast_path_is_selected_only_on_cuda():
    cpu = accel.select(torch.device("cpu"), precision="fp32", compile=True, deterministic=False)
    assert cpu == accel.Acceleration()  # nothing: no autocast, compile, pinning or autotuning
    cuda = accel.select(torch.device("cuda", 0), precision="bf16", compile=True, deterministic=False)
    assert cuda.autocast is torch.bfloat16 and cuda.compile and cuda.pin_memory and cuda.data_on_device
    assert cuda.cudnn_benchmark and not cuda.deterministic
    strict = accel.select(torch.device("cuda"), precision="fp32", compile=False, deterministic=True)
    assert strict.autocast is None and not strict.compile and not strict.cudnn_benchmark and strict.deterministic


def test_cpu_training_runs_without_any_of_the_fast_path(tmp_path):
    from ganbench.config import parse_params
    from ganbench.config.schema import DataConfig
    from ganbench.data.preprocess import preprocess
    from ganbench.data.sources import fetch
    from ganbench.training.setup import prepare_training
    from tests.fixtures import make_fake_dataset

    make_fake_dataset(tmp_path / "idx", n_train=32, n_test=8)
    cfg = DataConfig(dataset="idx-folder", source_dir=str(tmp_path / "idx"), allow_download=False)
    fetch(cfg, tmp_path / "raw", env={})
    preprocess(tmp_path / "raw", tmp_path / "processed", cfg)
    params = parse_params({"variants": ["dcgan"], "train": {"batch_size": 8, "eval_every_kimg": 0},
                           "runtime": {"device": "cpu", "compile": True},
                           "dcgan": {"model": {"z_dim": 4, "g_channels": 4, "d_channels": 4}}}, VARIANTS)
    benchmark = torch.backends.cudnn.benchmark
    setup = prepare_training(params, "dcgan", 0, tmp_path / "processed", tmp_path / "model")
    t = setup.trainee
    assert t.accel == accel.Acceleration()
    assert t.objective.G is t.G and t.objective.D is t.D  # not compiled, not wrapped
    assert not t.batches.images.is_pinned() and t.batches.images.device.type == "cpu"
    assert torch.backends.cudnn.benchmark == benchmark
    assert isinstance(t.accel.autocast_context(torch.device("cpu")), type(accel.contextlib.nullcontext()))
    assert not any(isinstance(m, SyncBatchNorm) for m in t.G.modules())


def test_compiled_handles_share_the_modules_weights():
    net = nn.Linear(2, 2)
    fast = accel.Acceleration(compile=True)
    handle = accel.compiled(net, fast, compiler=lambda m: nn.Sequential(m))
    assert list(handle.parameters()) == list(net.parameters())
    assert accel.compiled(net, accel.Acceleration()) is net


def test_no_cuda_here_means_no_cuda_flags_touched():
    if torch.cuda.is_available():  # pragma: no cover - CPU machines only
        pytest.skip("a CUDA device is present")
    flag = torch.backends.cudnn.benchmark
    accel.apply_backend_flags(accel.select(torch.device("cuda"), precision="bf16", compile=True,
                                           deterministic=False), torch.device("cpu"))
    assert torch.backends.cudnn.benchmark == flag


#: Generator steps of the every-variant runs below.
STEPS = 17


def tiny_params(variant: str, nproc: int, train: dict | None = None, runtime: dict | None = None):
    """Params of a short CPU run of ``variant`` with tiny networks (global batch 16)."""
    from ganbench.config import parse_params
    from tests.fixtures import TINY

    return parse_params({
        "variants": [variant],
        "train": {"budget": "g_steps", "g_steps": STEPS, "batch_size": 16, "ema_kimg": 0.05,
                  "eval_every_kimg": 0, "nproc": nproc, **(train or {})},
        "runtime": {"log_every": 4, "image_every": 100, "device": "cpu", **(runtime or {})},
        variant: TINY[variant],
    }, VARIANTS)


def _train_every_variant(rank: int, size: int, store: str, processed: str, out: str) -> None:
    from ganbench.training.run import train_variant
    from ganbench.training.setup import prepare_training

    init_gloo(rank, size, store)
    Path(out).mkdir(parents=True, exist_ok=True)
    world = World(rank, size, rank)
    try:
        for variant in one_variant_per_network():
            params = tiny_params(variant, size)
            fresh = prepare_training(params, variant, 0, Path(processed), Path(out) / f"{variant}-grads", world=world)
            torch.save(phase_gradients(fresh.trainee, world, variant), Path(out) / f"{variant}.grads.{rank}.pt")
            setup = prepare_training(params, variant, 0, Path(processed), Path(out) / variant, world=world)
            train_variant(setup)
            t = setup.trainee
            torch.save({"G": dict(t.G.named_parameters()), "D": dict(t.D.named_parameters()) if t.D else {}},
                       Path(out) / f"{variant}.{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(processed, tmp_path_factory) -> Path:
    """Every variant in two gloo processes (one spawn for all): each rank's
    :func:`phase_gradients` in ``<dir>/<variant>.grads.<rank>.pt``, then STEPS steps of
    training: ``<dir>/<variant>/checkpoint.pt`` (rank 0's) and each rank's weights in
    ``<dir>/<variant>.<rank>.pt``."""
    out = tmp_path_factory.mktemp("two-processes")
    # A hang guard, not a timing: on a loaded 2-core machine this takes several minutes.
    spawn_ranks(_train_every_variant, (2, str(out / "store"), str(processed), str(out)), timeout=1200)
    return out


@pytest.mark.timeout(600)
@pytest.mark.parametrize("variant", one_variant_per_network())
def test_every_variant_trains_in_two_gloo_processes_and_the_replicas_stay_identical(variant, two_processes):
    """DDP averages every trained parameter's gradient (R1 and the gradient penalty's double
    backward, the VAE's encoder called through a method, lazy phases included): after
    STEPS steps both ranks hold bitwise the same weights, all finite, and only rank 0 wrote
    a checkpoint."""
    ranks = [torch.load(two_processes / f"{variant}.{r}.pt", weights_only=True) for r in (0, 1)]
    for net in ("G", "D"):
        for name, value in ranks[0][net].items():
            assert torch.isfinite(value).all(), f"{variant} {net}.{name}"
            assert torch.equal(value, ranks[1][net][name]), f"{variant} {net}.{name} differs between ranks"
    assert torch.load(two_processes / variant / "checkpoint.pt", weights_only=True)["progress"]["step"] == STEPS


#: The phases that draw random numbers inside the step, and what they draw: a rank draws
#: its own (``World.own_randomness``), so one process can only match a 2-process run's
#: gradient share by share, under each rank's draws.
DRAWING_PHASES = {"wgan_gp": {"Dmain"},  # the penalty's interpolation weights
                  # noise inputs, style-mixing latents and cutoffs; the path-length
                  # penalty's fresh latents and image-space noise
                  "stylegan": {"Gmain", "Greg"},
                  "vae": {"main"}}  # the reparameterisation noise
#: Variants whose phases draw inside the step *and* run through BatchNorm: a rank's draws
#: are its own and BatchNorm couples the shares, so no one-process computation gives the
#: two-process gradient (the replicas test above still trains them in two processes).
NO_ONE_PROCESS_REFERENCE = {"lucic_vae"}  # reparameterisation noise, BatchNorm in encoder and decoder


def phase_gradients(t: Trainee, world: World, variant: str, shares: int = 2) -> dict[str, dict[str, torch.Tensor]]:
    """For every phase of ``t``'s objective, the gradient of the network it trains, at the
    current weights, for one fixed global batch of 16 (real and fake images, latents).

    A rank of a distributed ``world`` computes its share's loss under its own draws
    through DDP, which averages the gradient over the ranks. In one process (``World()``)
    the same gradient without DDP: the global batch's, except for a phase in
    DRAWING_PHASES, which gets the mean over the ``shares`` shares' gradients, each under
    the draws its rank makes (the global batch's, given those draws; BatchNorm would
    couple the shares, and none of these networks has it). D phases get the fake batch
    as an input, so they never run G."""
    from ganbench.losses import Batch
    from ganbench.nn.sync_batchnorm import has_batchnorm
    from ganbench.training.loop import _set_trainable

    g = torch.Generator().manual_seed(5)
    real, fake = (torch.rand(2, 16, 1, 32, 32, generator=g) * 2 - 1).unbind()
    z = torch.randn(16, t.G.z_dim, generator=g)
    cpu = torch.device("cpu")
    out = {}
    for phase in t.objective.phases:
        net = t.G if phase.net == "G" else t.D
        _set_trainable(t.G, phase.net == "G")
        _set_trainable(t.D, phase.net == "D")
        worlds = [world]
        if not world.distributed and phase.name in DRAWING_PHASES.get(variant, ()):
            ran = [t.D] if phase.net == "D" else [t.G, t.D]
            assert not any(has_batchnorm(m) for m in ran if m is not None)
            worlds = [World(r, shares) for r in range(shares)]
        net.zero_grad(set_to_none=True)
        carried = t.objective.state_dict()  # e.g. the path-length mean each share starts from
        for w in worlds:
            t.objective.load_state_dict(carried)
            batch = Batch(real=w.shard(real), real_c=None, z=w.shard(z), gen_c=None,
                          fake=w.shard(fake) if phase.net == "D" else None)
            with w.own_randomness(t.seed, 0 if phase.net == "D" else -1, cpu):  # as in the loop's first steps
                loss, _ = t.objective.loss(phase, batch)
            (loss / len(worlds)).backward()
        out[phase.name] = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    return out


def relative_error(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> float:
    """‖got − want‖ / ‖want‖ over all the tensors of two same-keyed dicts."""
    assert set(got) == set(want)
    num = sum((got[k].double() - want[k].double()).square().sum() for k in want)
    return float((num / sum(want[k].double().square().sum() for k in want)).sqrt())


def test_minibatch_stddev_groups_per_rank_are_one_processs_when_the_group_size_divides_the_share():
    from ganbench.nn.layers import MinibatchStdDev

    mbstd = MinibatchStdDev(group_size=4)
    x = torch.randn(16, 8, 4, 4)
    for size in (2, 4):  # 8 and 4 images per rank
        for rank in range(size):
            assert torch.equal(mbstd(x)[rank::size], mbstd(x[rank::size]))
    assert not torch.equal(mbstd(x)[0::8], mbstd(x[0::8]))  # 2 per rank: groups of 2
    assert not torch.equal(mbstd(x[:12])[0::2], mbstd(x[:12][0::2]))  # 6 per rank: groups of 3


#: ‖gradient(2 processes) − gradient(1 process)‖ / ‖gradient(1 process)‖ allowed per
#: phase. Measured (both ranks alike): dcgan Dmain 7.1e-7, Gmain 4.9e-7; wgan_gp Dmain 0,
#: Gmain 3.4e-7; stylegan Dmain 2.1e-6, Dreg (R1) 3.1e-7, Gmain 0; vae main 0; lucic_ns within the bound: float
#: rounding of the all-reduced BatchNorm sums and of minibatch-stddev over the whole batch
#: against per rank (the share-by-share phases are bitwise equal). The bound is ~10× the
#: largest. What it catches, measured: per-rank BatchNorm statistics (0.18-0.45 in the
#: dcgan and wgan_gp phases with BatchNorm), the other rank's draws (0.04-0.46), gradients
#: not averaged over the ranks (0.05-0.95).
GRADIENT_TOLERANCE = 2e-5


@pytest.mark.timeout(600)
@pytest.mark.parametrize("variant", [v for v in one_variant_per_network() if v not in NO_ONE_PROCESS_REFERENCE])
def test_every_phase_of_every_variant_computes_one_processs_gradient_in_two_processes(
        variant, two_processes, processed, tmp_path):
    """Two gloo processes (SyncBatchNorm, DDP through the gradient penalty's and R1's
    double backward, minibatch-stddev per rank, the VAE's encoder called through DDP)
    compute the gradient one process computes for the same global batch and draws, in
    every phase. Whole trained runs cannot be compared for the variants that draw inside
    the step: a rank's draws are its own, and after STEPS steps the weight change differs
    from one process's by 32-46%, as much as between two one-process runs that differ
    only in those draws (27-46%) or only in their latents (29-51%)."""
    from ganbench.training.setup import prepare_training

    setup = prepare_training(tiny_params(variant, 1), variant, 0, processed, tmp_path)
    want = phase_gradients(setup.trainee, World(), variant)
    for rank in (0, 1):
        got = torch.load(two_processes / f"{variant}.grads.{rank}.pt", weights_only=True)
        assert list(got) == list(want)
        for phase in want:
            error = relative_error(got[phase], want[phase])
            assert error < GRADIENT_TOLERANCE, f"{variant} {phase} rank {rank}: {error:.3g}"


# A wall-clock budget ------------------------------------------------------------------

#: Seconds each rank's fake clock advances per reading: the main rank's 1 s reaches the
#: 5 s budget after step 5; rank 1's 3 s would reach it after step 2.
SECONDS_PER_TICK = (1.0, 3.0)


def _seconds_budget_worker(rank: int, size: int, store: str, processed: str, out: str) -> None:
    from ganbench.tracking import NullTracker
    from ganbench.training.loop import train_loop
    from ganbench.training.setup import prepare_training

    init_gloo(rank, size, store)
    try:
        params = tiny_params("dcgan", size, train={"budget": "seconds", "seconds": 5.0},
                             runtime={"image_every": 1000, "checkpoint_every_kimg": 1000})
        setup = prepare_training(params, "dcgan", 0, Path(processed), Path(out) / f"model{rank}",
                                 world=World(rank, size, rank))
        # One tick per clock reading: no grid or probe before the end, whose own readings
        # (around the EMA generator's BatchNorm recalibration) would also advance the clock.
        ticks = itertools.count(0.0, SECONDS_PER_TICK[rank])
        state = train_loop(setup.trainee, setup.budget, setup.cadence, NullTracker(), state=setup.state,
                           grid=setup.grid, save=lambda progress: None, clock=lambda: next(ticks))
        torch.save({"step": state.step, "wall_clock_s": state.wall_clock_s}, Path(out) / f"end.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_a_seconds_budget_ends_every_rank_at_one_step_decided_by_the_main_ranks_clock(processed, tmp_path):
    """The ranks' clocks disagree (rank 1's runs three times as fast); both stop at the
    first flush (log_every 4) after the main rank's clock reached the budget: step 8.
    Rank 1's own clock would have stopped it after step 2, alone, leaving rank 0 in a
    gradient all-reduce; the earliest clock would have stopped both at step 4."""
    spawn_ranks(_seconds_budget_worker, (2, str(tmp_path / "store"), str(processed), str(tmp_path)))
    ends = [torch.load(tmp_path / f"end.{rank}", weights_only=True) for rank in (0, 1)]
    assert [e["step"] for e in ends] == [8, 8]
    assert ends[0]["wall_clock_s"] == pytest.approx(8.0)  # the main rank's clock is what is recorded
