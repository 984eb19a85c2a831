"""A variant is its own module plus a few named places (issue 17): a toy variant, written
the way a user adds one, is listed and built by the registry, takes a params section
that the one params loader checks, trains through the `train` stage command, and its
checkpoint loads back safely (``weights_only=True``) and samples through the `sample`
stage command.

What a new variant touches (asserted below, :data:`PLACES`), besides its own module
``src/ganbench/models/<name>.py`` (here :data:`TOY_SOURCE`, written to a temporary
folder): two places in two files.

* ``params.yaml``: its section, every default spelled out (``ganbench params defaults``
  prints it; tests/config/test_loader.py requires the committed file to state each
  default), and its name in ``variants`` so that DVC trains it.
* ``src/ganbench/models/__init__.py``: its name in the tuple of ``VARIANTS.lazy``
  declarations. A module that calls ``register_variant`` when imported registers itself,
  but nothing imports a user's module in a stage process: ``ganbench train`` knows only
  the names declared there (and there is no entry-point/plugin hook), so without that
  line the stage's loader rejects the section as an unknown params section (shown below).
  The test stands in for the line with ``VARIANTS.lazy("toy", <its module>)``.
``variants`` defaults to every registered variant (the registry is its one home), so
params.yaml's spelled-out defaults include the new name and nothing else lists it.

So: 1 module + 2 files = 3 files.

dvc.yaml needs no change: train, sample and evaluate are ``matrix`` stages over
``${variants}`` (params.yaml) × ``${seeds}``; train depends on the params section
``${item.variant}``; train's and sample's code deps are the whole ``src/ganbench/models``
folder (so ``models/toy.py`` is a dependency, and in the training checkpoint's code
fingerprint, without a listing); the report stage depends on ``variants``; the plots are
folder-wide. No variant is named in any stage (tests/pipeline/test_dvc_yaml.py holds
the stage code deps to ``provenance.STAGE_CODE``, which lists folders, so it stays
green too).

Side effect a user should know, not an edit: ``models/__init__.py`` is a code dep of
every stage (``provenance._COMMON``), so the one-line declaration makes DVC see every
stage (download, preprocess, references, classifier, ...) as changed; and a new file under
``src/ganbench/models`` changes ``code_fingerprint("train")``, so the next ``dvc repro``
retrains every variant's checkpoint from scratch ("the training code changed").
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
import yaml
from typer.testing import CliRunner

from ganbench.config import deep_merge, default_params, flatten, load_params, parse_params, read_yaml
from ganbench.errors import ParamsError
from ganbench.metrics.registry import METRICS
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry
from ganbench.models.checkpoint import FORMAT, load_checkpoint, sampling_generator
from ganbench.runtime import seed_everything
from ganbench.sampling.files import load_samples
from ganbench.sampling.latents import latents
from ganbench.training.setup import BEST, CHECKPOINT, HISTORY
from tests.fixtures import make_processed_dataset

ROOT = Path(__file__).resolve().parents[2]

#: The module a user would add as src/ganbench/models/toy.py (its imports are the
#: variant contract: ganbench.models.base, register_variant and an objective's config).
TOY_MODULE = "ganbench_toy_variant"
TOY_SOURCE = '''
"""A toy GAN: one-hidden-layer MLP generator and discriminator on flattened images."""
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ganbench.errors import ParamsError
from ganbench.losses.nonsaturating import NonSaturatingConfig
from ganbench.models import register_variant
from ganbench.models.base import Geometry, OptimizerConfig, VariantConfig, VariantSpec


@dataclass(frozen=True)
class ToyConfig:
    #: Latent size.
    z_dim: int = 16
    #: Width of the one hidden layer of G and of D.
    hidden: int = 32

    def validate(self, prefix: str) -> None:
        for key in ("z_dim", "hidden"):
            if getattr(self, key) < 1:
                raise ParamsError(f"params key '{prefix}.{key}' must be ≥ 1")


class ToyGenerator(nn.Module):
    """``forward(z (N, z_dim), c (N,) | None) -> (N, C, R, R)`` in [-1, 1]."""

    supports_truncation = False

    def __init__(self, cfg: ToyConfig, geometry: Geometry) -> None:
        super().__init__()
        self.z_dim = cfg.z_dim
        self.num_classes = geometry.num_classes
        self.shape = (geometry.channels, geometry.resolution, geometry.resolution)
        self.embed = nn.Embedding(geometry.num_classes, cfg.z_dim) if geometry.num_classes else None
        self.net = nn.Sequential(nn.Linear(cfg.z_dim, cfg.hidden), nn.ReLU(),
                                 nn.Linear(cfg.hidden, geometry.channels * geometry.resolution ** 2), nn.Tanh())

    def forward(self, z: Tensor, c: Tensor | None = None, truncation_psi: float = 1.0) -> Tensor:
        if truncation_psi != 1.0:
            raise ValueError("the toy has no mapping network: truncation must be 1.0")
        if self.embed is not None:
            if c is None:
                raise ValueError("conditional generator needs class labels c")
            z = z + self.embed(c)
        return self.net(z).view(len(z), *self.shape)


class ToyDiscriminator(nn.Module):
    """``forward(x (N, C, R, R), c (N,) | None) -> logits (N,)``; projection head when conditional."""

    batch_independent = True  # no batch statistics

    def __init__(self, cfg: ToyConfig, geometry: Geometry) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(geometry.channels * geometry.resolution ** 2,
                                                              cfg.hidden), nn.LeakyReLU(0.2))
        self.head = nn.Linear(cfg.hidden, 1)
        self.embed = nn.Embedding(geometry.num_classes, cfg.hidden) if geometry.num_classes else None

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        h = self.features(x)
        out = self.head(h).squeeze(1)
        if self.embed is not None:
            if c is None:
                raise ValueError("conditional discriminator needs class labels c")
            out = out + (self.embed(c) * h).sum(dim=1)
        return out


def build(cfg: ToyConfig, geometry: Geometry) -> tuple[nn.Module, nn.Module]:
    return ToyGenerator(cfg, geometry), ToyDiscriminator(cfg, geometry)


ADAM = OptimizerConfig(name="adam", lr=2e-4, betas=(0.5, 0.999))

SPEC = register_variant(VariantSpec(name="toy", model_config=ToyConfig, build=build,
                                    default=VariantConfig(model=ToyConfig(), loss=NonSaturatingConfig(),
                                                          g_optim=ADAM, d_optim=ADAM)))
'''

#: The section a user adds to params.yaml (every default spelled out, as the committed
#: file states them for the built-ins).
TOY_PARAMS_YAML = """
toy:                          # a toy: one-hidden-layer MLP generator and discriminator
  model: {z_dim: 16, hidden: 32}
  loss: {name: nonsaturating, n_critic: 1}
  g_optim: {name: adam, lr: 2.0e-4, betas: [0.5, 0.999], eps: 1.0e-8, weight_decay: 0.0}
  d_optim: {name: adam, lr: 2.0e-4, betas: [0.5, 0.999], eps: 1.0e-8, weight_decay: 0.0}
  conditional: null           # null: follow train.conditional
  g_step: null                # null: follow train.g_step
"""
TOY_SECTION = yaml.safe_load(TOY_PARAMS_YAML)["toy"]

#: Every place a new variant touches beyond its own module (src/ganbench/models/toy.py).
PLACES = {
    "params.yaml": "the `toy:` section (every default) and `toy` in `variants`",
    "src/ganbench/models/__init__.py": "'toy' in the tuple of VARIANTS.lazy declarations",
}

#: Tiny sizes for the stage runs (the sizes tests/training/test_run.py uses).
TINY = {
    "train": {"budget": "g_steps", "g_steps": 4, "batch_size": 16, "ema_kimg": 0.05, "ema_bn_batches": 1},
    "sample": {"num": 20, "batch_size": 10, "grid_size": 8},
    "evaluate": {"num_gen": 20, "domain_num_gen": 20},
    "runtime": {"device": "cpu", "log_every": 2, "image_every": 100, "checkpoint_every_kimg": 0.032,
                "grid_size": 4},
    "mlflow": {"offline": True},
    "toy": {"model": {"z_dim": 8, "hidden": 16}},
}


def user_params(committed: dict, *overlays: dict) -> dict:
    """params.yaml as the user edits it: the toy's section added and named in `variants`."""
    raw = deep_merge(committed, {"toy": TOY_SECTION})
    raw["variants"] = [*committed["variants"], "toy"]
    for overlay in overlays:
        raw = deep_merge(raw, overlay)
    return raw


def write_params(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def variants(monkeypatch):
    """VARIANTS as it is, restored afterwards: the toy (declared or registered) is forgotten."""
    for name in VARIANTS.names():  # the built-ins, imported once and kept afterwards
        VARIANTS.get(name)
    monkeypatch.setattr(VARIANTS, "_items", dict(VARIANTS._items))
    monkeypatch.setattr(VARIANTS, "_lazy", dict(VARIANTS._lazy))
    yield VARIANTS
    sys.modules.pop(TOY_MODULE, None)
    monkeypatch.undo()
    assert "toy" not in VARIANTS and TOY_MODULE not in sys.modules  # forgotten afterwards


@pytest.fixture
def toy_on_path(variants, tmp_path, monkeypatch):
    """The toy's module where Python finds it (as src/ganbench/models/toy.py would be), not
    yet declared to the registry."""
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / f"{TOY_MODULE}.py").write_text(textwrap.dedent(TOY_SOURCE))
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def toy(toy_on_path, variants):
    """The toy declared as the built-ins are: the one line models/__init__.py gains."""
    variants.lazy("toy", TOY_MODULE)
    return variants.get("toy")


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """The small fixture dataset, fetched and preprocessed as the pipeline does."""
    return make_processed_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture
def stages():
    """The `train` and `sample` stage commands, as `ganbench` composes them."""
    from ganbench_pipeline import sample, train

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.add_typer(train.app)
    app.add_typer(sample.app)
    return app


def train_args(params: Path, processed: Path, out: Path) -> list[str]:
    return ["train", "toy", "--seed", "0", "--params", str(params), "--processed", str(processed),
            "--out", str(out / "models" / "toy-0"), "--metrics", str(out / "metrics" / "toy-0.json"),
            "--plots", str(out / "plots" / "toy-0.csv")]


def test_the_toy_is_listed_and_built_to_the_network_contract(toy):
    assert "toy" in VARIANTS.names() and VARIANTS.get("toy") is toy and toy.adversarial
    assert "toy" in default_params(VARIANTS)  # `ganbench params defaults` prints its section
    cfg = toy.parse(TINY["toy"], prefix="toy")
    for num_classes in (0, 10):
        torch.manual_seed(0)
        G, D = toy.build(cfg.model, Geometry(channels=1, resolution=32, num_classes=num_classes))
        c = torch.arange(4) % num_classes if num_classes else None
        images = G(torch.randn(4, G.z_dim), c)
        assert images.shape == (4, 1, 32, 32) and torch.isfinite(images).all() and images.abs().max() <= 1
        logits = D(images, c)
        assert logits.shape == (4,) and torch.isfinite(logits).all()


def test_the_params_loader_takes_the_section_and_names_a_wrong_key(toy, tmp_path):
    from ganbench_pipeline.common import load  # what every stage calls

    committed = read_yaml(ROOT / "params.yaml")
    p = load(write_params(tmp_path / "params.yaml", user_params(committed)), models=True)
    assert p.variants[-1] == "toy"
    assert p.model("toy").model == toy.default.model and p.model("toy").loss.name == "nonsaturating"

    bad = user_params(committed, {"toy": {"model": {"hiden": 32}}})
    with pytest.raises(ParamsError, match=r"params.yaml: unknown params key 'toy\.model\.hiden'.*did you mean "
                                          r"'hidden'"):
        load(write_params(tmp_path / "params.yaml", bad), models=True)
    bad = user_params(committed, {"toy": {"g_optm": {"lr": 1e-3}}})
    with pytest.raises(ParamsError, match=r"unknown params key 'toy\.g_optm'.*did you mean 'g_optim'"):
        load_params(write_params(tmp_path / "params.yaml", bad), VARIANTS, metrics=METRICS, models=True)
    with pytest.raises(ParamsError, match=r"'toy\.model\.hidden' must be ≥ 1"):  # its own validate
        load_params(write_params(tmp_path / "params.yaml", user_params(committed, {"toy": {"model": {"hidden": 0}}})),
                    VARIANTS)


def test_the_toy_trains_through_the_train_stage_and_samples_through_the_sample_stage(
        toy, processed, stages, tmp_path):
    params = write_params(tmp_path / "params.yaml", user_params(read_yaml(ROOT / "params.yaml"), TINY))
    runner = CliRunner()
    result = runner.invoke(stages, train_args(params, processed, tmp_path))
    assert result.exit_code == 0, result.output
    assert "train toy-0:" in result.stdout and "4 G steps" in result.stdout
    folder = tmp_path / "models" / "toy-0"
    metrics = json.loads((tmp_path / "metrics" / "toy-0.json").read_text())
    assert metrics["g_steps"] == 4 and metrics["d_steps"] == 4
    assert (folder / HISTORY).is_file() and (tmp_path / "plots" / "toy-0.csv").is_file()

    # The checkpoint holds plain data only: torch's safe loader takes it as it is...
    raw = torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=True)
    assert raw["format"] == FORMAT and raw["variant"] == "toy" and raw["progress"]["step"] == 4
    assert raw["variant_config"]["model"] == TINY["toy"]["model"]
    # ... and the sampling side rebuilds the toy from it (load_checkpoint uses weights_only=True).
    G, geometry = sampling_generator(load_checkpoint(folder / CHECKPOINT), "ema")
    assert geometry == Geometry(channels=1, resolution=32, num_classes=0)
    with torch.no_grad():
        drawn = G(latents(8, G.z_dim, 0))
    assert drawn.shape == (8, 1, 32, 32) and not torch.isnan(drawn).any() and drawn.abs().max() <= 1
    # best.pt (the last state here: no training-time metric) holds weights the steps moved
    # away from the seeded initial ones.
    trained, _ = sampling_generator(load_checkpoint(folder / BEST), "raw")
    seed_everything(0)
    initial, _ = toy.build(toy.parse(TINY["toy"]).model, geometry)
    assert not torch.equal(trained.net[0].weight, initial.net[0].weight)

    result = runner.invoke(stages, [
        "sample", "toy", "--seed", "0", "--params", str(params), "--checkpoint", str(folder / CHECKPOINT),
        "--best", str(folder / BEST), "--run", str(folder / "run.json"),
        "--out", str(tmp_path / "samples" / "toy-0.npz"), "--grid", str(tmp_path / "samples" / "toy-0.png")])
    assert result.exit_code == 0, result.output
    images, meta = load_samples(tmp_path / "samples" / "toy-0.npz")
    assert images.shape == (20, 1, 32, 32) and images.dtype == np.uint8
    assert meta["variant"] == "toy" and meta["generator"] == "ema" and meta["checkpoint_g_steps"] == 4
    assert (tmp_path / "samples" / "toy-0.png").is_file()


def test_without_its_declaration_the_train_stage_rejects_the_section(toy_on_path, processed, stages, tmp_path):
    """The module alone, even importable, is not enough: the stage process only knows the
    names declared in models/__init__.py."""
    assert "toy" not in VARIANTS
    params = write_params(tmp_path / "params.yaml", user_params(read_yaml(ROOT / "params.yaml"), TINY))
    result = CliRunner().invoke(stages, train_args(params, processed, tmp_path))
    assert result.exit_code == 1
    assert "unknown params section 'toy'" in result.stderr and "Traceback" not in result.output


def test_the_toy_must_be_in_params_variants_to_be_trained(toy, processed, stages, tmp_path):
    raw = user_params(read_yaml(ROOT / "params.yaml"), TINY)
    raw["variants"].remove("toy")
    result = CliRunner().invoke(stages, train_args(write_params(tmp_path / "params.yaml", raw), processed, tmp_path))
    assert result.exit_code == 1 and "'toy' is not in params 'variants'" in result.stderr


def test_a_new_variant_touches_at_most_three_files(toy):
    # PLACES (2 files) + the module = 3 files; what follows shows that nothing else is needed.
    committed = read_yaml(ROOT / "params.yaml")
    edited = flatten(user_params(committed))
    defaults = flatten(default_params(VARIANTS))

    # params.yaml: the section a user pastes is exactly the toy's defaults (what
    # `ganbench params defaults` prints), the keys of the edited file are exactly the defaults'.
    assert flatten({"toy": TOY_SECTION}) == flatten({"toy": default_params(VARIANTS)["toy"]})
    assert set(edited) == set(defaults)

    # No third file: `variants` defaults to every registered variant, so the edited
    # params.yaml states every default exactly (tests/config/test_loader.py's check passes).
    def plain(v):
        return list(v) if isinstance(v, (list, tuple)) else v

    assert {k for k in defaults if plain(edited[k]) != plain(defaults[k])} == set()
    assert parse_params({k: v for k, v in user_params(committed).items() if k != "variants"},
                        VARIANTS).variants == (*committed["variants"], "toy")

    # models/__init__.py: the registry's names are its lazy declarations, each
    # ganbench.models.<name>; the stage commands load params with this registry alone
    # (pipeline/common.py), so a variant needs its name there (see the test above).
    assert {n: VARIANTS._lazy[n] for n in committed["variants"]} == {
        n: f"ganbench.models.{n}" for n in committed["variants"]}


def test_dvc_yaml_needs_no_change_for_a_new_variant():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    stages = dvc["stages"]
    for name in ("train", "sample", "evaluate"):
        assert stages[name]["matrix"] == {"variant": "${variants}", "seed": "${seeds}"}, name
    assert "${item.variant}" in stages["train"]["params"]
    for name in ("train", "sample"):  # a new models/<name>.py is a code dep without a listing
        assert "src/ganbench/models" in stages[name]["deps"], name
    assert "variants" in stages["report"]["params"]
    text = yaml.safe_dump(stages)
    for name in read_yaml(ROOT / "params.yaml")["variants"]:
        assert not re.search(rf"\b{name}\b", text), f"dvc.yaml stages name the variant {name!r}"

