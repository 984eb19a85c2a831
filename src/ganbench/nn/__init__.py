"""Reusable neural-network layers (equalized learning rate, modulation, noise, minibatch std)."""

from ganbench.nn.layers import (
    LRELU_GAIN,
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    ModulatedConv2d,
    NoiseInjection,
    StyledConv2d,
    ToRGB,
    activate,
    downsample2x,
    normalize_2nd_moment,
    upsample2x,
)

__all__ = [
    "LRELU_GAIN",
    "EqualizedConv2d",
    "EqualizedLinear",
    "MinibatchStdDev",
    "ModulatedConv2d",
    "NoiseInjection",
    "StyledConv2d",
    "ToRGB",
    "activate",
    "downsample2x",
    "normalize_2nd_moment",
    "upsample2x",
]
