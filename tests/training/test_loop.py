"""The loop runs phases it does not know, syncs rarely, checkpoints and resumes exactly."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ganbench.config import TrainConfig
from ganbench.errors import TrainingDivergedError
from ganbench.losses import OBJECTIVES
from ganbench.models import VARIANTS, Geometry
from ganbench.sampling import latents
from ganbench.training.ema import EMA
from ganbench.training.loop import (
    Progress,
    RealBatches,
    ScalarAccumulator,
    Trainee,
    make_optimizer,
    train_loop,
)


class Recorder:
    def __init__(self):
        self.metrics, self.images = [], []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, dict(metrics)))

    def log_image(self, image, key, step):
        self.images.append((key, step, image.shape))

    def log_artifact(self, path, artifact_path=None):
        pass


def make_trainee(loss="nonsaturating", lr=2e-4, seed=0):
    spec = VARIANTS.get("dcgan")
    cfg = spec.parse({"model": {"z_dim": 8, "g_channels": 4, "d_channels": 4}, "loss": {"name": loss},
                      "g_optim": {"lr": lr}, "d_optim": {"lr": lr}})
    torch.manual_seed(seed)
    G, D = spec.build(cfg.model, Geometry(1, 32, 0))
    obj = OBJECTIVES.get(cfg.loss.name)(cfg.loss, G, D)
    images = torch.rand(64, 1, 32, 32) * 2 - 1
    return Trainee(G, D, obj, make_optimizer(G, cfg.g_optim), make_optimizer(D, cfg.d_optim),
                   RealBatches(images, None, 8, seed, torch.device("cpu")))


CFG = TrainConfig(log_every=2, image_every=3, checkpoint_every=4, batch_size=8)


def run(t, total, state=None, tracker=None, saves=None):
    return train_loop(t, CFG, tracker or Recorder(), total_images=total, state=state or Progress(),
                      fixed_z=latents(4, 8, 1), fixed_c=None, grid_nrow=2,
                      save=(saves.append if saves is not None else (lambda s: None)))


def test_budget_logging_images_and_checkpoints():
    rec, saves = Recorder(), []
    state = run(make_trainee(), 80, tracker=rec, saves=saves)
    assert state.images_seen == 80 and state.step == 10 and state.d_step == 10
    steps = [s for s, _ in rec.metrics]
    assert steps == [2, 4, 6, 8, 10]
    assert {"loss_D", "loss_G", "kimg", "images_per_s"} <= set(rec.metrics[-1][1])
    assert [s for _, s, _ in rec.images] == [3, 6, 9, 10]
    assert len(saves) == 3  # steps 4, 8 and the end


def test_n_critic_counts_images_per_critic_step():
    state = run(make_trainee("wgan_clip", lr=5e-5), 80)
    assert state.d_step == 10 and state.step == 2  # 5 critic steps per generator step


@pytest.mark.parametrize(("loss", "lr", "share", "forwards_per_g_step"), [
    ("nonsaturating", 2e-4, True, 1), ("nonsaturating", 2e-4, False, 2),
    ("wgan_clip", 5e-5, True, 5), ("wgan_clip", 5e-5, False, 6),
])
def test_share_fake_saves_one_generator_forward(loss, lr, share, forwards_per_g_step):
    t = make_trainee(loss, lr=lr)
    calls, g_before = [], [p.detach().clone() for p in t.G.parameters()]
    t.G.register_forward_hook(lambda m, i, o: calls.append(o.requires_grad))
    state = train_loop(t, dataclasses.replace(CFG, share_fake=share, image_every=10**6), Recorder(),
                       total_images=8 * 10, state=Progress(), fixed_z=latents(4, 8, 1),
                       fixed_c=None, grid_nrow=2, save=lambda s: None)
    assert len(calls) == state.step * forwards_per_g_step + 1  # + the final progress grid
    # Only the forward whose graph the generator step uses is recorded.
    assert sum(calls) == state.step
    assert all(not torch.equal(a, b) for a, b in zip(g_before, t.G.parameters()))


def test_resume_matches_uninterrupted_run():
    torch.manual_seed(123)
    a = make_trainee()
    run(a, 96)
    torch.manual_seed(123)
    b = make_trainee()
    half = run(b, 48)
    snap = {"G": {k: v.clone() for k, v in b.G.state_dict().items()},
            "D": {k: v.clone() for k, v in b.D.state_dict().items()},
            "oG": b.opt_G.state_dict(), "oD": b.opt_D.state_dict(),
            "data": b.batches.state_dict(), "rng": torch.get_rng_state()}
    c = make_trainee(seed=0)
    c.G.load_state_dict(snap["G"]); c.D.load_state_dict(snap["D"])
    c.opt_G.load_state_dict(snap["oG"]); c.opt_D.load_state_dict(snap["oD"])
    c.batches.load_state_dict(snap["data"]); torch.set_rng_state(snap["rng"])
    run(c, 96, state=dataclasses.replace(half))
    for (k, v1), v2 in zip(a.G.state_dict().items(), c.G.state_dict().values()):
        torch.testing.assert_close(v1, v2, msg=k)


def test_nan_loss_fails_with_clear_message():
    t = make_trainee(lr=1e30)
    with pytest.raises(TrainingDivergedError, match="became .*lower the learning rates"):
        run(t, 400)


def test_accumulator_syncs_once_and_averages():
    acc = ScalarAccumulator()
    acc.add({"a": torch.tensor(1.0)})
    acc.add({"a": torch.tensor(3.0), "b": torch.tensor(2.0)})
    assert acc.flush() == {"a": 2.0, "b": 2.0}
    assert acc.flush() == {}


def test_ema_arithmetic():
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, half_life_kimg=0.001)  # half-life: 1 image
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update(net, batch_size=1, images_seen=1)  # beta = 0.5
    assert ema.model.weight.item() == pytest.approx(0.5)
    ema.update(net, batch_size=2, images_seen=3)  # beta = 0.25
    assert ema.model.weight.item() == pytest.approx(0.5 * 0.25 + 0.75)
    assert ema.beta(64, 10**9) == pytest.approx(0.5 ** 64)
    ramp = EMA(net, half_life_kimg=10.0, rampup=0.05)
    assert ramp.beta(64, 1000) == pytest.approx(0.5 ** (64 / 50))
