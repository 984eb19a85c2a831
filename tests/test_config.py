"""params.yaml validation: names and types fail early with the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ganbench.config import flatten, load_params
from ganbench.errors import ParamsError
from ganbench.models import VARIANTS

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, data) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.mark.parametrize("name", ["params.yaml", "params.ci.yaml"])
def test_committed_params_files_are_valid(name):
    p = load_params(ROOT / name)
    # The default run and the CI run both compare every registered variant.
    assert sorted(p.variants) == sorted(VARIANTS.names())
    for v in p.variants:
        VARIANTS.get(v).parse(p.variant_section(v), prefix=v)


def test_wrong_type_names_the_key(tmp_path):
    with pytest.raises(ParamsError, match=r"'train.kimg' must be float, got 'ten'"):
        load_params(write(tmp_path, {"train": {"kimg": "ten"}, "variants": [], }))


def test_misspelt_key_lists_known_keys(tmp_path):
    with pytest.raises(ParamsError, match=r"unknown params key 'train.kmig'.*known keys: .*kimg"):
        load_params(write(tmp_path, {"train": {"kmig": 3}, "variants": []}))


def test_misspelt_section(tmp_path):
    with pytest.raises(ParamsError, match=r"unknown params section 'trian'"):
        load_params(write(tmp_path, {"trian": {}, "variants": []}))


def test_unknown_variant(tmp_path):
    with pytest.raises(ParamsError, match=r"unknown variant 'biggan'; choose one of: .*dcgan"):
        load_params(write(tmp_path, {"variants": ["biggan"]}))


def test_variant_needs_its_section(tmp_path):
    with pytest.raises(ParamsError, match=r"no section 'dcgan:'"):
        load_params(write(tmp_path, {"variants": ["dcgan"]}))


def test_variant_section_is_typed(tmp_path):
    with pytest.raises(ParamsError, match=r"'dcgan.model.g_channels' must be int"):
        load_params(write(tmp_path, {"variants": ["dcgan"], "dcgan": {"model": {"g_channels": "big"}}}))
    with pytest.raises(ParamsError, match=r"unknown loss 'hinge'"):
        load_params(write(tmp_path, {"variants": ["dcgan"], "dcgan": {"loss": {"name": "hinge"}}}))
    with pytest.raises(ParamsError, match=r"'dcgan.g_optim.betas' must be a list of 2 items"):
        load_params(write(tmp_path, {"variants": ["dcgan"], "dcgan": {"g_optim": {"betas": [0.5]}}}))


def test_loss_switch_replaces_loss_defaults(tmp_path):
    p = load_params(write(tmp_path, {"variants": ["dcgan"], "dcgan": {"loss": {"name": "wgan_clip"}}}))
    cfg = VARIANTS.get("dcgan").parse(p.variant_section("dcgan"))
    assert cfg.loss.name == "wgan_clip" and cfg.loss.clip == 0.01 and cfg.loss.n_critic == 5


def test_scientific_notation_floats(tmp_path):
    p = load_params(write(tmp_path, {"variants": ["dcgan"], "dcgan": {"g_optim": {"lr": "2e-4"}}}))
    assert VARIANTS.get("dcgan").parse(p.variant_section("dcgan")).g_optim.lr == 2e-4


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
