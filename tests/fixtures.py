"""A tiny, deterministic stand-in for Fashion-MNIST, for tests and smoke runs.

``make_fake_dataset`` writes the four IDX files (Fashion-MNIST names) with one
simple white-on-black shape per class and returns a :class:`DatasetSpec` that
carries their real checksums.  The spec is not registered; use::

    spec = make_fake_dataset(tmp_path / "src")
    with register_fixture_dataset(spec):
        fetch(DataConfig(dataset=spec.name, source_dir=str(tmp_path / "src")), dest)

Every image contains both 0 and 255 pixels, so the preprocessed range is
exactly [-1, 1].
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ganbench.data.idx import encode_idx, gzip_bytes
from ganbench.data.catalogue import DATASETS, DatasetSpec, decompressed_name
from ganbench.models import LUCIC_VARIANTS

FIXTURE_NAME = "tiny-fixture"
SIZE = 28
CLASS_NAMES = (
    "hbar", "vbar", "square", "frame", "disk", "ring", "plus", "diagonal", "cross", "triangle",
)

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def draw_shape(label: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One ``size``×``size`` uint8 image of class ``label`` (0 background, 255 shape)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    cy, cx = size / 2 - 0.5 + rng.uniform(-3, 3, size=2)
    r = rng.uniform(6, 9)
    dy, dx = yy - cy, xx - cx
    t = 1.6
    shapes = {
        0: (np.abs(dy) <= t + 0.5) & (np.abs(dx) <= r),
        1: (np.abs(dx) <= t + 0.5) & (np.abs(dy) <= r),
        2: (np.abs(dy) <= r * 0.8) & (np.abs(dx) <= r * 0.8),
        3: (np.maximum(np.abs(dy), np.abs(dx)) <= r) & (np.maximum(np.abs(dy), np.abs(dx)) >= r - 2 * t),
        4: dy**2 + dx**2 <= (r * 0.9) ** 2,
        5: (dy**2 + dx**2 <= r**2) & (dy**2 + dx**2 >= (r - 2 * t) ** 2),
        6: ((np.abs(dy) <= t) | (np.abs(dx) <= t)) & (np.maximum(np.abs(dy), np.abs(dx)) <= r),
        7: (np.abs(dy - dx) <= t * 1.4) & (np.maximum(np.abs(dy), np.abs(dx)) <= r),
        8: ((np.abs(dy - dx) <= t * 1.4) | (np.abs(dy + dx) <= t * 1.4))
        & (np.maximum(np.abs(dy), np.abs(dx)) <= r),
        9: (dy <= r * 0.7) & (np.abs(dx) <= (dy + r) * 0.55),
    }
    mask = shapes[int(label) % len(shapes)]
    img = np.zeros((size, size), dtype=np.uint8)
    img[mask] = 255
    img[0, 0] = 0  # background corner, always black
    if not mask.any():
        img[size // 2, size // 2] = 255
    return img


def _make_split(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = (np.arange(n) % len(CLASS_NAMES)).astype(np.uint8)
    rng.shuffle(labels)
    images = np.stack([draw_shape(int(y), rng) for y in labels]) if n else np.zeros(
        (0, SIZE, SIZE), dtype=np.uint8
    )
    return images.astype(np.uint8), labels


def make_fake_dataset(
    directory: Path,
    n_train: int = 256,
    n_test: int = 128,
    seed: int = 0,
    gzip: bool = True,
) -> DatasetSpec:
    """Write the four IDX files into ``directory``; return their (unregistered) spec."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    checksums: dict[str, str | None] = {}
    gz_md5: dict[str, str] = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = _make_split(n, rng)
        for name, array in zip(_FILES[split], (images, labels)):
            raw = encode_idx(array)
            checksums[name] = hashlib.sha256(raw).hexdigest()
            if gzip:
                data = gzip_bytes(raw)
                gz_md5[name] = hashlib.md5(data).hexdigest()
                target = directory / name
            else:
                data = raw
                target = directory / decompressed_name(name)
            target.write_bytes(data)
    return DatasetSpec(
        name=FIXTURE_NAME,
        files=dict(_FILES),
        checksums=checksums,
        gz_md5=gz_md5,
        num_classes=len(CLASS_NAMES),
        class_names=CLASS_NAMES,
        debian_dir=None,
        debian_package=None,
        torchvision_class=None,
    )


@contextmanager
def register_fixture_dataset(spec: DatasetSpec) -> Iterator[DatasetSpec]:
    """Make ``spec`` known to ``DATASETS`` (under ``spec.name``) inside the block."""
    with DATASETS.temporary(spec.name, spec):
        yield spec


def make_processed_dataset(root: Path, n_train: int = 96, n_test: int = 32) -> Path:
    """The fake dataset fetched and preprocessed as the pipeline does (an ``idx-folder``
    source under ``root``); returns the processed folder."""
    from ganbench.config.schema import DataConfig
    from ganbench.data.preprocess import preprocess
    from ganbench.data.sources import fetch

    make_fake_dataset(root / "idx", n_train=n_train, n_test=n_test)
    cfg = DataConfig(dataset="idx-folder", source_dir=str(root / "idx"), allow_download=False)
    fetch(cfg, root / "raw" / "idx-folder", env={})
    preprocess(root / "raw" / "idx-folder", root / "processed", cfg)
    return root / "processed"


#: Tiny InfoGAN-style networks for the lucic_* variants' tests.
TINY_INFOGAN = {"z_dim": 8, "channels": 4, "hidden": 16, "embed_dim": 4}

#: Tiny ``model`` sections of every variant (network-level tests: build and run on CPU).
TINY_MODEL = {
    "dcgan": {"z_dim": 8, "g_channels": 4, "d_channels": 4},
    "wgan_gp": {"z_dim": 8, "g_channels": 4, "d_channels": 4},
    "stylegan": {"z_dim": 16, "w_dim": 16, "g_channel_base": 128, "g_channel_max": 16,
                 "d_channel_base": 64, "d_channel_max": 16},
    "vae": {"z_dim": 8, "enc_channels": 4, "dec_channels": 4, "embed_dim": 4},
    **{name: TINY_INFOGAN for name in LUCIC_VARIANTS},
}

#: Tiny params sections of every variant (``model``, and ``loss`` where it matters) for
#: short CPU training runs.
TINY = {
    "dcgan": {"model": {"z_dim": 8, "g_channels": 4, "d_channels": 4}},
    "wgan_gp": {"model": {"z_dim": 8, "g_channels": 4, "d_channels": 4},
                "loss": {"name": "wasserstein_gp", "n_critic": 2}},
    "stylegan": {"model": {"z_dim": 16, "w_dim": 16, "mapping_layers": 2, "g_channel_base": 64,
                           "g_channel_max": 16, "d_channel_base": 64, "d_channel_max": 16}},
    "vae": {"model": {"z_dim": 8, "enc_channels": 4, "dec_channels": 4, "embed_dim": 4}},
    **{name: {"model": TINY_INFOGAN} for name in LUCIC_VARIANTS},
}


def one_variant_per_network() -> list[str]:
    """Registered variants, the first of each network builder (the default ones first). Variants that
    share their networks differ only in objective and optimizer settings, which
    tests/models/test_all_variants.py crosses with every network; the costly loop, resume
    and distributed tests need each network (and so each kind of layer) once."""
    from ganbench.models import LUCIC_VARIANTS, VARIANTS

    seen: set[object] = set()
    out = []
    # lucic_ns stands for the InfoGAN networks: its phases draw nothing of their own, so a
    # one-process gradient is the two-process one even with D's BatchNorm.
    for name in dict.fromkeys([*VARIANTS.declared(), *LUCIC_VARIANTS, *VARIANTS.names()]):
        build = VARIANTS.get(name).build
        if build not in seen:
            seen.add(build)
            out.append(name)
    return out
