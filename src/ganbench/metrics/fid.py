"""Fréchet Inception Distance: statistics, their files, the distance, and its provenance.

Reference statistics live in ``data/reference/stats.npz`` (``mu``, ``sigma`` and a
``meta`` JSON string, readable with ``np.load(..., allow_pickle=False)``).  The meta
records the weights sha256 and the real images' shape, and :func:`compute_fid`
refuses to compare against a reference made with other weights or another image shape.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.errors import DataError, WeightsError
from ganbench.io import save_npz
from ganbench.provenance import versions

FEATURE_EXTRACTOR = "pytorch-fid InceptionV3 pool3 2048-d"
RESIZE = "bilinear to 299x299, grayscale repeated to 3 channels"
_FIX_REFERENCE = "re-run `ganbench reference` (or `dvc repro reference`)"


# --------------------------------------------------------------------------- statistics


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64, rows are samples) of an ``(N, D)`` feature array."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise DataError(
            f"FID statistics need at least 2 feature vectors of shape (N, D), got "
            f"{feats.shape}; use more images (evaluate.num_real / sample.num)"
        )
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def save_stats(path: Path, mu: np.ndarray, sigma: np.ndarray, meta: dict[str, Any]) -> None:
    """Write ``mu``, ``sigma`` and ``meta`` (as a JSON string) to an ``.npz``, atomically."""
    save_npz(path, {
        "mu": np.asarray(mu, dtype=np.float64),
        "sigma": np.asarray(sigma, dtype=np.float64),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    })


def load_stats(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read what :func:`save_stats` wrote: ``(mu, sigma, meta)``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"FID reference statistics {path} not found; {_FIX_REFERENCE}")
    try:
        with np.load(path, allow_pickle=False) as data:
            mu, sigma = data["mu"], data["sigma"]
            meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
    except (OSError, ValueError, KeyError, EOFError, json.JSONDecodeError) as exc:
        raise DataError(
            f"FID reference statistics {path} are unreadable ({type(exc).__name__}); "
            f"delete the file and {_FIX_REFERENCE}"
        ) from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise DataError(
            f"FID reference statistics {path} have mu {mu.shape} and sigma {sigma.shape}; "
            f"delete the file and {_FIX_REFERENCE}"
        )
    return mu, sigma, meta


class _ScipyLinalgForPytorchFid:
    """``scipy.linalg`` as pytorch-fid 0.3.0 expects it.

    pytorch-fid calls ``sqrtm(A, disp=False)`` and unpacks ``(sqrtm, error)``.  SciPy
    1.16 deprecated ``disp`` (removal planned for 1.18) and already returns a bare array
    for 1×1 input.  This stand-in calls ``sqrtm(A)`` and, for ``disp=False``, returns the
    pair pytorch-fid unpacks (the error estimate, which pytorch-fid discards, as NaN).
    """

    def __getattr__(self, name: str) -> Any:
        from scipy import linalg

        return getattr(linalg, name)

    @staticmethod
    def sqrtm(a: np.ndarray, disp: bool = True) -> Any:
        from scipy import linalg

        with warnings.catch_warnings():
            # A singular product is pytorch-fid's business: it checks isfinite and retries.
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            root = linalg.sqrtm(a)
        return root if disp else (root, float("nan"))


_FID_LOCK = threading.Lock()


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """pytorch-fid's ``calculate_frechet_distance``, run with a SciPy-version shim for its
    ``sqrtm`` call (see :class:`_ScipyLinalgForPytorchFid`); its notice about a singular
    product goes to stderr, keeping stdout clean."""
    from pytorch_fid import fid_score

    with _FID_LOCK, contextlib.redirect_stdout(sys.stderr if sys.stderr else io.StringIO()):
        original = fid_score.linalg
        fid_score.linalg = _ScipyLinalgForPytorchFid()
        try:
            return float(fid_score.calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
        finally:
            fid_score.linalg = original


def metric_name(num_gen: int) -> str:
    """``fid5k`` for 5000 generated images, ``fid{n}`` when n is not a multiple of 1000."""
    if num_gen > 0 and num_gen % 1000 == 0:
        return f"fid{num_gen // 1000}k"
    return f"fid{num_gen}"


# --------------------------------------------------------------------------- provenance


def provenance(
    *,
    weights_sha256: str,
    weights_source: str,
    num_gen: int | None,
    num_real: int,
    reference_split: str,
    dataset: str | None,
    image_shape: tuple[int, ...] | list[int] | None = None,
    samples: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to say what an FID number is comparable with."""
    return {
        "samples": samples,
        "feature_extractor": FEATURE_EXTRACTOR,
        "weights_sha256": weights_sha256,
        "weights_source": weights_source,
        "num_gen": num_gen,
        "num_real": num_real,
        "reference_split": reference_split,
        "dataset": dataset,
        "image_shape": list(image_shape) if image_shape is not None else None,
        "resize": RESIZE,
        "versions": versions(),
    }


# --------------------------------------------------------------------------- FID


def compute_fid(
    samples_uint8: np.ndarray,
    ref_stats_path: Path,
    weights_path: Path,
    *,
    batch_size: int = 50,
    device: str = "auto",
    progress: bool = True,
    sample_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """FID of generated uint8 images (N×C×H×W) against the reference statistics.

    ``sample_meta`` (how the samples were drawn) is recorded in the provenance.
    Returns ``{"fid5k": 23.4, "metric": "fid5k", "num_gen": 5000, "num_real": 10000,
    "provenance": {...}}``.
    """
    import torch

    from ganbench.metrics.inception_features import extract_features
    from ganbench.metrics.inception_weights import load_inception, verify_weights

    if isinstance(samples_uint8, torch.Tensor):
        samples_uint8 = samples_uint8.detach().cpu().numpy()
    samples = np.asarray(samples_uint8)
    if samples.dtype != np.uint8 or samples.ndim != 4 or samples.shape[1] not in (1, 3):
        raise DataError(
            f"generated samples must be uint8 N×C×H×W with C 1 or 3, got {samples.dtype} "
            f"{tuple(samples.shape)}; re-run `ganbench sample`"
        )
    mu_ref, sigma_ref, meta = load_stats(Path(ref_stats_path))
    sha, source = verify_weights(Path(weights_path))
    ref_sha = meta.get("weights_sha256")
    if ref_sha != sha:
        raise WeightsError(
            f"reference statistics {ref_stats_path} were computed with Inception weights "
            f"{str(ref_sha)[:12]}…, but {weights_path} is {sha[:12]}…; {_FIX_REFERENCE}"
        )
    ref_shape = meta.get("image_shape")
    gen_shape = [int(s) for s in samples.shape[1:]]
    if ref_shape is not None and list(ref_shape) != gen_shape:
        raise DataError(
            f"generated images are {'x'.join(map(str, gen_shape))} but the reference images are "
            f"{'x'.join(map(str, ref_shape))}; re-run `ganbench sample` with the current "
            f"data settings, or {_FIX_REFERENCE}"
        )
    model = load_inception(Path(weights_path), device)
    feats = extract_features(samples, model, batch_size=batch_size, device=device, progress=progress)
    mu, sigma = feature_stats(feats)
    value = frechet_distance(mu, sigma, mu_ref, sigma_ref)
    name = metric_name(len(feats))
    num_real = int(meta.get("num_real", 0))
    return {
        name: value,
        "metric": name,
        "num_gen": len(feats),
        "num_real": num_real,
        "provenance": provenance(
            weights_sha256=sha,
            weights_source=source,
            num_gen=len(feats),
            num_real=num_real,
            reference_split=meta.get("reference_split", "?"),
            dataset=meta.get("dataset"),
            image_shape=gen_shape,
            samples=sample_meta,
        ),
    }


def to_uint8(images: Any) -> np.ndarray:
    """Float images in [-1, 1] (tensor or array, N×C×H×W) → uint8 ``round((x + 1) * 127.5)``."""
    import torch

    if isinstance(images, torch.Tensor):
        x = images.detach().to("cpu", torch.float32)
        return ((x + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8).numpy()
    x = np.asarray(images, dtype=np.float32)
    return np.clip(np.rint((x + 1) * 127.5), 0, 255).astype(np.uint8)


def compute_reference(
    images_uint8: np.ndarray,
    weights_path: Path,
    *,
    batch_size: int = 50,
    device: str = "auto",
    reference_split: str,
    dataset: str | None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(mu, sigma, meta)`` of real uint8 images, ``meta`` being :func:`provenance`
    (with ``num_gen`` None) — what :func:`save_stats` stores and :func:`compute_fid`
    checks."""
    from ganbench.metrics.inception_features import extract_features
    from ganbench.metrics.inception_weights import load_inception

    images = np.asarray(images_uint8)
    model = load_inception(Path(weights_path), device)
    feats = extract_features(images, model, batch_size=batch_size, device=device, progress=progress)
    mu, sigma = feature_stats(feats)
    meta = provenance(
        weights_sha256=model.weights_sha256,
        weights_source=model.weights_source,
        num_gen=None,
        num_real=len(feats),
        reference_split=reference_split,
        dataset=dataset,
        image_shape=[int(s) for s in images.shape[1:]],
    )
    return mu, sigma, meta
