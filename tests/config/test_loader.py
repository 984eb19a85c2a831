"""params.yaml: one source of defaults, strict validation with the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ganbench.config import deep_merge, default_params, flatten, load_params, parse_params, read_yaml
from ganbench.errors import ParamsError
from ganbench.models import VARIANTS

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, data) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def load(tmp_path, data):
    return load_params(write(tmp_path, data), VARIANTS)


def test_params_yaml_spells_out_every_default():
    """The typed configs are the one source of defaults; params.yaml states each of them."""
    committed = flatten(read_yaml(ROOT / "params.yaml"))
    defaults = flatten(default_params(VARIANTS))
    assert sorted(committed) == sorted(defaults), set(committed) ^ set(defaults)
    for key, value in defaults.items():
        got = committed[key]
        got = list(got) if isinstance(got, (list, tuple)) else got
        assert got == value, f"params.yaml {key} = {got!r}, the typed default is {value!r}"


def test_ci_params_are_a_small_valid_overlay():
    overlay = flatten(read_yaml(ROOT / "params.ci.yaml"))
    known = flatten(default_params(VARIANTS))
    assert set(overlay) <= set(known), set(overlay) - set(known)
    assert len(overlay) <= 30, "params.ci.yaml should only override what CI changes"
    params = parse_params(deep_merge(read_yaml(ROOT / "params.yaml"), read_yaml(ROOT / "params.ci.yaml")),
                          VARIANTS)
    assert params.variants == load_params(ROOT / "params.yaml", VARIANTS).variants


def test_every_section_is_parsed_once_into_typed_configs(tmp_path):
    p = load(tmp_path, {"variants": ["dcgan"], "dcgan": {"model": {"g_channels": 8}}})
    assert p.model("dcgan").model.g_channels == 8
    assert p.model("dcgan").g_optim.betas == (0.5, 0.999)  # the variant's own default


def test_wrong_type_names_the_key(tmp_path):
    with pytest.raises(ParamsError, match=r"'train.kimg' must be a finite number, got 'ten'"):
        load(tmp_path, {"train": {"kimg": "ten"}, "variants": []})


def test_out_of_range_values_name_the_key(tmp_path):
    with pytest.raises(ParamsError, match=r"'train.kimg' must be > 0"):
        load(tmp_path, {"train": {"kimg": -3}, "variants": []})
    with pytest.raises(ParamsError, match=r"'train.batch_size' must be ≥ 1"):
        load(tmp_path, {"train": {"batch_size": 0}, "variants": []})
    with pytest.raises(ParamsError, match=r"'train.nproc' must be ≥ 1"):
        load(tmp_path, {"train": {"nproc": 0}, "variants": []})
    with pytest.raises(ParamsError, match=r"'train.budget' must be one of 'kimg' \| 'g_steps' \| 'seconds'"):
        load(tmp_path, {"train": {"budget": "epochs"}, "variants": []})


def test_misspelt_key_suggests_the_right_one(tmp_path):
    with pytest.raises(ParamsError, match=r"unknown params key 'train.kmig'.*did you mean 'kimg'.*known keys"):
        load(tmp_path, {"train": {"kmig": 3}, "variants": []})


def test_misspelt_section(tmp_path):
    with pytest.raises(ParamsError, match=r"unknown params section 'trian'.*did you mean 'train'"):
        load(tmp_path, {"trian": {}, "variants": []})


def test_unknown_variant(tmp_path):
    with pytest.raises(ParamsError, match=r"unknown variant 'dcgna' \(did you mean 'dcgan'\?\)"):
        load(tmp_path, {"variants": ["dcgna"]})


def test_variant_needs_its_section(tmp_path):
    with pytest.raises(ParamsError, match=r"no section 'dcgan:'"):
        load(tmp_path, {"variants": ["dcgan"]})


def test_variant_section_is_typed(tmp_path):
    with pytest.raises(ParamsError, match=r"'dcgan.model.g_channels' must be int"):
        load(tmp_path, {"variants": ["dcgan"], "dcgan": {"model": {"g_channels": "big"}}})
    with pytest.raises(ParamsError, match=r"'dcgan.loss.name' is 'hinge', an unknown loss"):
        load(tmp_path, {"variants": ["dcgan"], "dcgan": {"loss": {"name": "hinge"}}})
    with pytest.raises(ParamsError, match=r"'dcgan.g_optim.betas' must be a list of 2 items"):
        load(tmp_path, {"variants": ["dcgan"], "dcgan": {"g_optim": {"betas": [0.5]}}})


def test_the_generator_step_is_typed_and_the_old_key_names_its_successor(tmp_path):
    p = load(tmp_path, {"variants": ["dcgan"], "train": {"g_step": "new_latents"},
                        "dcgan": {"g_step": "same_latents"}})
    assert (p.train.g_step, p.model("dcgan").g_step) == ("new_latents", "same_latents")
    with pytest.raises(ParamsError, match=r"'dcgan.g_step' must be 'shared_fake' \| 'same_latents'"):
        load(tmp_path, {"variants": ["dcgan"], "dcgan": {"g_step": "twice"}})
    with pytest.raises(ParamsError, match=r"'train.share_fake' was replaced by 'train.g_step' \(true: "
                                          r"shared_fake, false: new_latents"):
        load(tmp_path, {"variants": [], "train": {"share_fake": False}})


def test_loss_switch_replaces_loss_defaults(tmp_path):
    p = load(tmp_path, {"variants": ["dcgan"], "dcgan": {"loss": {"name": "wgan_clip"}}})
    cfg = p.model("dcgan")
    assert cfg.loss.name == "wgan_clip" and cfg.loss.clip == 0.01 and cfg.loss.n_critic == 5


def test_scientific_notation_floats(tmp_path):
    p = load(tmp_path, {"variants": ["dcgan"], "dcgan": {"g_optim": {"lr": "2e-4"}}})
    assert p.model("dcgan").g_optim.lr == 2e-4


def test_ema_sampling_needs_an_ema(tmp_path):
    with pytest.raises(ParamsError, match=r"sample.generator.*ema_kimg"):
        load(tmp_path, {"variants": [], "train": {"ema_kimg": 0}, "sample": {"generator": "ema"}})


def test_auto_follows_stylegan2_ada_and_resolves_to_the_former_defaults(tmp_path):
    """train.py's `auto` cfg: ema_kimg = batch·10/32, ema_rampup = 0.05, γ = 0.0002·res²/batch.
    The defaults (32×32, batch 32) resolve to the numbers params.yaml used to state."""
    committed = read_yaml(ROOT / "params.yaml")
    assert committed["train"]["ema_kimg"] == committed["train"]["ema_rampup"] == "auto"
    assert committed["stylegan"]["loss"]["r1_gamma"] == "auto"
    p = load_params(ROOT / "params.yaml", VARIANTS)
    assert (p.train.ema_kimg, p.train.ema_rampup, p.model("stylegan").loss.r1_gamma) == (10.0, 0.05, 0.0064)
    p = load(tmp_path, {"variants": ["stylegan"], "data": {"resolution": 64}, "train": {"batch_size": 64},
                        "stylegan": {}})
    assert p.train.ema_kimg == 20.0 and p.model("stylegan").loss.r1_gamma == pytest.approx(0.0002 * 64**2 / 64)
    p = load(tmp_path, {"variants": ["stylegan"], "train": {"ema_kimg": 3.0, "ema_rampup": 0.0},
                        "stylegan": {"loss": {"r1_gamma": 0.5}}})
    assert (p.train.ema_kimg, p.train.ema_rampup, p.model("stylegan").loss.r1_gamma) == (3.0, 0.0, 0.5)
    with pytest.raises(ParamsError, match=r"'train.ema_kimg' must be ≥ 0 or auto"):
        load(tmp_path, {"variants": [], "train": {"ema_kimg": -1}})
    with pytest.raises(ParamsError, match=r"'train.ema_kimg' must be float \| 'auto', got 'automatic'"):
        load(tmp_path, {"variants": [], "train": {"ema_kimg": "automatic"}})


def test_flatten_and_merge():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
    assert deep_merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]}) == {"a": {"b": 1, "c": 3}, "l": [2]}
