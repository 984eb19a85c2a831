"""The lucic profile resolves to Lucic et al. 2018's protocol, and a score's provenance
says whether it is comparable with the published numbers, and what differs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ganbench.config import deep_merge, flatten, parse_params, read_yaml
from ganbench.config.loader import default_params
from ganbench.metrics.extract import INCEPTION_EXTRACTOR
from ganbench.models import LUCIC_VARIANTS, VARIANTS
from ganbench.protocol import INCEPTION_PREPROCESS
from ganbench.published import LUCIC_2018_FASHION_MNIST, LUCIC_D_STEPS, compare, compare_gan_g_step

ROOT = Path(__file__).resolve().parents[1]
F_MNIST_TEST_IMAGES = 10_000


def profile():
    return parse_params(deep_merge(read_yaml(ROOT / "params.yaml"), read_yaml(ROOT / "params.lucic.yaml")),
                        VARIANTS)


def provenance_of(p, variant: str) -> dict:
    """The FID provenance the evaluate stage records for a run made with params ``p``
    (what evaluate_samples and the sample stage put there)."""
    return {
        "dataset": p.data.dataset, "image_shape": [p.data.channels, p.data.resolution, p.data.resolution],
        "reference_split": p.evaluate.reference_split,
        "num_real": p.evaluate.num_real or F_MNIST_TEST_IMAGES, "num_gen": p.evaluate.num_gen,
        "feature_extractor": INCEPTION_EXTRACTOR, "weights_source": "fid-helper",
        "resize": INCEPTION_PREPROCESS[p.evaluate.inception_preprocess],
        "samples": {"variant": variant, "generator": p.sample.generator, "batchnorm": p.sample.batchnorm,
                    "truncation": p.sample.truncation, "dtype": p.sample.dtype, "checkpoint_kimg": p.train.kimg,
                    **steps_of(p, variant), "g_step": g_step_of(p, variant)},
    }


def steps_of(p, variant: str) -> dict[str, int]:
    """The step counts the sample stage records for a run of ``p``'s kimg budget: one D step
    per batch of real images and a G step per n_critic of them; a model without a
    discriminator makes one step per batch and no D steps."""
    batches = round(p.train.kimg * 1000 / p.train.batch_size)
    if not VARIANTS.get(variant).adversarial:
        return {"checkpoint_d_steps": 0, "checkpoint_g_steps": batches}
    return {"checkpoint_d_steps": batches, "checkpoint_g_steps": batches // p.model(variant).loss.n_critic}


def g_step_of(p, variant: str) -> str | None:
    """What the sample stage records as the generator step a run of ``variant`` was trained
    with (models.checkpoint.trained_g_step): none without a discriminator."""
    return p.model(variant).effective_g_step(p.train.g_step)


def test_the_profile_is_the_published_protocol():
    p = profile()
    assert set(p.variants) <= set(LUCIC_VARIANTS) and {"lucic_ns", "lucic_vae"} <= set(p.variants)
    assert (p.data.resolution, p.train.budget, p.train.batch_size) == (28, "kimg", 64)
    assert p.train.kimg * 1000 / p.train.batch_size == LUCIC_D_STEPS
    assert p.train.ema_kimg == 0 and (p.sample.generator, p.sample.batchnorm) == ("raw", "running")
    assert (p.evaluate.num_gen, p.evaluate.num_real, p.evaluate.reference_split) == (10_000, 0, "test")
    assert "fid" in p.evaluate.metrics
    for name in p.variants:  # the study's default settings, as registered
        assert p.model(name) == VARIANTS.get(name).parse(None, prefix=name), name
    # An overlay of known keys only, as params.ci.yaml.
    overlay = flatten(read_yaml(ROOT / "params.lucic.yaml"))
    assert set(overlay) <= set(flatten(default_params(VARIANTS)))
    for name in p.variants:  # every protocol field as compare_gan has it
        differs = compare(provenance_of(p, name))
        assert differs["differs"] == [] and differs["comparable_with_published"] is True, differs


def test_comparable_only_when_nothing_differs():
    prov = provenance_of(profile(), "lucic_ns")
    assert compare(prov)["comparable_with_published"] is True
    prov["num_gen"] = 2000
    got = compare(prov)
    assert got["comparable_with_published"] is False
    assert got["differs"] == [{"field": "num_gen", "published": "10000", "ours": 2000}]
    # pytorch-fid's resize, or rounded samples, are each a difference of their own.
    for key, value in (("resize", INCEPTION_PREPROCESS["pytorch-fid"]), ("samples.dtype", "uint8")):
        other = provenance_of(profile(), "lucic_ns")
        if key == "resize":
            other["resize"] = value
        else:
            other["samples"]["dtype"] = value
        assert [d["field"] for d in compare(other)["differs"]] == [key]
    fixed = dataclasses.replace(LUCIC_2018_FASHION_MNIST, fixed_differences={"x": ("theirs", "ours")})
    assert compare(provenance_of(profile(), "lucic_ns"), fixed)["comparable_with_published"] is False


def test_the_default_protocol_lists_what_differs():
    p = parse_params(read_yaml(ROOT / "params.yaml"), VARIANTS)
    fields = {d["field"] for d in compare(provenance_of(p, "dcgan"))["differs"]}
    assert {"image_shape", "num_gen", "num_real", "samples.variant", "samples.generator",
            "samples.checkpoint_kimg", "resize", "samples.dtype"} <= fields
    assert "dataset" not in fields and "reference_split" not in fields


def test_the_generator_step_is_compare_gans_for_each_objective():
    """compare_gan runs G again on the D step's latents (its BatchNorm statistics move twice
    per step), WGAN-GP on new latents; ganbench's shared fake batch is a difference."""
    p = profile()
    assert {name: g_step_of(p, name) for name in LUCIC_VARIANTS} == \
        {name: compare_gan_g_step(name) for name in LUCIC_VARIANTS}
    assert compare_gan_g_step("lucic_ns") == "same_latents" and compare_gan_g_step("lucic_wgan_gp") == "new_latents"
    for variant, other in (("lucic_ns", "shared_fake"), ("lucic_ns", "new_latents"),
                           ("lucic_wgan_gp", "same_latents")):
        prov = provenance_of(p, variant)
        prov["samples"]["g_step"] = other
        got = compare(prov)
        assert got["comparable_with_published"] is False
        assert [(d["field"], d["ours"]) for d in got["differs"]] == [("samples.g_step", other)]


def test_the_step_count_is_compare_gans_counter_for_gans_and_the_vae():
    """compare_gan's training_steps counts D steps; its VAE, with no D, counts its own steps.
    The VAE's checkpoint records 0 D steps, and is still at the published budget."""
    p = profile()
    vae = provenance_of(p, "lucic_vae")
    assert vae["samples"]["checkpoint_d_steps"] == 0 and vae["samples"]["checkpoint_g_steps"] == LUCIC_D_STEPS
    assert compare(vae)["comparable_with_published"] is True
    ns = provenance_of(p, "lucic_ns")
    ns["samples"]["checkpoint_g_steps"] = LUCIC_D_STEPS
    ns["samples"]["checkpoint_d_steps"] = LUCIC_D_STEPS // 2  # a GAN's G steps do not count
    assert [(d["field"], d["ours"]) for d in compare(ns)["differs"]] == \
        [("samples.compare_gan_steps", LUCIC_D_STEPS // 2)]
    vae["samples"]["checkpoint_g_steps"] = 100
    assert [(d["field"], d["ours"]) for d in compare(vae)["differs"]] == [("samples.compare_gan_steps", 100)]
