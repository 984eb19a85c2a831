"""WGAN-GP variant: paper defaults and a critic without batch coupling.

The shared network-contract tests (shapes, range, gradients, finite steps) run
for wgan_gp in test_stylegan.py, parametrised over both variants."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.errors import ParamsError
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry
from ganbench.models.dcgan import DCGANDiscriminator, DCGANGenerator

SMALL = {"z_dim": 16, "g_channels": 8, "d_channels": 8}


def test_reuses_dcgan_networks_with_a_normalisation_free_critic():
    spec = VARIANTS.get("wgan_gp")
    G, D = spec.build(spec.parse({"model": SMALL}).model, Geometry(1, 32, 0))
    assert isinstance(G, DCGANGenerator) and isinstance(D, DCGANDiscriminator)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in D.modules())
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())


def test_critic_scores_do_not_depend_on_the_rest_of_the_batch():
    spec = VARIANTS.get("wgan_gp")
    _, D = spec.build(spec.parse({"model": SMALL}).model, Geometry(1, 32, 0))
    D.train()
    x = torch.randn(6, 1, 32, 32)
    torch.testing.assert_close(D(x)[:2], D(x[:2]), rtol=1e-4, atol=1e-5)


def test_batchnorm_critic_is_rejected_and_overrides_merge():
    spec = VARIANTS.get("wgan_gp")
    with pytest.raises(ParamsError, match="d_batchnorm"):
        spec.parse({"model": {"d_batchnorm": True, "d_layernorm": False}})
    cfg = spec.parse({"model": {"d_layernorm": False}, "loss": {"n_critic": 3}})
    assert cfg.model.d_layernorm is False and cfg.loss.n_critic == 3
    assert cfg.loss.gp_weight == 10.0  # the rest of the default loss section survives
