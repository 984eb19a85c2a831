"""Convolutional variational autoencoder (Kingma & Welling 2014), a non-adversarial baseline.

Networks only; the objective (negative ELBO, reparameterisation) lives in
:mod:`ganbench.losses.vae`.  For square images of side ``R = 2^k ≥ 8``, with
``n = k - 2`` halvings between ``R`` and 4×4:

* Encoder q(z|x, c): n stride-2 4×4 convolutions with LeakyReLU(0.2), from
  ``enc_channels`` channels at R/2 doubling per layer, flattened at 4×4, then
  one linear layer to ``(mu, logvar)`` of q's diagonal Gaussian.
* Decoder p(x|z, c): one linear layer from z to a 4×4 feature map with ReLU,
  then n stride-2 4×4 transposed convolutions doubling the side and halving
  the channels (ReLU between, ``dec_channels`` channels at R/2), the last one
  to the image channels followed by tanh, so images lie in [-1, 1].

No normalisation layers: the encoder sees each image alone, and train and eval
mode compute the same function.

Conditional mode (Sohn et al. 2015's CVAE, with DCGAN's label handling): each
network has its own label embedding; the decoder concatenates it to z, the
encoder to its flattened 4×4 features before the (mu, logvar) head.

The generator object handed to the rest of ganbench is the whole :class:`VAE`:
calling it decodes, ``encode`` gives the posterior parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor, nn

from ganbench.errors import ParamsError
from ganbench.losses.vae import ELBOConfig
from ganbench.models import register_variant
from ganbench.models.base import Geometry, OptimizerConfig, VariantConfig, VariantSpec
from ganbench.nn.labels import label_embedding, with_labels


@dataclass(frozen=True)
class VAEConfig:
    #: Latent size (dimension of z and of the posterior's mean and log-variance).
    z_dim: int = 32
    #: Encoder width: channels of its first conv (at R/2), doubled per layer towards 4×4.
    enc_channels: int = 32
    #: Decoder width: channels of its last hidden layer (at R/2), doubled per layer towards 4×4.
    dec_channels: int = 32
    #: Label embedding size for conditional encoder and decoder.
    embed_dim: int = 32

    def validate(self, prefix: str) -> None:
        for key in ("z_dim", "enc_channels", "dec_channels", "embed_dim"):
            if getattr(self, key) < 1:
                raise ParamsError(f"params key '{prefix}.{key}' must be ≥ 1")


def _num_halvings(resolution: int) -> int:
    """Stride-2 layers between ``resolution`` and 4×4 (``resolution`` a power of two ≥ 8)."""
    n = int(math.log2(resolution)) - 2 if resolution > 0 else 0
    if resolution < 8 or 2 ** (n + 2) != resolution:
        raise ParamsError(f"the VAE needs data.resolution a power of two ≥ 8, got {resolution}")
    return n


class VAEEncoder(nn.Module):
    """``forward(x (N, C, R, R) in [-1, 1], c (N,) | None) -> (mu, logvar)``, each
    ``(N, z_dim)``: the mean and log-variance of the diagonal Gaussian q(z | x, c)."""

    def __init__(self, cfg: VAEConfig, geometry: Geometry) -> None:
        super().__init__()
        n = _num_halvings(geometry.resolution)
        ch = cfg.enc_channels
        layers: list[nn.Module] = [nn.Conv2d(geometry.channels, ch, 4, 2, 1),  # R → R/2
                                   nn.LeakyReLU(0.2)]
        for _ in range(n - 1):  # R/2 → … → 4
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.LeakyReLU(0.2)]
            ch *= 2
        self.features = nn.Sequential(*layers)
        self.embed = label_embedding(geometry.num_classes, cfg.embed_dim)
        in_dim = ch * 4 * 4 + (cfg.embed_dim if self.embed is not None else 0)
        #: One linear head; its output splits into (mu, logvar).
        self.head = nn.Linear(in_dim, 2 * cfg.z_dim)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.features(x).flatten(1)  # (N, ch·16)
        h = with_labels(h, self.embed, c, "VAE encoder")
        mu, logvar = self.head(h).chunk(2, dim=1)
        return mu, logvar


class VAEDecoder(nn.Module):
    """``forward(z (N, z_dim), c (N,) | None) -> images (N, C, R, R)`` in [-1, 1]: the
    mean of p(x | z, c) (see :mod:`ganbench.losses.vae` for the likelihood)."""

    def __init__(self, cfg: VAEConfig, geometry: Geometry) -> None:
        super().__init__()
        n = _num_halvings(geometry.resolution)
        ch = cfg.dec_channels * 2 ** (n - 1)
        self.base_channels = ch
        self.embed = label_embedding(geometry.num_classes, cfg.embed_dim)
        in_dim = cfg.z_dim + (cfg.embed_dim if self.embed is not None else 0)
        self.fc = nn.Sequential(nn.Linear(in_dim, ch * 4 * 4), nn.ReLU())  # → (ch, 4, 4)
        layers: list[nn.Module] = []
        for _ in range(n - 1):  # 4 → 8 → … → R/2
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1), nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, geometry.channels, 4, 2, 1), nn.Tanh()]  # R/2 → R
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        z = with_labels(z, self.embed, c, "VAE decoder")
        h = self.fc(z).view(len(z), self.base_channels, 4, 4)
        return self.net(h)


class VAE(nn.Module):
    """Encoder and decoder behind ganbench's generator contract.

    ``forward(z (N, z_dim), c (N,) | None, truncation_psi=1.0) -> (N, C, R, R)`` in
    [-1, 1] decodes (z ~ N(0, I) draws samples from the model);
    ``encode(x (N, C, R, R), c (N,) | None) -> (mu, logvar)``, each ``(N, z_dim)``."""

    supports_truncation = False

    def __init__(self, cfg: VAEConfig, geometry: Geometry) -> None:
        super().__init__()
        self.z_dim = cfg.z_dim
        self.num_classes = geometry.num_classes
        self.encoder = VAEEncoder(cfg, geometry)
        self.decoder = VAEDecoder(cfg, geometry)

    def forward(self, z: Tensor, c: Tensor | None = None, truncation_psi: float = 1.0) -> Tensor:
        if truncation_psi != 1.0:
            raise ValueError("the VAE has no mapping network: truncation must be 1.0")
        return self.decoder(z, c)

    def encode(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.encoder(x, c)


def build(cfg: VAEConfig, geometry: Geometry) -> tuple[nn.Module, None]:
    """The VAE as the generator, and no discriminator."""
    return VAE(cfg, geometry), None


#: Kingma & Welling 2014 trained with Adagrad; like the PyTorch VAE example
#: (pytorch/examples, vae/main.py: ``optim.Adam(model.parameters(), lr=1e-3)``) we use
#: Adam(1e-3) with PyTorch's default β = (0.9, 0.999) and ε = 1e-8.
VAE_ADAM = OptimizerConfig(name="adam", lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

SPEC = register_variant(
    VariantSpec(
        name="vae",
        model_config=VAEConfig,
        build=build,
        default=VariantConfig(model=VAEConfig(), loss=ELBOConfig(), g_optim=VAE_ADAM, d_optim=None),
    )
)
