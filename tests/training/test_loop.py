"""The loop runs phases it does not know, syncs rarely, stops at its budget, checkpoints
and resumes exactly; EMA counts images."""

from __future__ import annotations

import copy
import dataclasses
import itertools

import pytest
import torch
import torch.nn.functional as F

from ganbench.errors import TrainingDivergedError
from ganbench.losses import OBJECTIVES
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry
from ganbench.sampling.latents import latents
from ganbench.training.budget import Budget
from ganbench.training.ema import EMA, BatchNormRecalibration
from ganbench.training.loop import Cadence, Grid, ScalarAccumulator, images_per_step, train_loop
from ganbench.training.optim import lazy_regularization_correction, make_optimizer
from ganbench.training.state import Progress, RealBatches, Trainee
from tests.fixtures import TINY_INFOGAN


class Recorder:
    def __init__(self):
        self.metrics, self.images = [], []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, dict(metrics)))

    def log_image(self, image, key, step):
        self.images.append((key, step, image.shape))

    def log_artifact(self, path, artifact_path=None):
        pass


def make_trainee(loss="nonsaturating", lr=2e-4, seed=0, ema_kimg=0.0, **loss_kw):
    spec = VARIANTS.get("dcgan")
    cfg = spec.parse({"model": {"z_dim": 8, "g_channels": 4, "d_channels": 4},
                      "loss": {"name": loss, **loss_kw}, "g_optim": {"lr": lr}, "d_optim": {"lr": lr}})
    torch.manual_seed(seed)
    G, D = spec.build(cfg.model, Geometry(1, 32, 0))
    obj = OBJECTIVES.get(cfg.loss.name)(cfg.loss, G, D)
    images = torch.rand(64, 1, 32, 32) * 2 - 1
    recalibration = BatchNormRecalibration(batches=2, batch_size=8, z_dim=8, num_classes=0, seed=seed,
                                           device=torch.device("cpu"))
    return Trainee(G, D, obj, make_optimizer(G, cfg.g_optim), make_optimizer(D, cfg.d_optim),
                   RealBatches(images, None, 8, seed, torch.device("cpu")),
                   ema=EMA(G, ema_kimg, batchnorm=recalibration) if ema_kimg else None)


CADENCE = Cadence(log_every=2, image_every=3, checkpoint_every_images=32)
GRID = Grid(z=latents(4, 8, 1), c=None, nrow=2, seed=1)


def run(t, budget, state=None, tracker=None, saves=None, g_step="shared_fake", cadence=CADENCE, clock=None,
        stop=None):
    kw = {"clock": clock} if clock is not None else {}
    if stop is not None:
        kw["stop"] = stop
    return train_loop(t, budget, cadence, tracker or Recorder(), state=state or Progress(), grid=GRID,
                      save=(lambda s: saves.append(dataclasses.replace(s))) if saves is not None else (lambda s: None),
                      g_step=g_step, **kw)


def test_kimg_budget_logging_images_and_checkpoints():
    rec, saves = Recorder(), []
    state = run(make_trainee(), Budget("kimg", 0.08), tracker=rec, saves=saves)
    assert state.images_seen == 80 and state.step == 10 and state.d_step == 10
    assert [s for s, _ in rec.metrics] == [2, 4, 6, 8, 10]
    assert {"loss_D", "loss_G", "kimg", "images_per_s"} <= set(rec.metrics[-1][1])
    assert [s for _, s, _ in rec.images] == [3, 6, 9, 10]
    assert len(saves) == 3  # at 32 and 64 images, and the end


def test_g_steps_budget_counts_generator_updates_whatever_n_critic():
    state = run(make_trainee("wgan_clip", lr=5e-5), Budget("g_steps", 3))
    assert state.step == 3 and state.d_step == 15 and state.images_seen == 3 * 5 * 8


def test_kimg_budget_counts_critic_images():
    state = run(make_trainee("wgan_clip", lr=5e-5), Budget("kimg", 0.08))
    assert state.d_step == 10 and state.step == 2  # 5 critic steps per generator step


def test_seconds_budget_stops_at_the_right_time_with_a_fake_clock():
    ticks = itertools.count()  # every clock call advances one "second"
    state = run(make_trainee(), Budget("seconds", 5.0), clock=lambda: float(next(ticks)))
    # one call at the start, then one per step: the fifth step reaches 5 s.
    assert state.step == 5 and state.wall_clock_s == pytest.approx(5.0)
    resumed = run(make_trainee(), Budget("seconds", 8.0), state=dataclasses.replace(state),
                  clock=lambda: float(next(ticks)))
    assert resumed.step == 8 and resumed.wall_clock_s == pytest.approx(8.0)


def test_budget_overshoot_detects_a_lowered_budget():
    p = Progress(step=10, d_step=10, images_seen=320)
    assert not Budget("kimg", 0.32).overshot(p, 32)
    assert not Budget("kimg", 0.30).overshot(p, 32)  # stopping needed the 10th step
    assert Budget("kimg", 0.288).overshot(p, 32)  # the 9th step already reached it
    assert Budget("g_steps", 9).overshot(p, 32) and not Budget("g_steps", 10).overshot(p, 32)
    # Two processes end a 5 s budget reached at step 5 at the flush of step 8 (log_every 4).
    ended = Progress(step=8, d_step=8, images_seen=256, wall_clock_s=8.0)
    assert Budget("seconds", 5.0).overshot(ended, 32)
    assert not Budget("seconds", 5.0).overshot(ended, 32, late_steps=4)
    assert Budget("seconds", 4.0).overshot(ended, 32, late_steps=4)  # reached at step 4: lowered


@pytest.mark.parametrize(("loss", "lr", "g_step", "forwards_per_g_step"), [
    ("nonsaturating", 2e-4, "shared_fake", 1), ("nonsaturating", 2e-4, "same_latents", 2),
    ("nonsaturating", 2e-4, "new_latents", 2),
    ("wgan_clip", 5e-5, "shared_fake", 5), ("wgan_clip", 5e-5, "same_latents", 6),
    ("wgan_clip", 5e-5, "new_latents", 6),
])
def test_shared_fake_saves_one_generator_forward(loss, lr, g_step, forwards_per_g_step):
    t = make_trainee(loss, lr=lr)
    calls, g_before = [], [p.detach().clone() for p in t.G.parameters()]
    t.G.register_forward_hook(lambda m, i, o: calls.append(o.requires_grad))
    state = run(t, Budget("kimg", 0.08), g_step=g_step,
                cadence=dataclasses.replace(CADENCE, image_every=10**6))
    assert len(calls) == state.step * forwards_per_g_step + 1  # + the final progress grid
    # Only the forward whose graph the generator step uses is recorded.
    assert sum(calls) == state.step
    assert all(not torch.equal(a, b) for a, b in zip(g_before, t.G.parameters()))


def test_a_model_with_a_discriminator_needs_a_generator_step():
    with pytest.raises(ValueError, match="g_step must be one of shared_fake, same_latents, new_latents"):
        run(make_trainee("nonsaturating"), Budget("g_steps", 1), g_step=None)


@pytest.mark.parametrize("g_step", ["shared_fake", "same_latents", "new_latents"])
def test_a_training_step_is_the_plain_pytorch_step(g_step):
    """The loop adds nothing to the arithmetic of a step: lucic_ns trained by it for 6 steps
    equals, bit for bit, the textbook NS-GAN step written out by hand (D on real and on
    G(z) detached, then G on: that same fake batch, shared_fake; a new forward on the same
    z, same_latents, which is compare_gan's ``run_single_train_step`` and moves G's
    BatchNorm statistics twice; fresh z, new_latents), the same real batches and latents;
    BatchNorm running statistics included."""
    spec = VARIANTS.get("lucic_ns")
    cfg = spec.parse({"model": TINY_INFOGAN, "g_optim": {"lr": 2e-4, "betas": [0.5, 0.999]},
                      "d_optim": {"lr": 2e-4, "betas": [0.5, 0.999]}}, prefix="lucic_ns")
    torch.manual_seed(0)
    G, D = spec.build(cfg.model, Geometry(1, 28, 0))
    images = torch.rand(64, 1, 28, 28) * 2 - 1
    G1, D1, G2, D2 = copy.deepcopy(G), copy.deepcopy(D), copy.deepcopy(G), copy.deepcopy(D)
    t = Trainee(G1, D1, OBJECTIVES.get(cfg.loss.name)(cfg.loss, G1, D1), make_optimizer(G1, cfg.g_optim),
                make_optimizer(D1, cfg.d_optim), RealBatches(images, None, 8, 0, torch.device("cpu")))
    torch.manual_seed(5)
    state = run(t, Budget("g_steps", 6), g_step=g_step, cadence=dataclasses.replace(CADENCE, image_every=10**6))
    assert state.step == 6

    opt_G, opt_D = make_optimizer(G2, cfg.g_optim), make_optimizer(D2, cfg.d_optim)
    data = RealBatches(images, None, 8, 0, torch.device("cpu"))
    torch.manual_seed(5)
    for _ in range(6):
        x, _ = data.next()
        z = torch.randn(8, G2.z_dim)
        fake = G2(z, None)
        d_loss = F.softplus(-D2(x, None)).mean() + F.softplus(D2(fake.detach(), None)).mean()
        opt_D.zero_grad()
        d_loss.backward()
        opt_D.step()
        if g_step == "same_latents":
            fake = G2(z, None)
        elif g_step == "new_latents":
            fake = G2(torch.randn(8, G2.z_dim), None)
        g_loss = F.softplus(-D2(fake, None)).mean()
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()
    for name, a, b in (("G", G1, G2), ("D", D1, D2)):
        for (k, v1), v2 in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(v1, v2, msg=f"{name}.{k}", rtol=0, atol=0)
    assert not torch.equal(G1.body.fc[0].weight, G.body.fc[0].weight)  # it trained


def test_resume_matches_uninterrupted_run():
    torch.manual_seed(123)
    a = make_trainee(ema_kimg=0.05)
    run(a, Budget("kimg", 0.096))
    torch.manual_seed(123)
    b = make_trainee(ema_kimg=0.05)
    half = run(b, Budget("kimg", 0.048))
    snap = {"G": {k: v.clone() for k, v in b.G.state_dict().items()},
            "D": {k: v.clone() for k, v in b.D.state_dict().items()},
            "E": {k: v.clone() for k, v in b.ema.model.state_dict().items()},
            "oG": b.opt_G.state_dict(), "oD": b.opt_D.state_dict(),
            "data": b.batches.state_dict(), "rng": torch.get_rng_state()}
    c = make_trainee(seed=0, ema_kimg=0.05)
    c.G.load_state_dict(snap["G"]); c.D.load_state_dict(snap["D"]); c.ema.model.load_state_dict(snap["E"])
    c.opt_G.load_state_dict(snap["oG"]); c.opt_D.load_state_dict(snap["oD"])
    c.batches.load_state_dict(snap["data"]); torch.set_rng_state(snap["rng"])
    run(c, Budget("kimg", 0.096), state=dataclasses.replace(half))
    for net in ("G", "D"):
        for (k, v1), v2 in zip(getattr(a, net).state_dict().items(), getattr(c, net).state_dict().values()):
            torch.testing.assert_close(v1, v2, msg=f"{net}.{k}", rtol=0, atol=0)
    for (k, v1), v2 in zip(a.ema.model.state_dict().items(), c.ema.model.state_dict().values()):
        torch.testing.assert_close(v1, v2, msg=f"G_ema.{k}", rtol=0, atol=0)


def test_nan_loss_fails_with_clear_message():
    t = make_trainee(lr=1e30)
    with pytest.raises(TrainingDivergedError, match="became .*lower the learning rates"):
        run(t, Budget("kimg", 0.4))


def test_accumulator_syncs_once_and_averages():
    acc = ScalarAccumulator()
    acc.add({"a": torch.tensor(1.0)})
    acc.add({"a": torch.tensor(3.0), "b": torch.tensor(2.0)})
    assert acc.flush() == {"a": 2.0, "b": 2.0}
    assert acc.flush() == {}


@pytest.mark.parametrize("n_critic", [1, 5])
def test_ema_half_life_counts_the_images_a_generator_step_consumed(n_critic):
    """With n_critic critic steps per generator step, one EMA update covers n_critic
    batches: after half_life_kimg thousand images the old weights weigh exactly ½."""
    loss = "wasserstein_gp" if n_critic > 1 else "nonsaturating"
    kw = {"n_critic": n_critic} if n_critic > 1 else {}
    t = make_trainee(loss, lr=1e-4, ema_kimg=0.16, **kw)  # half-life 160 images
    assert images_per_step(t) == 8 * n_critic
    # The decay of one update, by hand: 0.5 ** (8 · n_critic / 160).
    assert t.ema.beta(images_per_step(t), 10**6) == pytest.approx(0.5 ** (8 * n_critic / 160))
    # Over a whole run: the product of the per-step decays after 160 images is 0.5.
    betas = [t.ema.beta(images_per_step(t), 10**6) for _ in range(160 // images_per_step(t))]
    assert torch.tensor(betas, dtype=torch.float64).prod().item() == pytest.approx(0.5)
    # The loop passes exactly those images to every update.
    seen = []
    original = t.ema.update
    t.ema.update = lambda model, images, images_seen: (seen.append(images), original(model, images, images_seen))
    run(t, Budget("g_steps", 2))
    assert seen == [8 * n_critic, 8 * n_critic]


def test_lazy_regularization_corrects_the_optimizer():
    """stylegan2-ada: lr × I/(I+1) and betas ^ I/(I+1) for a net regularised every I steps."""
    from ganbench.models.base import OptimizerConfig

    cfg = OptimizerConfig(lr=0.0025, betas=(0.0, 0.99))
    lr, betas = lazy_regularization_correction(cfg, 16)
    assert lr == pytest.approx(0.0025 * 16 / 17)
    assert betas == pytest.approx((0.0, 0.99 ** (16 / 17)))
    assert lazy_regularization_correction(cfg, None) == (0.0025, (0.0, 0.99))
    spec = VARIANTS.get("stylegan")
    vcfg = spec.parse({"model": {"g_channel_base": 64, "g_channel_max": 8, "d_channel_base": 64,
                                 "d_channel_max": 8}})
    G, D = spec.build(vcfg.model, Geometry(1, 32, 0))
    obj = OBJECTIVES.get("logistic_r1")(vcfg.loss, G, D)
    # R1 every 16 D steps, path-length regularisation every 4 G steps (stylegan2-ada).
    assert obj.reg_interval("D") == vcfg.loss.r1_interval == 16
    assert obj.reg_interval("G") == vcfg.loss.pl_interval == 4
    for net, opt_cfg, interval in ((D, vcfg.d_optim, 16), (G, vcfg.g_optim, 4)):
        opt = make_optimizer(net, opt_cfg, obj.reg_interval("D" if net is D else "G"))
        r = interval / (interval + 1)
        assert opt.param_groups[0]["lr"] == pytest.approx(opt_cfg.lr * r)
        assert opt.param_groups[0]["betas"][1] == pytest.approx(opt_cfg.betas[1] ** r)


def test_a_non_finite_weight_stops_training_before_anything_is_saved():
    t = make_trainee(ema_kimg=1e9)  # an EMA that keeps (almost) nothing of the new weights
    saves = []
    with torch.no_grad():  # a NaN that no loss sees: only the weight check can catch it
        next(t.ema.model.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(TrainingDivergedError, match="a network weight became NaN or inf by generator step 2"):
        run(t, Budget("kimg", 0.4), saves=saves)
    assert saves == []
    t = make_trainee()
    with torch.no_grad():
        next(t.G.parameters()).view(-1)[0] = float("inf")
    with pytest.raises(TrainingDivergedError, match="became (nan|inf)"):
        run(t, Budget("kimg", 0.4))


def test_a_stop_request_checkpoints_the_current_step_and_raises():
    from ganbench.errors import TrainingInterrupted

    asked = itertools.count()
    saves = []
    with pytest.raises(TrainingInterrupted, match="interrupted at generator step 3.*resumes it"):
        run(make_trainee(), Budget("kimg", 0.4), saves=saves, stop=lambda: next(asked) >= 2)
    assert [s.step for s in saves] == [3]
