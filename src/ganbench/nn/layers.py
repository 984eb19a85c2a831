"""Small reusable layers for style-based networks. No GAN logic lives here.

Conventions: ``N`` batch, ``C`` channels, ``H``/``W`` height/width, ``w_dim`` the
size of a style (intermediate latent) vector.  Every layer with trainable
weights uses the *equalized learning rate* of Karras et al. (2018): weights are
stored as N(0, 1 / lr_multiplier) and scaled at run time by
``lr_multiplier / sqrt(fan_in)``.  With Adam (whose updates are invariant to a
parameter's scale) this gives every layer the same effective learning rate,
``lr × lr_multiplier``, relative to the magnitude of its weights.

Activations are either ``"linear"`` or ``"lrelu"`` (leaky ReLU with slope 0.2,
multiplied by √2 so that a unit-variance input keeps roughly unit variance).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Activation = Literal["linear", "lrelu"]
NoiseMode = Literal["random", "const", "none"]

#: Gain applied after leaky ReLU(0.2) to preserve the signal's second moment.
LRELU_GAIN = math.sqrt(2.0)


def activate(x: Tensor, activation: Activation) -> Tensor:
    """Apply ``activation`` ("linear" or "lrelu" with gain √2) to ``x`` of any shape."""
    if activation == "linear":
        return x
    if activation == "lrelu":
        return F.leaky_relu(x, 0.2) * LRELU_GAIN
    raise ValueError(f"unknown activation {activation!r}; use 'linear' or 'lrelu'")


def normalize_2nd_moment(x: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Scale ``x`` so that the mean of its squares along ``dim`` is 1 (pixel norm)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def upsample2x(x: Tensor) -> Tensor:
    """Bilinear ×2 up-sampling with half-pixel centres: (N, C, H, W) → (N, C, 2H, 2W).

    In the interior this is the separable FIR filter [1, 3, 3, 1]/4 on a
    zero-stuffed image, the filter StyleGAN2 uses; borders replicate edge pixels."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def downsample2x(x: Tensor) -> Tensor:
    """2×2 average pooling: (N, C, H, W) → (N, C, H/2, W/2) (box anti-aliasing filter).

    Written as a depthwise stride-2 convolution with a constant 2×2 kernel of ¼:
    the same numbers as ``F.avg_pool2d(x, 2)``, but 3–5× faster on CPUs (oneDNN)."""
    c = x.shape[1]
    kernel = torch.full((c, 1, 2, 2), 0.25, device=x.device, dtype=x.dtype)
    return F.conv2d(x, kernel, stride=2, groups=c)


def _blur_kernel(channels: int, gain: float, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Depthwise 4×4 kernel [1, 3, 3, 1] ⊗ [1, 3, 3, 1], normalised to sum to ``gain``:
    shape (channels, 1, 4, 4)."""
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device, dtype=dtype)
    k = torch.outer(f, f)
    k = k * (gain / k.sum())
    return k.expand(channels, 1, 4, 4).contiguous()


# --------------------------------------------------------------------------- dense / conv


class EqualizedLinear(nn.Module):
    """Fully connected layer with equalized learning rate.

    Args:
        in_features: size of the last input dimension.
        out_features: size of the last output dimension.
        bias: add a learned bias.
        bias_init: initial value of the (effective) bias, e.g. 1 for style affines.
        lr_multiplier: scales this layer's effective learning rate (0.01 in a
            StyleGAN mapping network).
        activation: "linear" or "lrelu".

    Shapes: ``(N, in_features) → (N, out_features)`` (any leading dimensions work).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 bias_init: float = 0.0, lr_multiplier: float = 1.0,
                 activation: Activation = "linear") -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = (nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier))
                     if bias else None)
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias is not None else None
        return activate(F.linear(x, w, b), self.activation)

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, "
                f"bias={self.bias is not None}, activation={self.activation}")


class EqualizedConv2d(nn.Module):
    """2-D convolution with equalized learning rate, "same" padding, optional ×2 down-sampling.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: odd square kernel size.
        bias: add a learned per-channel bias.
        activation: "linear" or "lrelu".
        down: 1, or 2 to halve the resolution: the input is 2×2-average-pooled
            first and the convolution then runs at the low resolution (as cheap
            as a strided convolution, with a box anti-aliasing filter).
        lr_multiplier: scales this layer's effective learning rate.

    Shapes: ``(N, in_channels, H, W) → (N, out_channels, H/down, W/down)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: Activation = "linear", down: int = 1,
                 lr_multiplier: float = 1.0) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("kernel_size must be odd")
        if down not in (1, 2):
            raise ValueError("down must be 1 or 2")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.activation = activation
        self.down = down
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_multiplier)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_channels * kernel_size * kernel_size)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        if self.down == 2:
            x = downsample2x(x)
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias is not None else None
        if self.kernel_size == 1 and self.in_channels == 1:
            # 1×1 conv from one channel (FromRGB of grayscale images) is a broadcast
            # multiply-add: ~10× faster on CPUs than a degenerate convolution.
            x = x * w.view(1, -1, 1, 1)
            if b is not None:
                x = x + b.view(1, -1, 1, 1)
        else:
            x = F.conv2d(x, w, b, padding=self.kernel_size // 2)
        return activate(x, self.activation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, "
                f"down={self.down}, bias={self.bias is not None}, activation={self.activation}")


# --------------------------------------------------------------------------- modulation


class ModulatedConv2d(nn.Module):
    """StyleGAN2 weight-modulated convolution (Karras et al. 2020, §2.2).

    A learned affine map turns the style ``w`` into per-input-channel scales
    ``s`` (initialised around 1).  The kernel is modulated per sample,
    ``w'[n,o,i] = W[o,i] · s[n,i]``, and, with ``demodulate``, rescaled so that
    each output channel has unit expected variance for unit-variance inputs:
    ``w''[n,o,i] = w'[n,o,i] / sqrt(Σ_{i,kh,kw} w'[n,o,i]² + eps)``.

    Two equivalent implementations (same result up to rounding):

    * ``fused=True``: the batch is folded into the channel axis and one
      *grouped* convolution with ``groups=N`` applies each sample's own kernel
      (``(1, N·C_in, H, W)`` ∗ ``(N·C_out, C_in, k, k)``).
    * ``fused=False``: scale the activations by ``s``, run one ordinary
      convolution with the shared kernel, multiply the output by the
      demodulation coefficients.  Usually faster on CPUs for small channel counts.

    ``up=2`` doubles the resolution with a stride-2 transposed convolution
    followed by a [1, 3, 3, 1] blur, which equals (away from the borders)
    bilinear ×2 up-sampling followed by the convolution, at a quarter of the cost.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: odd square kernel size (1 for ToRGB, 3 otherwise).
        w_dim: size of the style vector.
        demodulate: apply demodulation (off for ToRGB layers).
        up: 1, or 2 for ×2 up-sampling.
        fused: implementation choice, see above.

    Shapes: ``x (N, in_channels, H, W), w (N, w_dim) → (N, out_channels, up·H, up·W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int,
                 demodulate: bool = True, up: int = 1, fused: bool = True,
                 eps: float = 1e-8) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("kernel_size must be odd")
        if up not in (1, 2):
            raise ValueError("up must be 1 or 2")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.up = up
        self.fused = fused
        self.eps = eps
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        if up == 2:
            self.register_buffer("blur", _blur_kernel(out_channels, 4.0, torch.device("cpu"),
                                                      torch.float32), persistent=False)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        n, c, h, wd = x.shape
        styles = self.affine(w)  # (N, C_in)
        weight = self.weight * self.weight_gain  # (C_out, C_in, k, k)
        k = self.kernel_size
        if self.fused:
            wgt = weight.unsqueeze(0) * styles[:, None, :, None, None]  # (N, C_out, C_in, k, k)
            if self.demodulate:
                wgt = wgt * (wgt.square().sum(dim=(2, 3, 4), keepdim=True) + self.eps).rsqrt()
            xg = x.reshape(1, n * c, h, wd)
            if self.up == 1:
                y = F.conv2d(xg, wgt.reshape(n * self.out_channels, c, k, k),
                             padding=k // 2, groups=n)
            else:
                # conv_transpose2d wants (in, out/groups, k, k) and a flipped kernel.
                wt = wgt.transpose(1, 2).flip(3, 4).reshape(n * c, self.out_channels, k, k)
                y = F.conv_transpose2d(xg, wt, stride=2, groups=n)
            y = y.reshape(n, self.out_channels, y.shape[2], y.shape[3])
        else:
            y = x * styles[:, :, None, None]
            if self.up == 1:
                y = F.conv2d(y, weight, padding=k // 2)
            else:
                y = F.conv_transpose2d(y, weight.transpose(0, 1).flip(2, 3), stride=2)
            if self.demodulate:
                # Σ_i s[n,i]² Σ_{kh,kw} W[o,i]²  →  (N, C_out)
                dcoefs = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + self.eps).rsqrt()
                y = y * dcoefs[:, :, None, None]
        if self.up == 2:
            # Transposed conv gives 2H + k - 2 pixels; the blur (gain 4 = up²) trims to 2H.
            pad = (5 - k) // 2
            y = F.conv2d(y, self.blur.to(y.dtype), padding=pad, groups=self.out_channels)
        return y

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, up={self.up}, "
                f"demodulate={self.demodulate}, fused={self.fused}")


class NoiseInjection(nn.Module):
    """Adds per-pixel Gaussian noise scaled by a learned strength (initialised to 0).

    Args:
        resolution: side length of the feature maps (for the ``"const"`` buffer).
        channels: with ``per_channel=True``, one strength per channel.
        per_channel: learn a strength per channel (StyleGAN 1) instead of one
            scalar (StyleGAN2).

    ``forward(x, noise_mode)`` with ``x (N, C, H, W)`` returns the same shape:

    * ``"random"``: N(0, 1) noise of shape (N, 1, H, W), shared by channels: the given
      ``noise`` tensor, or freshly drawn from the global RNG when it is None;
    * ``"const"``: the fixed buffer ``noise_const`` (1, 1, H, W), identical for
      every sample and call (deterministic output);
    * ``"none"``: no noise.
    """

    def __init__(self, resolution: int, channels: int = 1, per_channel: bool = False) -> None:
        super().__init__()
        self.per_channel = per_channel
        self.strength = nn.Parameter(torch.zeros(channels if per_channel else ()))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: Tensor, noise_mode: NoiseMode = "random", noise: Tensor | None = None) -> Tensor:
        if noise_mode == "none":
            return x
        if noise_mode == "random":
            if noise is None:
                noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device,
                                    dtype=x.dtype)
            elif noise.shape != (x.shape[0], 1, x.shape[2], x.shape[3]):
                raise ValueError(f"noise must have shape {(x.shape[0], 1, *x.shape[2:])}, "
                                 f"got {tuple(noise.shape)}")
        elif noise_mode == "const":
            noise = self.noise_const
        else:
            raise ValueError(f"unknown noise_mode {noise_mode!r}; use 'random', 'const' or 'none'")
        strength = self.strength.view(1, -1, 1, 1) if self.per_channel else self.strength
        return x + noise * strength


class StyledConv2d(nn.Module):
    """Modulated conv → noise → bias → lrelu: one synthesis layer of StyleGAN2.

    Args: as :class:`ModulatedConv2d` plus ``resolution`` (output side, for the
    noise buffer) and ``noise_per_channel``.

    Shapes: ``x (N, in_channels, H, W), w (N, w_dim) → (N, out_channels, up·H, up·W)``;
    ``noise`` (optional, mode "random") is ``(N, 1, up·H, up·W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 kernel_size: int = 3, up: int = 1, fused: bool = True,
                 noise_per_channel: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, w_dim, demodulate=True,
                                    up=up, fused=fused)
        self.noise = NoiseInjection(resolution, out_channels, per_channel=noise_per_channel)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor, noise_mode: NoiseMode = "random",
                noise: Tensor | None = None) -> Tensor:
        x = self.noise(self.conv(x, w), noise_mode, noise)
        return activate(x + self.bias.view(1, -1, 1, 1), "lrelu")


class ToRGB(nn.Module):
    """Modulated 1×1 convolution without demodulation, plus bias: features → image.

    Shapes: ``x (N, in_channels, H, W), w (N, w_dim) → (N, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, fused: bool = True) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, w_dim, demodulate=False,
                                    fused=fused)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return self.conv(x, w) + self.bias.view(1, -1, 1, 1)


# --------------------------------------------------------------------------- discriminator


class MinibatchStdDev(nn.Module):
    """Appends the mini-batch standard deviation as extra feature maps (Karras et al. 2018).

    Samples are split into groups of ``group_size`` (samples ``i`` and
    ``i + N/group_size`` share a group); within a group the per-feature standard
    deviation is averaged over features and pixels, separately for each of
    ``num_channels`` slices of the channels, and broadcast back as constant maps.
    When ``N`` is not divisible by ``group_size`` the largest divisor of ``N`` not
    above it is used.

    Groups never span processes: in a distributed run each rank groups its own share.
    With the rank-strided shares of ``World.shard`` and ``group_size`` dividing the
    per-rank batch, those are exactly one process's groups (sample ``i`` of the global
    batch with ``i + N/group_size``, ...); otherwise (per-rank batch smaller than, or not
    divisible by, ``group_size``) they are other groups, so the run is a slightly
    different model (measured: the discriminator's gradient moves by 3% for a global
    batch of 12 on 2 ranks, 16% for 2 per rank).

    Shapes: ``(N, C, H, W) → (N, C + num_channels, H, W)``; ``C`` must be
    divisible by ``num_channels``.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1) -> None:
        super().__init__()
        if group_size < 1 or num_channels < 1:
            raise ValueError("group_size and num_channels must be ≥ 1")
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        f = self.num_channels
        y = x.reshape(g, n // g, f, c // f, h, w)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()  # (N/g, F, C/F, H, W)
        y = y.mean(dim=(2, 3, 4))  # (N/g, F)
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)  # (N, F, H, W)
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


__all__ = [
    "Activation",
    "NoiseMode",
    "LRELU_GAIN",
    "activate",
    "normalize_2nd_moment",
    "upsample2x",
    "downsample2x",
    "EqualizedLinear",
    "EqualizedConv2d",
    "ModulatedConv2d",
    "NoiseInjection",
    "StyledConv2d",
    "ToRGB",
    "MinibatchStdDev",
]
