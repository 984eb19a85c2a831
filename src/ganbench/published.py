"""Whether a score was made as a published one was: field by field, with what differs.

A published FID can be set beside one of ganbench's only where every field that changes
the number matches: the data and its geometry, the reference, both sample counts, the
feature extractor and its weights, the image path into it, the networks, the objective's
family and what its generator step is fed, the training budget and the generator that was
sampled. :func:`compare` checks a
score's provenance against a :class:`PublishedProtocol` and says
``comparable_with_published`` (true only when nothing differs) and which fields differ,
each with both values. A field that ganbench's pipeline could only do its own way would be
listed in ``fixed_differences``, so that no number is called comparable while it stands;
the lucic profile (params.lucic.yaml) sets every field as compare_gan does.

The one published protocol here is Lucic et al. 2018 on Fashion-MNIST as google/compare_gan
v1 runs it (docs/lucic_protocol.md has the reading of its source, with line numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ganbench.protocol import INCEPTION_PREPROCESS, lookup


#: A field's test: ``match(value, provenance)``, the recorded value and the whole provenance.
Match = Callable[[Any, Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Field:
    """One protocol field: where it is in the provenance (dotted), what the published
    protocol had (in words) and the test a recorded value must pass."""

    key: str
    published: str
    #: ``matches(value, prov)``: the recorded value, and the whole provenance for a field
    #: whose published value depends on the run (e.g. on the objective).
    matches: Match
    #: How the value is read from a provenance, where it is not the one dotted ``key``.
    read: Callable[[Mapping[str, Any]], Any] | None = None

    def value(self, prov: Mapping[str, Any]) -> Any:
        return self.read(prov) if self.read is not None else lookup(prov, self.key)

    def holds(self, prov: Mapping[str, Any]) -> bool:
        return self.matches(self.value(prov), prov)


@dataclass(frozen=True)
class PublishedProtocol:
    name: str
    citation: str
    #: Metrics (registry names) whose scores the protocol published.
    metrics: tuple[str, ...]
    fields: tuple[Field, ...]
    #: What ganbench always does otherwise (field → (published, ganbench's)).
    fixed_differences: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Points believed equal but not verified against the published code.
    caveats: tuple[str, ...] = ()


def _value(test: Callable[[Any], bool]) -> Match:
    """A field whose published value is one for every run: ``test`` sees the value alone."""
    return lambda got, _prov: test(got)


def _equals(value: Any) -> Match:
    return _value(lambda got: got == value)


def _close(value: float) -> Match:
    return _value(lambda got: isinstance(got, (int, float)) and abs(float(got) - value) < 1e-6)


#: compare_gan v1 (commit fbbc05a): 15,625 D steps at batch 64 (generate_tasks_lib.py
#: TuneParams: 20 * 50000 // 64), i.e. 1,000 kimg of real images shown to D.
LUCIC_D_STEPS = 15_625
LUCIC_BATCH = 64
LUCIC_KIMG = LUCIC_D_STEPS * LUCIC_BATCH / 1000


#: compare_gan's models without a discriminator (their one step trains the whole model).
LUCIC_NO_DISCRIMINATOR = frozenset({"lucic_vae"})


def compare_gan_g_step(variant: str | None) -> str | None:
    """What compare_gan v1 feeds a generator step (abstract_gan.py ``run_single_train_step``):
    a second G forward on the latents of the D step before it (``same_latents``, so G's
    BatchNorm statistics move twice per step), except WGAN-GP, which draws new latents first
    (WGAN_GP.py ``resample_before_generator``); the VAE has one step, one forward (None)."""
    if variant in LUCIC_NO_DISCRIMINATOR:
        return None
    return "new_latents" if variant == "lucic_wgan_gp" else "same_latents"


def compare_gan_steps(prov: Mapping[str, Any]) -> Any:
    """The sampled checkpoint's count on compare_gan's step counter (``training_steps``): D
    steps for a GAN; the VAE, without a discriminator, counts its own steps of one batch
    each (``samples.checkpoint_g_steps``)."""
    variant = lookup(prov, "samples.variant")
    return lookup(prov, "samples.checkpoint_g_steps" if variant in LUCIC_NO_DISCRIMINATOR
                  else "samples.checkpoint_d_steps")


LUCIC_2018_FASHION_MNIST = PublishedProtocol(
    name="lucic2018-fashion-mnist",
    citation="Lucic et al. 2018, Are GANs Created Equal?, Fashion-MNIST (google/compare_gan v1, fbbc05a)",
    metrics=("fid",),
    fields=(
        Field("dataset", "fashion-mnist", _equals("fashion-mnist")),
        Field("image_shape", "[1, 28, 28]: native 28x28, no padding", _equals([1, 28, 28])),
        Field("reference_split", "test", _equals("test")),
        Field("num_real", "10000: the whole test split", _equals(10_000)),
        Field("num_gen", "10000", _equals(10_000)),
        Field("feature_extractor", "Inception pool3, 2048-d",
              _value(lambda got: isinstance(got, str) and "pool3" in got and "2048" in got)),
        Field("weights_source", "the 2015-12-05 FID Inception graph",
              _value(lambda got: got in ("download", "fid-helper"))),
        Field("resize", "TF1 resize_bilinear to 299x299 (legacy sampling, no half-pixel centres) of float pixels "
              "in [0, 255], (x - 128)/128 (evaluate.inception_preprocess: tf1)", _equals(INCEPTION_PREPROCESS["tf1"])),
        Field("samples.variant", "InfoGAN-style networks, one of compare_gan's objectives (a lucic_* variant)",
              _value(lambda got: isinstance(got, str) and got.startswith("lucic_"))),
        Field("samples.generator", "raw (no EMA)", _equals("raw")),
        Field("samples.batchnorm", "running (inference-mode BatchNorm)",
              _value(lambda got: got in ("running", None))),
        Field("samples.truncation", "1.0", _close(1.0)),
        Field("samples.checkpoint_kimg", f"{LUCIC_KIMG:g} kimg of real images", _close(LUCIC_KIMG)),
        Field("samples.dtype", "float32: the generator's output x 255, unrounded (sample.dtype: float32)",
              _equals("float32")),
        Field("samples.compare_gan_steps", f"{LUCIC_D_STEPS} steps of compare_gan's counter at batch "
              f"{LUCIC_BATCH}: D steps (the VAE: its own steps)", _equals(LUCIC_D_STEPS), read=compare_gan_steps),
        Field("samples.g_step", "compare_gan's generator step: G run again on the D step's latents "
              "(same_latents; WGAN-GP: new_latents; the VAE: none)",
              lambda got, prov: got == compare_gan_g_step(lookup(prov, "samples.variant"))),
    ),
    fixed_differences={},
    caveats=(
        "compare_gan's graph (inceptionv1_for_inception_score.pb, frozen 2015-12-05) is believed to hold the "
        "weights of pytorch-fid's port; not verified",
        "compare_gan updates G every disc_iters D steps from step 1 (3,126 G steps of 15,625 at disc_iters 5), "
        "ganbench after each n_critic D steps (3,125)",
    ),
)

PUBLISHED = {p.name: p for p in (LUCIC_2018_FASHION_MNIST,)}


def compare(prov: Mapping[str, Any], protocol: PublishedProtocol = LUCIC_2018_FASHION_MNIST) -> dict[str, Any]:
    """``{"protocol", "citation", "comparable_with_published", "differs": [{"field",
    "published", "ours"}], "caveats"}`` for a score's provenance ``prov``."""
    differs = [{"field": f.key, "published": f.published, "ours": f.value(prov)}
               for f in protocol.fields if not f.holds(prov)]
    differs += [{"field": key, "published": published, "ours": ours}
                for key, (published, ours) in protocol.fixed_differences.items()]
    return {"protocol": protocol.name, "citation": protocol.citation, "comparable_with_published": not differs,
            "differs": differs, "caveats": list(protocol.caveats)}
