"""Class labels as a network input (ganbench.nn.labels): one home for the embedding table
and the missing-labels check that DCGAN, the VAE and the InfoGAN networks share."""

from __future__ import annotations

import pytest
import torch

from ganbench.models import VARIANTS
from ganbench.models.base import Geometry
from ganbench.nn.labels import embed_labels, label_embedding, with_labels


def test_an_unconditional_network_has_no_table_and_ignores_labels():
    assert label_embedding(0, 8) is None
    x = torch.randn(3, 5)
    assert embed_labels(None, torch.tensor([1, 2, 0]), "generator") is None
    assert with_labels(x, None, None, "generator") is x


def test_labels_are_appended_as_their_embeddings():
    torch.manual_seed(0)
    table = label_embedding(4, 2)
    x, c = torch.randn(3, 5), torch.tensor([3, 0, 3])
    out = with_labels(x, table, c, "generator")
    assert out.shape == (3, 7)
    assert torch.equal(out[:, :5], x) and torch.equal(out[:, 5:], table.weight[c])
    assert torch.equal(out[0, 5:], out[2, 5:])   # same label, same vector


@pytest.mark.parametrize("variant", ["dcgan", "vae", "lucic_ns", "lucic_vae"])
def test_a_conditional_network_without_labels_says_which_network(variant):
    from tests.fixtures import TINY_MODEL

    spec = VARIANTS.get(variant)
    cfg = spec.parse({"model": TINY_MODEL[variant]}, prefix=variant)
    res = 28 if variant.startswith("lucic") else 32
    G, D = spec.build(cfg.model, Geometry(channels=1, resolution=res, num_classes=10))
    with pytest.raises(ValueError, match="conditional .*needs class labels c"):
        G(torch.randn(2, G.z_dim))
    if D is not None:
        with pytest.raises(ValueError, match="conditional discriminator needs class labels c"):
            D(torch.zeros(2, 1, res, res))
