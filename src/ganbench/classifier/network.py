"""The domain classifier's network (see the package docstring for its layers), and the
folded, frozen module inference runs."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ganbench.classifier.config import ClassifierConfig

def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
    ]


class CentreCrop(nn.Module):
    """The central ``size x size`` window of ``(N, C, H, W)`` images (bottom/right get
    the extra pixel when ``H - size`` is odd, as the padding in preprocessing)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = (x.shape[-2] - self.size) // 2
        left = (x.shape[-1] - self.size) // 2
        return x[..., top : top + self.size, left : left + self.size]


class DomainClassifier(nn.Module):
    """The CNN in the module docstring.  ``forward`` gives logits ``(N, classes)``;
    :meth:`features_and_logits` gives ``(N, feature_dim)`` features too."""

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        crop = cfg.crop or cfg.image_size
        if not 8 <= crop <= cfg.image_size:
            raise ValueError(f"crop must be in 8..{cfg.image_size} (or 0), got {cfg.crop}")
        w = cfg.width
        side = math.ceil(math.ceil(math.ceil(crop / 2) / 2) / 2)
        self.in_channels = cfg.in_channels
        self.image_size = cfg.image_size
        self.body = nn.Sequential(
            CentreCrop(crop),
            *_conv_block(cfg.in_channels, w),
            *_conv_block(w, 2 * w),
            *_conv_block(2 * w, 4 * w),
            nn.Flatten(),
            nn.Linear(4 * w * side * side, cfg.feature_dim, bias=False),
            nn.BatchNorm1d(cfg.feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.feature_dim, cfg.num_classes))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` float ``(N, C, S, S)`` in [-1, 1] → features ``(N, F)``, logits ``(N, K)``."""
        feats = self.body(x)
        return feats, self.head(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


class FeaturesAndLogits(nn.Module):
    """Inference form of a :class:`DomainClassifier`: ``forward(x)`` returns
    ``(features, logits)``; what the torch and ONNX Runtime feature paths both run.

    ``body`` maps images to features, ``head`` features to logits (dropout dropped)."""

    def __init__(self, body: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.body(x)
        return feats, self.head(feats)


class MaxPool2x2(nn.Module):
    """``nn.MaxPool2d(2, ceil_mode=True)`` for inference, as two elementwise maxima of
    strided views (odd sides padded with -inf first).  Same values exactly; ~4x
    faster on CPU than torch's pooling kernel, which also writes an int64 index
    tensor even under ``inference_mode``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        if h % 2 or w % 2:
            x = nn.functional.pad(x, (0, w % 2, 0, h % 2), value=float("-inf"))
        rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def _fold_batchnorm(layers: nn.Sequential) -> nn.Sequential:
    """Eval-mode copy of ``layers`` with every BatchNorm that follows a convolution or
    linear layer folded into that layer's weight and bias, and 2x2 ceil-mode max
    pooling replaced by :class:`MaxPool2x2`."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    out: list[nn.Module] = []
    for layer in layers:
        prev = out[-1] if out else None
        if isinstance(layer, nn.BatchNorm2d) and isinstance(prev, nn.Conv2d):
            out[-1] = fuse_conv_bn_eval(prev, layer)
        elif isinstance(layer, nn.BatchNorm1d) and isinstance(prev, nn.Linear):
            out[-1] = fuse_linear_bn_eval(prev, layer)
        elif (
            isinstance(layer, nn.MaxPool2d)
            and layer.kernel_size in (2, (2, 2))
            and layer.stride in (2, (2, 2))
            and layer.padding in (0, (0, 0))
            and layer.dilation in (1, (1, 1))
            and layer.ceil_mode
        ):
            out.append(MaxPool2x2())
        else:
            out.append(copy.deepcopy(layer))
    return nn.Sequential(*out).eval()


def build_classifier(cfg: ClassifierConfig) -> DomainClassifier:
    """A freshly initialised network for ``cfg`` (uses torch's global RNG)."""
    return DomainClassifier(cfg)


def inference_module(model: DomainClassifier) -> FeaturesAndLogits:
    """A gradient-free, channels_last inference copy of ``model``: BatchNorm folded
    into the preceding convolution/linear layer, pooling by :class:`MaxPool2x2`,
    dropout removed.  Same features as
    ``model.eval()`` to float32 rounding (~1e-6 relative); ``model`` is untouched."""
    was_training = model.training
    model.eval()
    try:
        body = _fold_batchnorm(model.body)
        head = nn.Sequential(*[copy.deepcopy(m) for m in model.head if not isinstance(m, nn.Dropout)])
    finally:
        model.train(was_training)
    net = FeaturesAndLogits(body, head).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(memory_format=torch.channels_last)
