"""A small StyleGAN2 (Karras et al. 2019, 2020) for 32×32 images and CPU training.

Generator (``skip`` architecture of StyleGAN2):

* mapping network: z → normalise (pixel norm) → [concatenated with the
  normalised label embedding when conditional] → ``mapping_layers`` equalized
  dense layers with learning-rate multiplier ``mapping_lr_multiplier`` → w.
  ``w_avg`` (a buffer, one row per class when conditional) tracks the running
  mean of w during training for the truncation trick;
* synthesis network: a learned constant 4×4 input, then one modulated 3×3 conv
  at 4×4 and, per resolution 8, 16, …, R, an up-sampling modulated conv and a
  second modulated conv.  Every conv is followed by per-pixel noise with a
  learned strength, a bias and leaky ReLU.  Each resolution has a ToRGB
  (modulated 1×1 conv) whose output is added to the bilinearly up-sampled
  image of the previous resolution.  Channels at resolution r are
  ``min(g_channel_base // r, g_channel_max)``.  The image is squashed with tanh
  into [-1, 1] (the benchmark's contract; StyleGAN2 itself leaves it unbounded).

The synthesis network consumes ``num_ws = 2·log2(R) − 2`` style vectors (one per
conv and ToRGB; a ToRGB shares its w with the next block's first conv).
Style-mixing regularisation: in training mode, with probability
``style_mixing_prob`` per sample, a second latent is mapped and replaces w
from a random crossover layer onwards.  Truncation: w ← w_avg + ψ (w − w_avg).

Noise: training always draws fresh noise.  Outside training (``G.eval()``, as
the sampler and the EMA copy use it) the mode is ``sample_noise_mode``:
"random" (default: the distribution the generator was trained to produce,
right for FID), "const" (fixed per-layer buffers: fully deterministic images,
e.g. ψ = 0 gives exactly the image of w_avg for every z) or "none".  Any call
can override it with ``G(z, c, truncation_psi, noise_mode=...)``, and explicit noise
inputs can be passed with ``noise=G.draw_noise(n, generator)`` (how the sampler makes
its noise independent of the latents and identical on every device).

Discriminator (``resnet`` architecture of StyleGAN2): FromRGB 1×1 conv at R×R,
residual blocks (3×3 conv, 3×3 conv with 2× down-sampling, 1×1 down-sampled
skip, sum scaled by 1/√2) down to 4×4, minibatch standard deviation, a 3×3
conv, a dense layer, and a dense output.  Conditional mode adds a projection
head (Miyato & Koyama 2018): logit += ⟨embed(c), φ(x)⟩ / √dim.  All layers use
equalized learning rate.

Sizing: the defaults are chosen for short (~60–100 kimg) CPU runs on 32×32
grayscale data: G channels 128/64/32/16 at 4/8/16/32 px (≈0.41 M parameters),
D channels 8/16/32/64 at 32/16/8/4 px (≈0.14 M), z 64, w 128, two mapping
layers (StyleGAN2-ADA's CIFAR setting).  D is the smaller network because it
runs forward+backward three times per step.  On 2 CPU cores this trains at
roughly 150–250 images/s at batch 64 (channels_last), and learns recognisable
Fashion-MNIST clothing by ~60 kimg.  Raise ``g_channel_base``/``d_channel_base``
(e.g. 1024/512) for quality when a GPU is available.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from ganbench.errors import ParamsError
from ganbench.models import register_variant
from ganbench.losses.logistic_r1 import LogisticR1Config
from ganbench.models.base import Geometry, OptimizerConfig, VariantConfig, VariantSpec
from ganbench.nn import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    StyledConv2d,
    ToRGB,
    normalize_2nd_moment,
    upsample2x,
)
from ganbench.nn.layers import NoiseMode


@dataclass(frozen=True)
class StyleGANConfig:
    #: Input latent size.
    z_dim: int = 64
    #: Intermediate latent (style) size.
    w_dim: int = 128
    #: Dense layers in the mapping network (StyleGAN2-ADA's CIFAR config uses 2).
    mapping_layers: int = 2
    #: Learning-rate multiplier of the mapping network.
    mapping_lr_multiplier: float = 0.01
    #: Decay of the running mean of w used for truncation.
    w_avg_beta: float = 0.995
    #: Generator channels at resolution r: min(g_channel_base // r, g_channel_max).
    g_channel_base: int = 512
    g_channel_max: int = 128
    #: Discriminator channels at resolution r: min(d_channel_base // r, d_channel_max).
    d_channel_base: int = 256
    d_channel_max: int = 64
    #: Probability (per sample, training only) of mixing styles from two latents.
    style_mixing_prob: float = 0.9
    #: Noise strength per channel (StyleGAN 1) instead of one scalar per layer.
    noise_per_channel: bool = False
    #: Noise used outside training ("random" | "const" | "none"); see module docs.
    sample_noise_mode: Literal["random", "const", "none"] = "random"
    #: Modulated convs as one grouped conv (true) or activation scaling (false; same maths,
    #: several times faster on CPUs, where grouped convs with N groups are slow).
    fused_modconv: bool = False
    #: Minibatch-stddev group size and number of statistics channels.
    mbstd_group_size: int = 4
    mbstd_channels: int = 1

    def validate(self, prefix: str) -> None:
        for key in ("z_dim", "w_dim", "mapping_layers", "g_channel_base", "g_channel_max",
                    "d_channel_base", "d_channel_max", "mbstd_group_size", "mbstd_channels"):
            if getattr(self, key) < 1:
                raise ParamsError(f"params key '{prefix}.{key}' must be ≥ 1")
        if self.mapping_lr_multiplier <= 0:
            raise ParamsError(f"params key '{prefix}.mapping_lr_multiplier' must be > 0")
        if not 0.0 <= self.w_avg_beta < 1.0:
            raise ParamsError(f"params key '{prefix}.w_avg_beta' must be in [0, 1)")
        if not 0.0 <= self.style_mixing_prob <= 1.0:
            raise ParamsError(f"params key '{prefix}.style_mixing_prob' must be in [0, 1]")


def _log2_resolution(resolution: int) -> int:
    k = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 8 or 2 ** k != resolution:
        raise ParamsError(f"StyleGAN needs data.resolution a power of two ≥ 8, got {resolution}")
    return k


def _channels(base: int, cap: int, res: int) -> int:
    return max(1, min(base // res, cap))


# --------------------------------------------------------------------------- generator


class MappingNetwork(nn.Module):
    """``forward(z (N, z_dim), c (N,) | None) -> w (N, w_dim)``; tracks ``w_avg`` in training.

    ``w_avg`` has shape (max(num_classes, 1), w_dim): the running mean of w
    (per class when conditional, so truncation pulls towards the class's centre)."""

    def __init__(self, cfg: StyleGANConfig, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.w_avg_beta = cfg.w_avg_beta
        self.embed = nn.Embedding(num_classes, cfg.w_dim) if num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight)
        in_dim = cfg.z_dim + (cfg.w_dim if num_classes else 0)
        layers = []
        for i in range(cfg.mapping_layers):
            layers.append(EqualizedLinear(in_dim if i == 0 else cfg.w_dim, cfg.w_dim,
                                          lr_multiplier=cfg.mapping_lr_multiplier,
                                          activation="lrelu"))
        self.layers = nn.Sequential(*layers)
        self.register_buffer("w_avg", torch.zeros(max(num_classes, 1), cfg.w_dim))

    def forward(self, z: Tensor, c: Tensor | None, update_w_avg: bool = False) -> Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            if c is None:
                raise ValueError("conditional generator needs class labels c")
            x = torch.cat([x, normalize_2nd_moment(self.embed(c))], dim=1)
        w = self.layers(x)
        if update_w_avg:
            self._update_w_avg(w.detach(), c)
        return w

    @torch.no_grad()
    def _update_w_avg(self, w: Tensor, c: Tensor | None) -> None:
        weight = 1.0 - self.w_avg_beta
        w = w.to(self.w_avg.dtype)  # the average stays float32 under bf16 autocast
        if self.embed is None:
            self.w_avg.lerp_(w.mean(dim=0, keepdim=True), weight)
            return
        sums = torch.zeros_like(self.w_avg).index_add_(0, c, w)
        counts = torch.bincount(c, minlength=self.num_classes).to(w.dtype)[:, None]
        means = sums / counts.clamp(min=1)
        # Classes absent from the batch keep their average.
        self.w_avg.lerp_(torch.where(counts > 0, means, self.w_avg), weight)

    def center(self, c: Tensor | None, n: int) -> Tensor:
        """The truncation centre per sample: (N, w_dim)."""
        if self.embed is None:
            return self.w_avg.expand(n, -1)
        return self.w_avg.index_select(0, c)


class _GBlock(nn.Module):
    """One synthesis resolution: up-sampling conv, conv, ToRGB.

    ``forward(x (N, c_in, r/2, r/2), img (N, C, r/2, r/2), w0, w1, w2 (N, w_dim))
    -> (x (N, c_out, r, r), img (N, C, r, r))``."""

    def __init__(self, c_in: int, c_out: int, img_channels: int, w_dim: int, resolution: int,
                 fused: bool, noise_per_channel: bool) -> None:
        super().__init__()
        self.conv0 = StyledConv2d(c_in, c_out, w_dim, resolution, up=2, fused=fused,
                                  noise_per_channel=noise_per_channel)
        self.conv1 = StyledConv2d(c_out, c_out, w_dim, resolution, fused=fused,
                                  noise_per_channel=noise_per_channel)
        self.torgb = ToRGB(c_out, img_channels, w_dim, fused=fused)

    def forward(self, x: Tensor, img: Tensor, w0: Tensor, w1: Tensor, w2: Tensor,
                noise_mode: NoiseMode, noise: tuple[Tensor | None, Tensor | None] = (None, None),
                ) -> tuple[Tensor, Tensor]:
        x = self.conv0(x, w0, noise_mode, noise[0])
        x = self.conv1(x, w1, noise_mode, noise[1])
        return x, upsample2x(img) + self.torgb(x, w2)


class SynthesisNetwork(nn.Module):
    """``forward(ws (N, num_ws, w_dim), noise_mode, noise) -> images (N, C, R, R)`` (pre-tanh).

    ``noise``: None, or one ``(N, 1, r, r)`` tensor per noise layer in the order of
    :attr:`noise_resolutions` (used in mode "random")."""

    def __init__(self, cfg: StyleGANConfig, geometry: Geometry) -> None:
        super().__init__()
        log2r = _log2_resolution(geometry.resolution)
        ch = lambda r: _channels(cfg.g_channel_base, cfg.g_channel_max, r)  # noqa: E731
        fused = cfg.fused_modconv
        npc = cfg.noise_per_channel
        self.const = nn.Parameter(torch.randn(ch(4), 4, 4))
        self.conv4 = StyledConv2d(ch(4), ch(4), cfg.w_dim, 4, fused=fused, noise_per_channel=npc)
        self.torgb4 = ToRGB(ch(4), geometry.channels, cfg.w_dim, fused=fused)
        self.blocks = nn.ModuleList(
            _GBlock(ch(2 ** (k - 1)), ch(2 ** k), geometry.channels, cfg.w_dim, 2 ** k, fused, npc)
            for k in range(3, log2r + 1))
        self.num_ws = 2 + 2 * len(self.blocks)
        #: Side of each noise input, in the order ``forward`` consumes them.
        self.noise_resolutions = [4] + [2 ** k for k in range(3, log2r + 1) for _ in range(2)]

    def forward(self, ws: Tensor, noise_mode: NoiseMode, noise: list[Tensor] | None = None) -> Tensor:
        n = ws.shape[0]
        if noise is not None and len(noise) != len(self.noise_resolutions):
            raise ValueError(f"expected {len(self.noise_resolutions)} noise tensors, got {len(noise)}")
        layer_noise = list(noise) if noise is not None else [None] * len(self.noise_resolutions)
        x = self.const.unsqueeze(0).expand(n, -1, -1, -1)
        x = self.conv4(x, ws[:, 0], noise_mode, layer_noise[0])
        img = self.torgb4(x, ws[:, 1])
        i = 1
        for j, block in enumerate(self.blocks):
            pair = (layer_noise[1 + 2 * j], layer_noise[2 + 2 * j])
            x, img = block(x, img, ws[:, i], ws[:, i + 1], ws[:, i + 2], noise_mode, pair)
            i += 2
        return img


class StyleGANGenerator(nn.Module):
    """``forward(z (N, z_dim), c (N,) | None, truncation_psi, noise_mode=None) -> (N, C, R, R)``
    in [-1, 1]. See the module docstring for training/eval behaviour.

    ``forward(..., return_ws=True)`` returns ``(images, ws)``: ``ws (N, num_ws, w_dim)`` is
    the style tensor the synthesis network consumed (after truncation and style mixing),
    so gradients with respect to it can be taken (path-length regularisation)."""

    supports_truncation = True
    exposes_ws = True

    def __init__(self, cfg: StyleGANConfig, geometry: Geometry) -> None:
        super().__init__()
        self.z_dim = cfg.z_dim
        self.w_dim = cfg.w_dim
        self.num_classes = geometry.num_classes
        self.style_mixing_prob = cfg.style_mixing_prob
        self.sample_noise_mode: NoiseMode = cfg.sample_noise_mode
        self.mapping = MappingNetwork(cfg, geometry.num_classes)
        self.synthesis = SynthesisNetwork(cfg, geometry)
        self.num_ws = self.synthesis.num_ws

    def draw_noise(self, n: int, generator: torch.Generator) -> list[Tensor]:
        """Per-layer noise inputs for ``n`` samples from ``generator`` (CPU): one
        ``(n, 1, r, r)`` tensor per noise layer, for ``forward(..., noise=...)``."""
        return [torch.randn(n, 1, r, r, generator=generator)
                for r in self.synthesis.noise_resolutions]

    def forward(self, z: Tensor, c: Tensor | None = None, truncation_psi: float = 1.0,
                noise_mode: NoiseMode | None = None, noise: list[Tensor] | None = None,
                return_ws: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        training = self.training
        w = self.mapping(z, c, update_w_avg=training)
        if truncation_psi != 1.0:
            center = self.mapping.center(c, w.shape[0])
            w = center + truncation_psi * (w - center)
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        if training and self.style_mixing_prob > 0:
            ws = self._mix_styles(ws, z, c, truncation_psi)
        if noise_mode is None:
            noise_mode = "random" if training else self.sample_noise_mode
        images = torch.tanh(self.synthesis(ws, noise_mode, noise))
        return (images, ws) if return_ws else images

    # Style mixing regularisation (split into hooks so tests can force its choices).

    def _mixing_latent(self, z: Tensor) -> Tensor:
        """The second latent for style mixing: fresh N(0, I), shape of ``z``."""
        return torch.randn_like(z)

    def _mixing_cutoff(self, n: int, device: torch.device) -> Tensor:
        """Per-sample crossover layer (N,) long: uniform in [1, num_ws) with probability
        ``style_mixing_prob``, else ``num_ws`` (no mixing)."""
        cutoff = torch.randint(1, self.num_ws, (n,), device=device)
        mix = torch.rand(n, device=device) < self.style_mixing_prob
        return torch.where(mix, cutoff, torch.full_like(cutoff, self.num_ws))

    def _mix_styles(self, ws: Tensor, z: Tensor, c: Tensor | None, psi: float) -> Tensor:
        w2 = self.mapping(self._mixing_latent(z), c, update_w_avg=False)
        if psi != 1.0:
            center = self.mapping.center(c, w2.shape[0])
            w2 = center + psi * (w2 - center)
        cutoff = self._mixing_cutoff(ws.shape[0], ws.device)
        layer = torch.arange(self.num_ws, device=ws.device)
        use_second = (layer[None, :] >= cutoff[:, None])[:, :, None]  # (N, num_ws, 1)
        return torch.where(use_second, w2.unsqueeze(1), ws)


# --------------------------------------------------------------------------- discriminator


class _DBlock(nn.Module):
    """Residual block: (N, c_in, r, r) → (N, c_out, r/2, r/2)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(c_in, c_in, 3, activation="lrelu")
        self.conv1 = EqualizedConv2d(c_in, c_out, 3, activation="lrelu", down=2)
        self.skip = EqualizedConv2d(c_in, c_out, 1, bias=False, down=2)

    def forward(self, x: Tensor) -> Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


class StyleGANDiscriminator(nn.Module):
    """``forward(x (N, C, R, R), c (N,) | None) -> logits (N,)``."""

    def __init__(self, cfg: StyleGANConfig, geometry: Geometry) -> None:
        super().__init__()
        log2r = _log2_resolution(geometry.resolution)
        ch = lambda r: _channels(cfg.d_channel_base, cfg.d_channel_max, r)  # noqa: E731
        res = geometry.resolution
        self.from_rgb = EqualizedConv2d(geometry.channels, ch(res), 1, activation="lrelu")
        self.blocks = nn.Sequential(*[_DBlock(ch(2 ** k), ch(2 ** (k - 1)))
                                      for k in range(log2r, 2, -1)])
        c4 = ch(4)
        if c4 % cfg.mbstd_channels:
            raise ParamsError(f"stylegan: mbstd_channels ({cfg.mbstd_channels}) must divide the "
                              f"discriminator's 4×4 channel count ({c4}); change one of them")
        self.mbstd = MinibatchStdDev(cfg.mbstd_group_size, cfg.mbstd_channels)
        #: Minibatch standard deviation mixes the samples of a group (see models.base).
        self.batch_independent = False
        self.conv = EqualizedConv2d(c4 + cfg.mbstd_channels, c4, 3, activation="lrelu")
        self.fc = EqualizedLinear(c4 * 16, c4, activation="lrelu")
        self.out = EqualizedLinear(c4, 1)
        self.embed = nn.Embedding(geometry.num_classes, c4) if geometry.num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight)
        self.proj_gain = 1.0 / math.sqrt(c4)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        h = self.blocks(self.from_rgb(x))
        h = self.conv(self.mbstd(h))
        h = self.fc(h.flatten(1))
        out = self.out(h).squeeze(1)
        if self.embed is not None:
            if c is None:
                raise ValueError("conditional discriminator needs class labels c")
            out = out + (self.embed(c) * h).sum(dim=1) * self.proj_gain
        return out


def build(cfg: StyleGANConfig, geometry: Geometry) -> tuple[nn.Module, nn.Module]:
    return StyleGANGenerator(cfg, geometry), StyleGANDiscriminator(cfg, geometry)


#: stylegan2-ada-pytorch (train.py, cifar/auto configs): Adam(0.0025, β = (0, 0.99), ε = 1e-8).
STYLEGAN_ADAM = OptimizerConfig(name="adam", lr=0.0025, betas=(0.0, 0.99), eps=1e-8)

SPEC = register_variant(
    VariantSpec(
        name="stylegan",
        model_config=StyleGANConfig,
        build=build,
        # stylegan2-ada-pytorch StyleGAN2Loss and training_loop defaults: path-length
        # regularisation with weight 2 every 4 G steps (G_reg_interval), R1 every 16 D steps.
        default=VariantConfig(model=StyleGANConfig(), loss=LogisticR1Config(pl_weight=2.0),
                              g_optim=STYLEGAN_ADAM, d_optim=STYLEGAN_ADAM),
    )
)
