"""DCGAN networks (Radford et al. 2015) for square images of side 2^k ≥ 16.

Generator: z → (4×4 × base·2^(n-1)) by a transposed conv, then stride-2
transposed convs with BatchNorm + ReLU, halving channels and doubling side,
to a final transposed conv + tanh.  Discriminator: the mirror image with
strided convs and LeakyReLU(0.2) (no BatchNorm on the first layer), ending in
one logit.  Conditional mode: the label's embedding is concatenated to z in G;
D uses a projection head (Miyato & Koyama 2018).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor, nn

from ganbench.errors import ParamsError
from ganbench.models import register_variant
from ganbench.losses.nonsaturating import NonSaturatingConfig
from ganbench.models.base import Geometry, OptimizerConfig, VariantConfig, VariantSpec
from ganbench.nn.labels import embed_labels, label_embedding, with_labels


@dataclass(frozen=True)
class DCGANConfig:
    #: Latent size.
    z_dim: int = 100
    #: Generator width: channels of the last hidden layer (doubled per layer towards 4×4).
    g_channels: int = 64
    #: Discriminator width: channels of the first layer.
    d_channels: int = 64
    #: Label embedding size for conditional G.
    embed_dim: int = 32
    #: BatchNorm in the discriminator (off for critics of WGAN-GP).
    d_batchnorm: bool = True
    #: Layer norm in the discriminator instead (per-sample normalisation; WGAN-GP safe).
    d_layernorm: bool = False

    def validate(self, prefix: str) -> None:
        for key in ("z_dim", "g_channels", "d_channels", "embed_dim"):
            if getattr(self, key) < 1:
                raise ParamsError(f"params key '{prefix}.{key}' must be ≥ 1")
        if self.d_batchnorm and self.d_layernorm:
            raise ParamsError(f"'{prefix}.d_batchnorm' and '{prefix}.d_layernorm' are exclusive; "
                              "set one to false")


def _num_upsamplings(resolution: int) -> int:
    n = int(math.log2(resolution)) - 2
    if resolution < 16 or 2 ** (n + 2) != resolution:
        raise ParamsError(f"DCGAN needs data.resolution a power of two ≥ 16, got {resolution}")
    return n


class DCGANGenerator(nn.Module):
    """``forward(z (N, z_dim), c (N,) | None) -> (N, channels, R, R)`` in [-1, 1]."""

    supports_truncation = False

    def __init__(self, cfg: DCGANConfig, geometry: Geometry) -> None:
        super().__init__()
        self.z_dim = cfg.z_dim
        self.num_classes = geometry.num_classes
        n = _num_upsamplings(geometry.resolution)
        self.embed = label_embedding(geometry.num_classes, cfg.embed_dim)
        in_dim = cfg.z_dim + (cfg.embed_dim if self.embed is not None else 0)
        ch = cfg.g_channels * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, ch, 4, 1, 0, bias=False),  # 1×1 → 4×4
            nn.BatchNorm2d(ch),
            nn.ReLU(inplace=True),
        ]
        for _ in range(n - 1):  # 4 → 8 → … → R/2
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2),
                       nn.ReLU(inplace=True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, geometry.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, z: Tensor, c: Tensor | None = None, truncation_psi: float = 1.0) -> Tensor:
        if truncation_psi != 1.0:
            raise ValueError("DCGAN has no mapping network: truncation must be 1.0")
        z = with_labels(z, self.embed, c, "generator")
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """``forward(x (N, channels, R, R), c (N,) | None) -> logits (N,)``."""

    def __init__(self, cfg: DCGANConfig, geometry: Geometry) -> None:
        super().__init__()
        n = _num_upsamplings(geometry.resolution)
        ch = cfg.d_channels
        side = geometry.resolution // 2
        layers: list[nn.Module] = [nn.Conv2d(geometry.channels, ch, 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(n - 1):  # R/2 → … → 4
            side //= 2
            layers.append(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not (cfg.d_batchnorm or cfg.d_layernorm)))
            if cfg.d_batchnorm:
                layers.append(nn.BatchNorm2d(ch * 2))
            elif cfg.d_layernorm:
                layers.append(nn.GroupNorm(1, ch * 2))  # layer norm over (C, H, W)
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            ch *= 2
        self.features = nn.Sequential(*layers)
        #: Each score depends on its own sample alone (no BatchNorm): see models.base.
        self.batch_independent = not cfg.d_batchnorm
        self.head = nn.Conv2d(ch, 1, 4, 1, 0)  # 4×4 → 1×1
        self.embed = label_embedding(geometry.num_classes, ch)
        self.apply(_dcgan_init)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        h = self.features(x)
        out = self.head(h).flatten()
        e = embed_labels(self.embed, c, "discriminator")
        if e is not None:  # projection (Miyato & Koyama 2018)
            out = out + (e * h.sum(dim=(2, 3))).sum(dim=1)
        return out


def _dcgan_init(m: nn.Module) -> None:
    """N(0, 0.02) conv weights, N(1, 0.02) BatchNorm scales (the paper's init)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build(cfg: DCGANConfig, geometry: Geometry) -> tuple[nn.Module, nn.Module]:
    return DCGANGenerator(cfg, geometry), DCGANDiscriminator(cfg, geometry)


#: Radford et al. 2015 (and the PyTorch DCGAN example): Adam(2e-4, β = (0.5, 0.999)).
DCGAN_ADAM = OptimizerConfig(name="adam", lr=2e-4, betas=(0.5, 0.999))

SPEC = register_variant(
    VariantSpec(
        name="dcgan",
        model_config=DCGANConfig,
        build=build,
        default=VariantConfig(model=DCGANConfig(), loss=NonSaturatingConfig(),
                              g_optim=DCGAN_ADAM, d_optim=DCGAN_ADAM),
    )
)
