"""The dataset catalogue: each known dataset's IDX files, their checksums, its classes and
where its Debian package puts it, registered by name (``data.dataset``). Finding, fetching
and verifying the files is :mod:`ganbench.data.sources`; see there for the order of places
tried and why both a sha256 and a ``.gz`` md5 are listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganbench.registry import Registry


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find, verify and label one IDX dataset.

    All per-file mappings are keyed by the canonical file names in ``files``
    (the ``.gz`` names, e.g. ``train-images-idx3-ubyte.gz``).
    """

    name: str
    #: split → (images file, labels file), canonical ``.gz`` names.
    files: dict[str, tuple[str, str]]
    #: file → sha256 of the decompressed bytes (None: unknown, see module doc).
    checksums: dict[str, str | None]
    #: file → md5 of the ``.gz`` as torchvision lists it.
    gz_md5: dict[str, str]
    num_classes: int
    class_names: tuple[str, ...]
    debian_dir: str | None = None
    debian_package: str | None = None
    #: Class name in ``torchvision.datasets`` (None: no download possible).
    torchvision_class: str | None = None
    #: False for datasets without known checksums (``idx-folder``): files are hashed and
    #: the hashes recorded in the manifest, not checked against a list.
    checked: bool = True

    @property
    def filenames(self) -> list[str]:
        """All files in a fixed order: per split, images then labels."""
        return [f for split in self.files for f in self.files[split]]


def decompressed_name(filename: str) -> str:
    """``train-images-idx3-ubyte.gz`` → ``train-images-idx3-ubyte``."""
    return filename[:-3] if filename.endswith(".gz") else filename


DATASETS: Registry[DatasetSpec] = Registry("dataset")

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

FASHION_MNIST = DATASETS.register("fashion-mnist")(
    DatasetSpec(
        name="fashion-mnist",
        files=dict(_IDX_FILES),
        # Verified against Debian's dataset-fashion-mnist (decompressed bytes are
        # the original Zalando files).
        checksums={
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        # torchvision.datasets.FashionMNIST.resources
        gz_md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        num_classes=10,
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        debian_dir="/usr/share/datasets/fashion-mnist",
        debian_package="dataset-fashion-mnist",
        torchvision_class="FashionMNIST",
    )
)

MNIST = DATASETS.register("mnist")(
    DatasetSpec(
        name="mnist",
        files=dict(_IDX_FILES),
        # No local copy was available to derive these from; a file verifies
        # through its .gz md5 instead (decompressed-only copies cannot be verified).
        checksums={f: None for pair in _IDX_FILES.values() for f in pair},
        # torchvision.datasets.MNIST.resources
        gz_md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        num_classes=10,
        class_names=tuple(str(i) for i in range(10)),
        debian_dir=None,
        debian_package=None,
        torchvision_class="MNIST",
    )
)


IDX_FOLDER = DATASETS.register("idx-folder")(
    DatasetSpec(
        name="idx-folder",
        files=dict(_IDX_FILES),
        checksums={},
        gz_md5={},
        num_classes=10,
        class_names=tuple(str(i) for i in range(10)),
        checked=False,
    )
)
"""Any dataset in (Fashion-)MNIST's IDX layout and file names with labels 0–9 (KMNIST,
EMNIST digits, your own), taken from ``data.source_dir`` or ``$GANBENCH_DATA_DIR``. Its
files have no known checksums: their sha256 are recorded in the manifest (and flow into
every downstream hash) instead of being checked."""
