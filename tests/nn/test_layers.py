"""Shapes and numerics of the reusable layers in ganbench.nn."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganbench.nn import (
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


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --------------------------------------------------------------------------- helpers


def test_activate_lrelu_gain_and_linear():
    x = torch.tensor([-1.0, 2.0])
    torch.testing.assert_close(activate(x, "lrelu"), torch.tensor([-0.2, 2.0]) * math.sqrt(2))
    assert activate(x, "linear") is x
    with pytest.raises(ValueError):
        activate(x, "relu")


def test_normalize_2nd_moment():
    y = normalize_2nd_moment(torch.randn(5, 7) * 3)
    torch.testing.assert_close(y.square().mean(1), torch.ones(5))


def test_down_and_upsample():
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(downsample2x(x), F.avg_pool2d(x, 2))
    up = upsample2x(x)
    assert up.shape == (2, 3, 16, 16)
    ones = torch.ones(1, 1, 4, 4)
    torch.testing.assert_close(downsample2x(upsample2x(ones)), ones)


# --------------------------------------------------------------------------- equalized layers


@pytest.mark.parametrize("lr_multiplier", [1.0, 0.01])
def test_equalized_linear_scaling(lr_multiplier):
    layer = EqualizedLinear(256, 64, bias_init=0.5, lr_multiplier=lr_multiplier)
    # Stored weights are N(0, 1/lr_mul²); runtime scale is lr_mul / sqrt(fan_in).
    assert layer.weight.std().item() == pytest.approx(1 / lr_multiplier, rel=0.05)
    assert layer.weight_gain == pytest.approx(lr_multiplier / 16)
    x = torch.randn(512, 256)
    y = layer(x)
    assert y.shape == (512, 64)
    expected = F.linear(x, layer.weight * layer.weight_gain, layer.bias * lr_multiplier)
    torch.testing.assert_close(y, expected)
    # Effective init: unit-variance output for unit-variance input, bias starts at bias_init.
    assert (y - 0.5).std().item() == pytest.approx(1.0, rel=0.1)
    torch.testing.assert_close(layer.bias * layer.bias_gain, torch.full((64,), 0.5))


def test_equalized_linear_lrelu_keeps_second_moment():
    y = EqualizedLinear(512, 512, activation="lrelu")(torch.randn(256, 512))
    assert y.square().mean().item() == pytest.approx(1.0, rel=0.15)


def test_equalized_lr_multiplier_scales_effective_step():
    """One SGD step changes the effective weight by lr · lr_mul² × (grad wrt effective weight)."""
    x = torch.randn(4, 8)
    deltas = []
    for mult in (1.0, 0.1):
        torch.manual_seed(1)
        layer = EqualizedLinear(8, 3, bias=False, lr_multiplier=mult)
        before = (layer.weight * layer.weight_gain).detach().clone()
        layer(x).sum().backward()
        with torch.no_grad():
            layer.weight -= 0.1 * layer.weight.grad
        deltas.append(((layer.weight * layer.weight_gain).detach() - before).abs().sum())
    assert deltas[1] / deltas[0] == pytest.approx(0.01, rel=1e-4)


@pytest.mark.parametrize("down", [1, 2])
def test_equalized_conv_shapes_and_value(down):
    conv = EqualizedConv2d(6, 5, 3, activation="linear", down=down)
    x = torch.randn(2, 6, 8, 8)
    y = conv(x)
    assert y.shape == (2, 5, 8 // down, 8 // down)
    xin = F.avg_pool2d(x, 2) if down == 2 else x
    expected = F.conv2d(xin, conv.weight / math.sqrt(6 * 9), conv.bias, padding=1)
    torch.testing.assert_close(y, expected)


def test_equalized_conv_unit_variance():
    y = EqualizedConv2d(64, 64, 3)(torch.randn(16, 64, 16, 16))
    inner = y[:, :, 1:-1, 1:-1]  # zero padding lowers the variance at the border
    assert inner.std().item() == pytest.approx(1.0, rel=0.1)


# --------------------------------------------------------------------------- modulated conv


def naive_modconv(m: ModulatedConv2d, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Reference: one ordinary convolution per sample with its own modulated kernel."""
    outs = []
    for i in range(x.shape[0]):
        s = m.affine(w[i : i + 1])[0]
        weight = m.weight * m.weight_gain * s[None, :, None, None]
        if m.demodulate:
            weight = weight / (weight.square().sum(dim=(1, 2, 3), keepdim=True) + m.eps).sqrt()
        xi = x[i : i + 1]
        if m.up == 2:
            xi = upsample2x(xi)
        outs.append(F.conv2d(xi, weight, padding=m.kernel_size // 2))
    return torch.cat(outs)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("kernel_size", [1, 3])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("fused", [True, False])
def test_modulated_conv_matches_naive_loop(up, kernel_size, demodulate, fused):
    m = ModulatedConv2d(5, 7, kernel_size, 6, demodulate=demodulate, up=up, fused=fused)
    with torch.no_grad():
        m.affine.weight.normal_()  # styles away from 1 so modulation matters
    x, w = torch.randn(3, 5, 8, 8), torch.randn(3, 6)
    y = m(x, w)
    assert y.shape == (3, 7, 8 * up, 8 * up)
    ref = naive_modconv(m, x, w)
    if up == 2:
        # Transposed conv + [1,3,3,1] blur equals bilinear up-sampling + conv away from borders.
        y, ref = y[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2]
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-5)


def test_fused_and_unfused_agree_including_gradients():
    x, w = torch.randn(4, 8, 6, 6), torch.randn(4, 10)
    grads = []
    outs = []
    for fused in (True, False):
        torch.manual_seed(3)
        m = ModulatedConv2d(8, 4, 3, 10, up=2, fused=fused)
        y = m(x, w)
        y.square().sum().backward()
        outs.append(y)
        grads.append([p.grad for p in m.parameters()])
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("fused", [True, False])
def test_demodulation_gives_unit_output_std(fused):
    m = ModulatedConv2d(64, 32, 3, 16, demodulate=True, fused=fused)
    with torch.no_grad():
        m.affine.weight.normal_()  # strongly varying styles: demodulation must undo them
    y = m(torch.randn(8, 64, 16, 16), torch.randn(8, 16) * 3)
    per_sample = y[:, :, 1:-1, 1:-1].std(dim=(1, 2, 3))
    torch.testing.assert_close(per_sample, torch.ones(8), rtol=0.15, atol=0)


def test_demodulation_is_invariant_to_style_scale():
    m = ModulatedConv2d(4, 4, 3, 4)
    x, w = torch.randn(2, 4, 5, 5), torch.randn(2, 4)
    s = m.affine(w)
    with torch.no_grad():  # doubling the affine output doubles every style
        m.affine.weight.mul_(2)
        m.affine.bias.mul_(2)
    torch.testing.assert_close(m.affine(w), 2 * s)
    y2 = m(x, w)
    with torch.no_grad():
        m.affine.weight.div_(2)
        m.affine.bias.div_(2)
    torch.testing.assert_close(m(x, w), y2, rtol=1e-4, atol=1e-5)


def test_styled_conv_and_torgb_shapes():
    x, w = torch.randn(2, 8, 4, 4), torch.randn(2, 12)
    y = StyledConv2d(8, 6, 12, resolution=8, up=2)(x, w)
    assert y.shape == (2, 6, 8, 8)
    rgb = ToRGB(6, 3, 12)(y, w)
    assert rgb.shape == (2, 3, 8, 8)


# --------------------------------------------------------------------------- noise


def test_noise_injection_modes():
    layer = NoiseInjection(resolution=4)
    x = torch.randn(3, 2, 4, 4)
    torch.testing.assert_close(layer(x), x)  # strength starts at 0
    with torch.no_grad():
        layer.strength.fill_(0.5)
    a, b = layer(x, "random"), layer(x, "random")
    assert not torch.allclose(a, b)
    # One noise map per sample, shared by channels.
    torch.testing.assert_close(a[:, 0] - x[:, 0], a[:, 1] - x[:, 1])
    c1, c2 = layer(x, "const"), layer(x, "const")
    torch.testing.assert_close(c1, c2)
    torch.testing.assert_close(c1 - x, (0.5 * layer.noise_const).expand_as(x))
    torch.testing.assert_close(layer(x, "none"), x)
    with pytest.raises(ValueError):
        layer(x, "bogus")


def test_noise_injection_per_channel_strength_and_gradient():
    layer = NoiseInjection(resolution=4, channels=3, per_channel=True)
    assert layer.strength.shape == (3,)
    out = layer(torch.randn(2, 3, 4, 4))
    out.square().sum().backward()  # gradient reaches the zero-initialised strength
    assert layer.strength.grad.abs().sum() > 0
    scalar = NoiseInjection(resolution=4)
    assert scalar.strength.shape == ()
    assert "noise_const" in dict(scalar.named_buffers())


# --------------------------------------------------------------------------- minibatch std


def test_minibatch_stddev_adds_channels_with_hand_computed_value():
    x = torch.randn(8, 6, 4, 4)
    y = MinibatchStdDev(group_size=4, num_channels=1)(x)
    assert y.shape == (8, 7, 4, 4)
    torch.testing.assert_close(y[:, :6], x)
    # Group of sample 0: samples 0, 2, 4, 6 (stride N / group_size).
    group = x[[0, 2, 4, 6]]
    expected = group.var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
    torch.testing.assert_close(y[0, 6], expected.expand(4, 4))
    torch.testing.assert_close(y[2, 6], expected.expand(4, 4))


def test_minibatch_stddev_several_channels_and_odd_batch():
    y = MinibatchStdDev(group_size=4, num_channels=2)(torch.randn(6, 4, 3, 3))
    assert y.shape == (6, 6, 3, 3)  # batch 6: falls back to groups of 3
    assert torch.isfinite(y).all()
    y1 = MinibatchStdDev(group_size=4)(torch.randn(1, 4, 2, 2))
    assert y1.shape == (1, 5, 2, 2)


def test_equalized_conv_single_channel_1x1_fast_path():
    conv = EqualizedConv2d(1, 4, 1, activation="lrelu")
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 1, 5, 5)
    expected = activate(F.conv2d(x, conv.weight * conv.weight_gain, conv.bias), "lrelu")
    torch.testing.assert_close(conv(x), expected)
