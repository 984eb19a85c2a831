"""Protocols: which scores may be compared, for the report and for ``ganbench check``.

Every score of ``metrics/eval/<run>.json`` carries a provenance dict.  Its *protocol* is
the part that changes the number: dataset, reference split, both sample counts, image
shape, feature extractor and its weights, resize, how samples were drawn (generator
kind, truncation, BatchNorm mode, last/best checkpoint, uint8 or float pixels), the metric's own knobs (KID
subset size, precision/recall k) and what class coverage compares with.  Two scores are
comparable only when every protocol field matches; a metric's name carries only N, so
``fid2k`` against 2,000 and against 10,000 real images share a name but not a protocol.
The seed of the samples, the library versions and the Inception engine are recorded but
do not change the protocol.  A field recorded as None where it does not apply
(``samples.batchnorm`` of a generator without BatchNorm) matches any value.

This module imports nothing of the report, so the check can use it alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: Provenance fields that must agree for two scores to be comparable (a protocol).
PROTOCOL_FIELDS = ("dataset", "reference_split", "num_real", "num_gen", "image_shape", "feature_extractor",
                   "weights_sha256", "feature_dim", "resize", "kid_subset_size", "pr_k", "class_reference",
                   "samples.generator", "samples.truncation", "samples.batchnorm", "samples.checkpoint",
                   "samples.dtype")

#: What a field means when a provenance has none, because it was recorded only later:
#: samples were uint8 before ``sample.dtype`` existed.
FIELD_DEFAULTS: dict[str, Any] = {"samples.dtype": "uint8"}

#: How images enter the Inception network (``evaluate.inception_preprocess``) → the text a
#: score records as its ``resize`` field. pytorch-fid's text is the one every earlier score
#: carries; ``tf1`` is the TF1 graph's input path (TTUR's FID code, google/compare_gan), see
#: ``ganbench.metrics.inception_features``.
INCEPTION_PREPROCESS: dict[str, str] = {
    "pytorch-fid": "bilinear to 299x299, grayscale repeated to 3 channels",
    "tf1": "TF1 legacy resize_bilinear to 299x299 (no half-pixel centres) of pixels in [0, 255], "
           "(x - 128)/128, grayscale repeated to 3 channels",
}

#: Fields whose None means "does not apply to this model" and so matches any value.
NOT_APPLICABLE_FIELDS = ("samples.batchnorm",)


def lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    """``lookup(p, "samples.generator")`` → ``p["samples"]["generator"]`` (or
    ``p["samples.generator"]`` in a flat :func:`protocol` dict); a digit indexes a list
    (``"d_optim.betas.1"``); None when absent."""
    if dotted in tree:
        return tree[dotted]
    value: Any = tree
    for part in dotted.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def protocol_value(prov: Mapping[str, Any], field: str) -> Any:
    """One protocol field of a provenance, its FIELD_DEFAULTS value where not recorded."""
    value = lookup(prov, field)
    return FIELD_DEFAULTS.get(field) if value is None else value


def protocol(prov: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a score's provenance that define its protocol (see PROTOCOL_FIELDS)."""
    return {f: protocol_value(prov, f) for f in PROTOCOL_FIELDS}


def score_provenance(ev: Mapping[str, Any], metric: str) -> dict[str, Any]:
    """The provenance of ``metric`` in an eval JSON: its per-metric dict, or (older files)
    the one flat dict shared by all metrics; ``{}`` when none was recorded."""
    prov = ev.get("provenance") or {}
    if not isinstance(prov, Mapping):
        return {}
    if "feature_extractor" in prov or "dataset" in prov:
        return dict(prov)
    return dict(prov.get(metric) or {})


def _normal(value: Any) -> Any:
    """Numbers as floats (2000 and 2000.0 are one value), containers element-wise."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    return str(value)


def _shown(value: Any) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, str):
        return value[:12] + "…" if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else value
    return json.dumps(value, sort_keys=True)


def protocol_difference(provenance_a: Mapping[str, Any], provenance_b: Mapping[str, Any]) -> str | None:
    """Why two scores may not be compared: the first protocol field (in PROTOCOL_FIELDS
    order) whose values differ, as ``"num_real 2000 vs 250"``; None when every field agrees.

    Args:
        provenance_a, provenance_b: one score's provenance each, as stored in
            ``metrics/eval/<run>.json`` under ``provenance[<metric>]`` (nested
            ``samples``), or a flat dict from :func:`protocol`.

    A field missing from one side is "not recorded" and differs from any recorded value
    (a score of unknown protocol is comparable with nothing but another of unknown
    protocol), except the NOT_APPLICABLE_FIELDS, where None matches anything, and the
    FIELD_DEFAULTS, which take their default.
    """
    for field in PROTOCOL_FIELDS:
        a, b = protocol_value(provenance_a, field), protocol_value(provenance_b, field)
        if field in NOT_APPLICABLE_FIELDS and (a is None or b is None):
            continue
        if _normal(a) != _normal(b):
            return f"{field} {_shown(a)} vs {_shown(b)}"
    return None
