"""InfoGAN-style networks of Lucic et al. 2018 ("Are GANs Created Equal?"), the networks
of google/compare_gan v1 (``compare_gan/src/gans/abstract_gan.py``, ``VAE.py``, ``ops.py``
at commit fbbc05a; docs/lucic_protocol.md has the line-by-line reading), and the variants
of that study that train them: one per objective (NS, MM, LSGAN, WGAN, WGAN-GP, DRAGAN)
with the study's default hyper-parameters (its "sample 0", ``params.py``), and its VAE.

For square images of side ``R`` divisible by 4 (28 for the study's native Fashion-MNIST,
32 for ganbench's padded one), ``s = R/4``:

* D: conv 4×4/2 → 64 ch, lReLU(0.2); conv 4×4/2 → 128 ch, [BN], lReLU; flatten 128·s²;
  linear → 1024, [BN], lReLU; linear → 1 logit. BN (``d_batchnorm``) is optional, never
  on the first layer. Parameters at R = 28: 6,556,865 (6,559,169 with BN).
* G: linear z_dim → 1024, BN, lReLU; linear → 128·s², BN (per unit, before the reshape),
  lReLU; reshape (128, s, s); deconv 4×4/2 → 64 ch, BN, lReLU; deconv 4×4/2 → C; sigmoid.
  Parameters at R = 28, z_dim 64: 6,642,241. compare_gan's G uses leaky ReLU too.
* The VAE: the encoder is D's trunk (BN optional) with a linear head → (mean, std), std =
  1e-6 + softplus; the decoder is G's layout with ReLU and BN always, sigmoid output.

What compare_gan fixes and ganbench's contract differs on, and how it is bridged exactly:

* Pixels: compare_gan's networks see and make images in [0, 1], ganbench's in [-1, 1].
  D maps its input by (x + 1)/2 first and G returns 2·sigmoid(h) − 1 (= tanh(h/2)), so
  each network computes compare_gan's function of compare_gan's pixels. ``D.native_range``
  tells gradient penalties to measure ‖∇D‖ in those pixel units (see losses.base).
* Latents: compare_gan's GANs draw z ~ U[-1, 1]^64, ganbench's loop and sampler draw
  z ~ N(0, I). G maps z to erf(z/√2) = 2Φ(z) − 1 first, which is exactly U[-1, 1]
  distributed; the VAE's prior is N(0, I) in both (``latent: normal``).
* BatchNorm: TF's ``batch_norm(decay=0.999, epsilon=0.001)``: momentum 0.001, eps 1e-3.
* Init (ops.py): conv weights truncated N(0, 0.02) cut at 2σ, linear and deconv weights
  N(0, 0.02), biases 0, BN scale 1 and shift 0.

Conditional mode (not in the study): G concatenates a label embedding to its latent; D
adds a projection of the label embedding onto its 1024 features (Miyato & Koyama 2018).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbench.errors import ParamsError
from ganbench.losses.dragan import DRAGANConfig
from ganbench.losses.lsgan import LSGANConfig
from ganbench.losses.minimax import MinimaxConfig
from ganbench.losses.nonsaturating import NonSaturatingConfig
from ganbench.losses.vae import ELBOConfig
from ganbench.losses.wasserstein_gp import WassersteinGPConfig
from ganbench.losses.wgan_clip import WGANClipConfig
from ganbench.models import register_variant
from ganbench.models.base import Geometry, OptimizerConfig, VariantConfig, VariantSpec
from ganbench.nn.labels import embed_labels, label_embedding, with_labels

#: TF ``batch_norm(decay=0.999, epsilon=0.001)`` in PyTorch's terms (compare_gan ops.py).
BN_MOMENTUM = 0.001
BN_EPS = 1e-3
#: The leaky ReLU slope of compare_gan's ``ops.lrelu``.
LRELU_SLOPE = 0.2


@dataclass(frozen=True)
class InfoGANConfig:
    #: Latent size (compare_gan: 64).
    z_dim: int = 64
    #: Latent distribution the networks are built for: "uniform" (the GANs: G maps the
    #: N(0, I) latents it is given to U[-1, 1]) or "normal" (the VAE's prior).
    latent: Literal["uniform", "normal"] = "uniform"
    #: Channels of the first convolution (the second has twice as many).
    channels: int = 64
    #: Width of the fully connected hidden layers.
    hidden: int = 1024
    #: BatchNorm in D (or the VAE's encoder) after its second conv and its hidden layer.
    d_batchnorm: bool = True
    #: Label embedding size for conditional networks.
    embed_dim: int = 32

    def validate(self, prefix: str) -> None:
        for key in ("z_dim", "channels", "hidden", "embed_dim"):
            if getattr(self, key) < 1:
                raise ParamsError(f"params key '{prefix}.{key}' must be ≥ 1")


def _side(resolution: int) -> int:
    """The side ``s = R/4`` of the innermost feature map."""
    if resolution < 4 or resolution % 4:
        raise ParamsError(f"the InfoGAN networks need data.resolution divisible by 4 (28 or 32), got {resolution}")
    return resolution // 4


def _bn(features: int, dims: int) -> nn.Module:
    cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return cls(features, eps=BN_EPS, momentum=BN_MOMENTUM)


def _init(m: nn.Module) -> None:
    """compare_gan ops.py: conv truncated N(0, 0.02) at ±2σ; linear, deconv N(0, 0.02); bias 0."""
    if isinstance(m, nn.Conv2d):
        nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
    elif isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    else:
        return
    if m.bias is not None:
        nn.init.zeros_(m.bias)


class InfoGANTrunk(nn.Module):
    """D's feature extractor, shared with the VAE encoder:
    ``forward(x (N, C, R, R) in [0, 1]) -> (N, hidden)`` after the last leaky ReLU."""

    def __init__(self, cfg: InfoGANConfig, geometry: Geometry) -> None:
        super().__init__()
        s, ch = _side(geometry.resolution), cfg.channels
        layers: list[nn.Module] = [nn.Conv2d(geometry.channels, ch, 4, 2, 1), nn.LeakyReLU(LRELU_SLOPE),
                                   nn.Conv2d(ch, 2 * ch, 4, 2, 1)]
        if cfg.d_batchnorm:
            layers.append(_bn(2 * ch, 2))
        layers += [nn.LeakyReLU(LRELU_SLOPE), nn.Flatten(), nn.Linear(2 * ch * s * s, cfg.hidden)]
        if cfg.d_batchnorm:
            layers.append(_bn(cfg.hidden, 1))
        layers.append(nn.LeakyReLU(LRELU_SLOPE))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class InfoGANUpsampler(nn.Module):
    """G's layout, shared with the VAE decoder: ``forward(u (N, in_dim)) -> (N, C, R, R)``
    pre-sigmoid logits. ``act`` is the hidden activation (G: leaky ReLU, VAE: ReLU)."""

    def __init__(self, cfg: InfoGANConfig, geometry: Geometry, in_dim: int, act: type[nn.Module]) -> None:
        super().__init__()
        s, ch = _side(geometry.resolution), cfg.channels
        self.shape = (2 * ch, s, s)

        def activation() -> nn.Module:
            return act(LRELU_SLOPE) if act is nn.LeakyReLU else act()

        self.fc = nn.Sequential(nn.Linear(in_dim, cfg.hidden), _bn(cfg.hidden, 1), activation(),
                                nn.Linear(cfg.hidden, 2 * ch * s * s), _bn(2 * ch * s * s, 1), activation())
        self.deconv = nn.Sequential(nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1), _bn(ch, 2), activation(),
                                    nn.ConvTranspose2d(ch, geometry.channels, 4, 2, 1))

    def forward(self, u: Tensor) -> Tensor:
        return self.deconv(self.fc(u).view(len(u), *self.shape))


def to_unit_range(x: Tensor) -> Tensor:
    """ganbench pixels in [-1, 1] → compare_gan's [0, 1]."""
    return (x + 1) * 0.5


def from_logits(h: Tensor) -> Tensor:
    """2·sigmoid(h) − 1, written as tanh(h/2) (the same function, exact near ±1)."""
    return torch.tanh(h * 0.5)


class InfoGANGenerator(nn.Module):
    """``forward(z (N, z_dim) ~ N(0, I), c (N,) | None) -> (N, C, R, R)`` in [-1, 1]."""

    supports_truncation = False

    def __init__(self, cfg: InfoGANConfig, geometry: Geometry) -> None:
        super().__init__()
        self.z_dim = cfg.z_dim
        self.num_classes = geometry.num_classes
        self.uniform = cfg.latent == "uniform"
        self.embed = label_embedding(geometry.num_classes, cfg.embed_dim)
        in_dim = cfg.z_dim + (cfg.embed_dim if self.embed is not None else 0)
        self.body = InfoGANUpsampler(cfg, geometry, in_dim, nn.LeakyReLU)
        self.apply(_init)

    def forward(self, z: Tensor, c: Tensor | None = None, truncation_psi: float = 1.0) -> Tensor:
        if truncation_psi != 1.0:
            raise ValueError("the InfoGAN generator has no mapping network: truncation must be 1.0")
        u = torch.erf(z * (1 / math.sqrt(2))) if self.uniform else z  # N(0, 1) → U[-1, 1]
        return from_logits(self.body(with_labels(u, self.embed, c, "generator")))


class InfoGANDiscriminator(nn.Module):
    """``forward(x (N, C, R, R) in [-1, 1], c (N,) | None) -> logits (N,)``."""

    #: compare_gan's pixel range, in which gradient penalties measure ‖∇D‖.
    native_range = (0.0, 1.0)

    def __init__(self, cfg: InfoGANConfig, geometry: Geometry) -> None:
        super().__init__()
        self.trunk = InfoGANTrunk(cfg, geometry)
        self.head = nn.Linear(cfg.hidden, 1)
        self.embed = label_embedding(geometry.num_classes, cfg.hidden)
        #: Each score depends on its own sample alone (no BatchNorm): see models.base.
        self.batch_independent = not cfg.d_batchnorm
        self.apply(_init)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        h = self.trunk(to_unit_range(x))
        out = self.head(h).flatten()
        e = embed_labels(self.embed, c, "discriminator")
        if e is not None:  # projection (Miyato & Koyama 2018)
            out = out + (e * h).sum(dim=1)
        return out


class InfoGANVAE(nn.Module):
    """compare_gan's VAE behind ganbench's generator contract: ``forward(z (N, z_dim),
    c (N,) | None) -> (N, C, R, R)`` in [-1, 1] decodes to the Bernoulli means (mapped from
    [0, 1]); ``encode(x, c) -> (mu, logvar)``, each ``(N, z_dim)``, with compare_gan's
    std = 1e-6 + softplus(·) returned as logvar = 2·log std."""

    supports_truncation = False

    def __init__(self, cfg: InfoGANConfig, geometry: Geometry) -> None:
        super().__init__()
        self.z_dim = cfg.z_dim
        self.num_classes = geometry.num_classes
        self.encoder = InfoGANTrunk(cfg, geometry)
        self.enc_embed = label_embedding(geometry.num_classes, cfg.embed_dim)
        self.enc_head = nn.Linear(cfg.hidden + (cfg.embed_dim if self.enc_embed is not None else 0), 2 * cfg.z_dim)
        self.dec_embed = label_embedding(geometry.num_classes, cfg.embed_dim)
        self.decoder = InfoGANUpsampler(cfg, geometry, cfg.z_dim + (cfg.embed_dim if self.dec_embed is not None else 0),
                                        nn.ReLU)
        self.apply(_init)

    def forward(self, z: Tensor, c: Tensor | None = None, truncation_psi: float = 1.0) -> Tensor:
        if truncation_psi != 1.0:
            raise ValueError("the VAE has no mapping network: truncation must be 1.0")
        return from_logits(self.decoder(with_labels(z, self.dec_embed, c, "decoder")))

    def encode(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = with_labels(self.encoder(to_unit_range(x)), self.enc_embed, c, "encoder")
        mu, raw = self.enc_head(h).chunk(2, dim=1)
        return mu, 2 * torch.log(1e-6 + F.softplus(raw))


def build_gan(cfg: InfoGANConfig, geometry: Geometry) -> tuple[nn.Module, nn.Module]:
    return InfoGANGenerator(cfg, geometry), InfoGANDiscriminator(cfg, geometry)


def build_vae(cfg: InfoGANConfig, geometry: Geometry) -> tuple[nn.Module, None]:
    return InfoGANVAE(cfg, geometry), None


def _adam(lr: float, beta1: float) -> OptimizerConfig:
    """compare_gan: ``tf.train.AdamOptimizer(lr, beta1=beta1)`` for D and G alike; β2 and ε
    are TF's defaults (0.999, 1e-8)."""
    return OptimizerConfig(name="adam", lr=lr, betas=(beta1, 0.999), eps=1e-8)


#: The study's default settings ("sample 0" of every search; compare_gan v1 params.py):
#: variant → (objective config, learning rate, β1, D BatchNorm).
LUCIC_DEFAULTS = {
    "lucic_ns": (NonSaturatingConfig(n_critic=1), 5e-5, 0.0, True),
    "lucic_mm": (MinimaxConfig(n_critic=1), 5e-5, 0.0, True),
    "lucic_lsgan": (LSGANConfig(output="sigmoid", n_critic=1), 2e-4, 0.5, True),
    "lucic_wgan": (WGANClipConfig(clip=0.01, n_critic=5), 5e-5, 0.5, True),
    "lucic_wgan_gp": (WassersteinGPConfig(gp_weight=10.0, n_critic=5, drift=0.0), 1e-4, 0.5, False),
    "lucic_dragan": (DRAGANConfig(gp_weight=10.0, n_critic=1), 1e-4, 0.5, True),
}

#: compare_gan's generator step (abstract_gan.py ``run_single_train_step``): a second G
#: forward on the latents of the D step before it, so G's BatchNorm statistics move in both
#: forwards; WGAN-GP alone draws new latents first (``resample_before_generator``).
LUCIC_G_STEP = {"lucic_wgan_gp": "new_latents"}

for _name, (_loss, _lr, _beta1, _bn_on) in LUCIC_DEFAULTS.items():
    register_variant(VariantSpec(
        name=_name, model_config=InfoGANConfig, build=build_gan,
        default=VariantConfig(model=InfoGANConfig(d_batchnorm=_bn_on), loss=_loss,
                              g_optim=_adam(_lr, _beta1), d_optim=_adam(_lr, _beta1),
                              g_step=LUCIC_G_STEP.get(_name, "same_latents"))))

#: compare_gan VAE.py: Bernoulli likelihood, N(0, I) prior, one Adam(5e-5, β1 0.5) step
#: per training step; encoder BN on (the base default of its wide search).
register_variant(VariantSpec(
    name="lucic_vae", model_config=InfoGANConfig, build=build_vae,
    default=VariantConfig(model=InfoGANConfig(latent="normal"), loss=ELBOConfig(likelihood="bernoulli"),
                          g_optim=_adam(5e-5, 0.5), d_optim=None)))
