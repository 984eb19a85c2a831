"""The search's settings (compare_gan's ranges, a knob only where the variant has the
field), its -S overrides (valid params, nothing selected on the test split) and its
aggregate (best of K, median, the expected best of k exactly)."""

from __future__ import annotations

import itertools
import statistics

import pytest
import yaml

from ganbench.config import parse_params
from ganbench.models import LUCIC_VARIANTS, VARIANTS
from ganbench.models.base import variant_config_to_dict
from ganbench.search import expected_best, experiment_name, overrides, sample_settings, summarize


def section(variant: str) -> dict:
    return variant_config_to_dict(VARIANTS.get(variant).parse(None, prefix=variant))


def apply(params: dict, sets: list[str]) -> dict:
    """What `dvc exp run -S key=value` does to params.yaml: each value parsed as YAML."""
    for item in sets:
        key, _, value = item.partition("=")
        *parents, last = key.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return params


def test_first_setting_is_the_default_and_draws_are_seeded():
    s = section("lucic_ns")
    a, b = sample_settings(s, 5, "123/lucic_ns"), sample_settings(s, 5, "123/lucic_ns")
    assert a == b and a[0] == {} and len(a) == 5
    assert sample_settings(s, 5, "124/lucic_ns") != a


@pytest.mark.parametrize("variant", LUCIC_VARIANTS)
def test_wide_range_knobs_apply_where_the_variant_has_the_field(variant):
    settings = sample_settings(section(variant), 40, 0)[1:]
    knobs = set(settings[0])
    expected = {"learning_rate", "beta1", "discriminator_batchnorm"}
    if variant != "lucic_vae":
        expected.add("disc_iters")
    if variant == "lucic_wgan":
        expected.add("weight_clipping")
    if variant in ("lucic_wgan_gp", "lucic_dragan"):
        expected.add("lambda")
    assert knobs == expected
    for s in settings:  # compare_gan v1 params.py's wide range
        assert 1e-5 <= s["learning_rate"] <= 1e-2 and 0 <= s["beta1"] < 1
        assert s.get("disc_iters", 1) in (1, 5) and s["discriminator_batchnorm"] in (True, False)
        assert 1e-3 <= s.get("weight_clipping", 0.01) <= 1 and 0.1 <= s.get("lambda", 1.0) <= 100
    lrs = [s["learning_rate"] for s in settings]
    assert min(lrs) < 1e-4 < 1e-3 < max(lrs)  # log-uniform over three decades


def test_narrow_range():
    for s in sample_settings(section("lucic_dragan"), 20, 0, "narrow")[1:]:
        assert s["beta1"] == 0.5 and s["disc_iters"] == 1 and s["discriminator_batchnorm"] is False
        assert 1e-4 <= s["learning_rate"] <= 1e-3 and 0.1 <= s["lambda"] <= 10
    assert {s["discriminator_batchnorm"] for s in sample_settings(section("lucic_ns"), 30, 0, "narrow")[1:]} == {
        True, False}


@pytest.mark.parametrize("variant", ["lucic_wgan", "lucic_vae"])
def test_overrides_make_valid_params_that_select_on_the_training_split(variant):
    sec = section(variant)
    setting = sample_settings(sec, 2, 7)[1]
    sets = overrides(variant, sec, setting, num_real=5000)
    assert sets[:4] == [f"variants=[{variant}]", "seeds=[0]", "evaluate.reference_split=train",
                        "evaluate.num_real=5000"]
    params = apply({variant: sec}, sets)
    p = parse_params(params, VARIANTS)
    cfg = p.model(variant)
    assert p.variants == (variant,) and p.seeds == (0,) and p.evaluate.reference_split == "train"
    assert cfg.g_optim.lr == pytest.approx(setting["learning_rate"])
    assert cfg.g_optim.betas == pytest.approx((setting["beta1"], 0.999))
    assert cfg.model.d_batchnorm is setting["discriminator_batchnorm"]
    if variant == "lucic_wgan":
        assert cfg.d_optim == cfg.g_optim and cfg.loss.n_critic == setting["disc_iters"]
        assert cfg.loss.clip == pytest.approx(setting["weight_clipping"])
    else:
        assert cfg.d_optim is None and not any("d_optim" in s for s in sets)
    assert experiment_name(variant, 7) == f"search-{variant.replace('_', '-')}-007"


def test_expected_best_by_hand_and_against_enumeration():
    assert expected_best([3.0, 1.0, 2.0]) == pytest.approx([2.0, 4 / 3, 1.0])
    values = [5.0, 2.0, 9.0, 4.0, 7.0]
    for k, got in enumerate(expected_best(values), start=1):
        subsets = list(itertools.combinations(values, k))
        assert got == pytest.approx(statistics.mean(min(s) for s in subsets))
    assert expected_best([1.0, 3.0], lower_is_better=False) == pytest.approx([2.0, 3.0])


def test_summarize():
    out = summarize({"lucic_ns": {"a": 30.0, "b": 25.0, "c": 40.0}, "lucic_vae": {}})
    assert set(out) == {"lucic_ns"}
    s = out["lucic_ns"]
    assert (s["k"], s["best"], s["best_experiment"], s["median"]) == (3, 25.0, "b", 30.0)
    assert s["expected_best"][0] == pytest.approx(95 / 3) and s["expected_best"][-1] == 25.0
