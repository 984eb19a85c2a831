"""protocol_difference: the one function the report and `ganbench check` ask whether two
scores may be compared (issue 16)."""

from __future__ import annotations

import pytest

from ganbench.protocol import PROTOCOL_FIELDS, protocol, protocol_difference
from tests.report_outputs import provenance


@pytest.mark.parametrize("field,value,said", [
    ("num_real", 10000, "num_real 2000 vs 10000"),
    ("reference_split", "train", "reference_split test vs train"),
    ("weights_sha256", "ef" * 32, "weights_sha256 abababababab… vs efefefefefef…"),
    ("resize", "nearest", "resize bilinear to 299x299 vs nearest"),
    ("class_reference", "true labels", "class_reference not recorded vs true labels"),
    ("samples.truncation", 0.7, "samples.truncation 1.0 vs 0.7"),
    ("samples.dtype", "float32", "samples.dtype uint8 vs float32"),  # not recorded = uint8 (FIELD_DEFAULTS)
])
def test_names_the_field_that_differs(field, value, said):
    a = provenance("fid2k", 0)
    b = provenance("fid2k", 0, **{field: value})
    assert protocol_difference(a, b) == said
    assert protocol_difference(protocol(a), protocol(b)) == said           # flat protocol dicts too


def test_none_when_only_what_does_not_define_a_protocol_differs():
    a = provenance("fid2k", 0)
    b = provenance("fid2k", 1, **{"samples.seed": 9, "versions": {"torch": "9"}, "engine": "torch"})
    assert protocol_difference(a, b) is None
    assert protocol_difference(a, provenance("fid2k", 0, num_real=2000.0)) is None      # 2000 == 2000.0
    # a mode that does not apply (no BatchNorm: None) matches either mode
    assert protocol_difference(a, provenance("fid2k", 0, **{"samples.batchnorm": None})) is None
    # samples made before sample.dtype was recorded were uint8
    assert protocol_difference(a, provenance("fid2k", 0, **{"samples.dtype": "uint8"})) is None


def test_the_first_differing_field_in_order_and_unknown_provenance():
    a = provenance("fid2k", 0)
    b = provenance("fid2k", 0, num_real=250, resize="nearest", dataset="mnist")
    assert protocol_difference(a, b) == "dataset fashion-mnist vs mnist"
    assert PROTOCOL_FIELDS[0] == "dataset"
    assert protocol_difference({}, {}) is None
    assert protocol_difference(a, {}) == "dataset fashion-mnist vs not recorded"


def test_lookup_reads_nested_keys_flat_keys_and_list_indices():
    from ganbench.protocol import lookup

    tree = {"samples": {"generator": "ema"}, "d_optim": {"betas": [0.5, 0.999]}, "samples.n": 3}
    assert lookup(tree, "samples.generator") == "ema"
    assert lookup(tree, "samples.n") == 3
    assert lookup(tree, "d_optim.betas.1") == 0.999
    for absent in ("d_optim.betas.2", "d_optim.betas.x", "samples.generator.x", "nothing"):
        assert lookup(tree, absent) is None
