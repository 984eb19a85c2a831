"""train_variant on a tiny fixture: every variant trains, checkpoints, resumes exactly,
refuses a lowered budget, retrains when its identity changes, samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganbench.config import SampleConfig, parse_params
from ganbench.errors import ParamsError
from ganbench.models import VARIANTS
from ganbench.sampling.api import generate_from_checkpoint, sample_checkpoint
from ganbench.tracking.history import read_rows
from ganbench.models.checkpoint import load_checkpoint, trained_g_step
from ganbench.training.run import train_variant
from ganbench.training.setup import HISTORY, prepare_training
from tests.fixtures import TINY, one_variant_per_network


def params_for(variant: str, kimg: float, conditional: bool = False, **train):
    section = {**TINY.get(variant, {}), "conditional": conditional}
    return parse_params({
        "variants": [variant],
        "train": {"budget": "kimg", "kimg": kimg, "batch_size": 16, "ema_kimg": 0.05, **train},
        "runtime": {"log_every": 2, "image_every": 100, "checkpoint_every_kimg": 0.048, "device": "cpu"},
        variant: section,
    }, VARIANTS)


def train(variant, kimg, processed, out, **kw):
    return train_variant(prepare_training(params_for(variant, kimg, **kw), variant, 0, processed, out))


@pytest.mark.parametrize("variant", one_variant_per_network())
def test_resume_continues_exactly(variant, processed, tmp_path):
    full = train(variant, 0.32, processed, tmp_path / "a")
    half = train(variant, 0.16, processed, tmp_path / "b")
    assert half.resumed_from_kimg is None
    resumed = train(variant, 0.32, processed, tmp_path / "b")
    assert resumed.resumed_from_kimg == pytest.approx(half.metrics["kimg"])
    assert resumed.metrics["g_steps"] == full.metrics["g_steps"]
    a, b = load_checkpoint(full.checkpoint), load_checkpoint(resumed.checkpoint)
    for key in ("G", "D", "G_ema"):
        if a[key] is None:
            continue
        for name, tensor in a[key].items():
            torch.testing.assert_close(tensor, b[key][name], msg=f"{key}.{name}", rtol=0, atol=0)
    # The persisted history holds every logged step once, as an uninterrupted run's does.
    rows_a, rows_b = read_rows(tmp_path / "a" / HISTORY), read_rows(tmp_path / "b" / HISTORY)
    assert [(s, n) for s, n, _ in rows_a] == [(s, n) for s, n, _ in rows_b]


def test_a_finished_run_reruns_as_a_no_op_and_a_lower_budget_is_refused(processed, tmp_path):
    first = train("dcgan", 0.16, processed, tmp_path)
    before = (tmp_path / "checkpoint.pt").read_bytes(), (tmp_path / HISTORY).read_bytes()
    again = train("dcgan", 0.16, processed, tmp_path)
    assert again.resumed_from_kimg == pytest.approx(first.metrics["kimg"])
    assert again.metrics["g_steps"] == first.metrics["g_steps"]
    assert ((tmp_path / "checkpoint.pt").read_bytes(), (tmp_path / HISTORY).read_bytes()) == before
    with pytest.raises(ParamsError, match="past the budget.*runtime.resume: false"):
        prepare_training(params_for("dcgan", 0.08), "dcgan", 0, processed, tmp_path)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before[0]


def test_a_result_defining_change_retrains_from_scratch(processed, tmp_path):
    train("dcgan", 0.08, processed, tmp_path)
    setup = prepare_training(params_for("dcgan", 0.16, g_step="new_latents"), "dcgan", 0, processed, tmp_path)
    assert setup.resumed_from is None and "g_step" in setup.restart_reason
    setup = prepare_training(params_for("dcgan", 0.16), "dcgan", 1, processed, tmp_path)
    assert setup.resumed_from is None and "seed" in setup.restart_reason
    setup = prepare_training(params_for("dcgan", 0.16), "dcgan", 0, processed, tmp_path)
    assert setup.resumed_from is not None and setup.restart_reason is None


def test_seconds_budget_records_how_to_replay_it(processed, tmp_path):
    result = train("dcgan", 0.16, processed, tmp_path, budget="seconds", seconds=0.5)
    assert result.metrics["budget"] == "seconds"
    assert result.metrics["replay"] == {"budget": "g_steps", "g_steps": result.metrics["g_steps"]}


@pytest.mark.parametrize("variant", one_variant_per_network())
def test_conditional_sampling_and_generate(variant, processed, tmp_path):
    result = train(variant, 0.08, processed, tmp_path, conditional=True)
    drawn = sample_checkpoint(result.checkpoint, SampleConfig(num=20, batch_size=8, grid_size=20), "cpu")
    assert drawn.images.shape == (20, 1, 32, 32) and drawn.images.dtype == np.uint8
    assert drawn.nrow == 2 and len(drawn.grid) == 20  # 10 classes, one row each
    assert drawn.meta["generator"] == "ema" and drawn.meta["conditional"]
    # What its generator steps were fed (train.g_step), none without a discriminator.
    spec = VARIANTS.get(variant)  # the lucic_* variants set compare_gan's step
    assert drawn.meta["g_step"] == ((spec.default.g_step or "shared_fake") if spec.adversarial else None)
    one_class, _ = generate_from_checkpoint(result.checkpoint, n=4, seed=3, class_index=7)
    other, _ = generate_from_checkpoint(result.checkpoint, n=4, seed=3, class_index=2)
    assert not np.array_equal(one_class, other)
    walk, nrow = generate_from_checkpoint(result.checkpoint, n=5, seed=3, interpolate=True)
    assert walk.shape[0] == 5 and nrow == 5
    with pytest.raises(ValueError, match="out of range"):
        generate_from_checkpoint(result.checkpoint, n=2, seed=0, class_index=10)


@pytest.fixture(scope="module")
def probe_files(processed, tmp_path_factory):
    """A tiny domain classifier and its training-split reference features, made as the
    classifier and probe-reference stages make them."""
    from ganbench.data.dataset import load_split
    from ganbench.io import sha256_file
    from ganbench.classifier.config import ClassifierConfig
    from ganbench.classifier.inference import features_and_predictions
    from ganbench.classifier.io import save_classifier
    from ganbench.classifier.training import train_classifier
    from ganbench.metrics.reference import save_reference
    from ganbench.sampling.generate import to_uint8
    from ganbench.training.setup import ProbeFiles

    tmp = tmp_path_factory.mktemp("probe")
    x, y = load_split(processed, "train")
    cfg = ClassifierConfig(width=4, feature_dim=8, epochs=1, batch_size=32)
    model, metrics = train_classifier(x, y, cfg)
    save_classifier(model, cfg, metrics, tmp / "clf.pt")
    feats, _ = features_and_predictions(model, to_uint8(x).numpy())
    save_reference(tmp / "ref.npz", feats, {"num_real": len(x), "reference_split": "train",
                                            "weights_sha256": sha256_file(tmp / "clf.pt")}, labels=y.numpy())
    return ProbeFiles(tmp / "clf.pt", tmp / "ref.npz")


def test_training_time_metric_keeps_the_best_checkpoint_and_its_time_apart(processed, probe_files, tmp_path):
    params = params_for("dcgan", 0.32, eval_every_kimg=0.08, eval_num=50)
    result = train_variant(prepare_training(params, "dcgan", 0, processed, tmp_path, probe_files))
    rows = read_rows(tmp_path / HISTORY)
    curve = [(s, v) for s, n, v in rows if n == "fd_domain50"]
    assert [s for s, _ in curve] == [5, 10, 15, 20]  # every 80 images (5 steps of 16), and the end
    best = result.metrics["best"]
    assert best["metric"] == "fd_domain50" and best["value"] == pytest.approx(min(v for _, v in curve), rel=1e-5)
    assert best["step"] == min(curve, key=lambda sv: sv[1])[0]
    best_ckpt = load_checkpoint(tmp_path / "best.pt")
    assert best_ckpt["progress"]["step"] == best["step"] and best_ckpt["D"] is None
    assert result.metrics["eval_wall_clock_s"] > 0
    drawn = sample_checkpoint(tmp_path / "best.pt", SampleConfig(num=8, batch_size=8, grid_size=4), "cpu")
    assert drawn.meta["checkpoint_g_steps"] == best["step"]
    # Resuming keeps the best so far: a larger budget continues from it.
    more = train_variant(prepare_training(params_for("dcgan", 0.48, eval_every_kimg=0.08, eval_num=50),
                                          "dcgan", 0, processed, tmp_path, probe_files))
    assert more.metrics["best"]["value"] <= best["value"]


def test_the_checkpoint_says_what_its_generator_steps_were_fed():
    d = {"D": {}, "train": {"g_step": "shared_fake"}, "variant_config": {"g_step": None}}
    assert trained_g_step(d) == "shared_fake"
    assert trained_g_step({**d, "variant_config": {"g_step": "same_latents"}}) == "same_latents"  # the variant's wins
    assert trained_g_step({**d, "D": None}) is None  # a VAE: one forward per step
    # Checkpoints from before train.g_step recorded train.share_fake.
    assert trained_g_step({"D": {}, "train": {"share_fake": True}, "variant_config": {}}) == "shared_fake"
    assert trained_g_step({"D": {}, "train": {"share_fake": False}, "variant_config": {}}) == "new_latents"


def test_without_evaluation_best_is_the_last_checkpoint(processed, tmp_path):
    result = train("dcgan", 0.08, processed, tmp_path)
    assert result.metrics["best"] is None
    assert load_checkpoint(tmp_path / "best.pt")["progress"]["step"] == result.metrics["g_steps"]


def test_sampling_refuses_another_variants_or_a_broken_checkpoint(processed, tmp_path):
    from ganbench.errors import CheckpointError

    result = train("dcgan", 0.08, processed, tmp_path)
    with pytest.raises(CheckpointError, match="holds a 'dcgan' model, not 'stylegan'"):
        sample_checkpoint(result.checkpoint, SampleConfig(num=4, batch_size=4, grid_size=4), "cpu",
                          variant="stylegan")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(result.checkpoint.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated.pt is unreadable"):
        sample_checkpoint(truncated, SampleConfig(num=4, batch_size=4, grid_size=4), "cpu")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt lacks"):
        sample_checkpoint(foreign, SampleConfig(num=4, batch_size=4, grid_size=4), "cpu")


def assert_same(a, b, where=""):
    """Bitwise equality of nested checkpoint parts (dicts, lists, tensors, numbers)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def test_the_ema_generator_is_saved_with_batchnorm_statistics_of_its_own_weights(processed, tmp_path):
    from ganbench.models.checkpoint import networks_from_checkpoint
    from ganbench.training.ema import BatchNormRecalibration, recalibration_seed

    result = train("dcgan", 0.16, processed, tmp_path, eval_every_kimg=0)
    for path in (result.checkpoint, tmp_path / "best.pt"):
        ckpt = load_checkpoint(path)
        stats = [k for k in ckpt["G"] if k.endswith(("running_mean", "running_var"))]
        # Not the trained generator's statistics: they belong to other weights.
        assert stats and not any(torch.equal(ckpt["G"][k], ckpt["G_ema"][k]) for k in stats)
        _, _, G_ema, _, _ = networks_from_checkpoint(ckpt)
        BatchNormRecalibration(batches=ckpt["train"]["ema_bn_batches"], batch_size=16, z_dim=G_ema.z_dim,
                               num_classes=0, seed=recalibration_seed(0), device=torch.device("cpu"))(G_ema)
        recomputed = G_ema.state_dict()
        for k in stats:  # the same forward passes, in another memory layout: rounding only
            torch.testing.assert_close(recomputed[k], ckpt["G_ema"][k], rtol=1e-5, atol=1e-6, msg=k)


def test_batchnorm_recalibration_leaves_the_training_alone(processed, tmp_path, monkeypatch):
    """The raw G and D (and their optimizers) train bitwise the same whatever the
    recalibration does, and with none at all."""
    from ganbench.training.ema import BatchNormRecalibration

    runs = [train("dcgan", 0.16, processed, tmp_path / "one", ema_bn_batches=1),
            train("dcgan", 0.16, processed, tmp_path / "three", ema_bn_batches=3)]
    monkeypatch.setattr(BatchNormRecalibration, "__call__", lambda self, model: None)
    runs.append(train("dcgan", 0.16, processed, tmp_path / "none", ema_bn_batches=3))
    first, *others = [load_checkpoint(r.checkpoint) for r in runs]
    for other in others:
        for key in ("G", "D", "opt_G", "opt_D", "sampler", "rng"):
            assert_same(first[key], other[key], key)
    # Only the EMA generator's BatchNorm statistics differ.
    assert not torch.equal(first["G_ema"]["net.1.running_mean"], others[0]["G_ema"]["net.1.running_mean"])
    for k, v in first["G_ema"].items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, others[0]["G_ema"][k]), k


def test_training_metrics_and_samples_record_the_ema_half_life_in_effect(processed, tmp_path):
    # 10 G steps of 2 critic batches of 16: 320 images; the ramp-up caps 50 images at 16.
    result = train("wgan_gp", 0.32, processed, tmp_path, ema_kimg=0.05, ema_rampup=0.05)
    m = result.metrics
    assert m["images_seen"] == 320 and (m["ema_kimg"], m["ema_rampup"]) == (0.05, 0.05)
    assert m["ema_half_life_kimg"] == pytest.approx(0.016) and m["ema_half_life_g_steps"] == pytest.approx(0.5)
    drawn = sample_checkpoint(result.checkpoint, SampleConfig(num=4, batch_size=4, grid_size=4), "cpu")
    assert drawn.meta["ema_half_life_kimg"] == pytest.approx(0.016)
    assert drawn.meta["ema_half_life_g_steps"] == pytest.approx(0.5)
    raw = sample_checkpoint(result.checkpoint, SampleConfig(num=4, batch_size=4, grid_size=4, generator="raw"), "cpu")
    assert raw.meta["ema_half_life_kimg"] is None
    past = train("wgan_gp", 0.32, processed, tmp_path / "no-ramp", ema_kimg=0.05, ema_rampup=0.0)
    assert past.metrics["ema_half_life_kimg"] == pytest.approx(0.05)
    assert past.metrics["ema_half_life_g_steps"] == pytest.approx(50 / 32)


def test_the_training_time_evaluation_draws_as_the_sample_stage_does(processed, probe_files, tmp_path):
    def setup_for(sample):
        params = parse_params({"variants": ["dcgan"], "sample": sample,
                               "train": {"budget": "kimg", "kimg": 0.08, "batch_size": 16, "eval_num": 20},
                               "runtime": {"device": "cpu"}, "dcgan": TINY["dcgan"]}, VARIANTS)
        return prepare_training(params, "dcgan", 0, processed, tmp_path, probe_files)

    default = setup_for({})
    assert default.probe.batchnorm == "running"  # the default sample.batchnorm
    assert default.ident["probe"]["batchnorm"] == "running" and default.ident["probe"]["generator"] == "ema"
    batch = setup_for({"batchnorm": "batch", "batch_size": 10})
    assert batch.probe.batchnorm == "batch" and batch.probe.batch_size == 10
    assert batch.ident["probe"]["batch_size"] == 10
    # The probe's value is the Fréchet distance of what generate() draws in that mode.
    G = batch.trainee.sampling_G()
    assert batch.probe(G) != default.probe(G)


def test_the_training_time_evaluation_refuses_test_images(processed, probe_files, tmp_path):
    from ganbench.errors import DataError
    from ganbench.metrics.reference import load_reference, save_reference
    from ganbench.training.setup import ProbeFiles

    ref = load_reference(probe_files.reference, "")
    save_reference(tmp_path / "test.npz", ref.features, {**ref.meta, "reference_split": "test"})
    params = params_for("dcgan", 0.08, eval_num=20)
    with pytest.raises(DataError, match="holds test images.*data/probe-reference/features.npz"):
        prepare_training(params, "dcgan", 0, processed, tmp_path / "m", ProbeFiles(probe_files.classifier,
                                                                                     tmp_path / "test.npz"))


def test_auto_hyper_parameters_are_resolved_into_the_checkpoint_identity(processed, tmp_path):
    params = parse_params({"variants": ["stylegan"], "runtime": {"device": "cpu"},
                           "train": {"budget": "kimg", "kimg": 0.08, "batch_size": 16},
                           "stylegan": TINY["stylegan"]}, VARIANTS)
    setup = prepare_training(params, "stylegan", 0, processed, tmp_path)
    # stylegan2-ada's auto rules at 32×32, batch 16: ema_kimg 16·10/32, γ = 0.0002·32²/16.
    assert setup.ident["train"]["ema_kimg"] == 5.0 and setup.ident["train"]["ema_rampup"] == 0.05
    assert setup.ident["variant_config"]["loss"]["r1_gamma"] == pytest.approx(0.0128)
    assert setup.trainee.ema.half_life_kimg == 5.0 and setup.trainee.objective.cfg.r1_gamma == pytest.approx(0.0128)
