"""Class labels as a network input: an optional embedding table and the check that a
conditional network was given labels. No GAN logic."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def label_embedding(num_classes: int, dim: int) -> nn.Embedding | None:
    """A table of ``num_classes`` label vectors of ``dim`` features (PyTorch's default
    N(0, 1) init), or None for an unconditional network (``num_classes`` 0)."""
    return nn.Embedding(num_classes, dim) if num_classes else None


def embed_labels(embed: nn.Embedding | None, c: Tensor | None, who: str) -> Tensor | None:
    """The embeddings ``(N, dim)`` of labels ``c (N,)``; None when ``embed`` is None
    (unconditional). A conditional network (``who``, for the message) without labels is
    an error."""
    if embed is None:
        return None
    if c is None:
        raise ValueError(f"conditional {who} needs class labels c")
    return embed(c)


def with_labels(x: Tensor, embed: nn.Embedding | None, c: Tensor | None, who: str) -> Tensor:
    """``x (N, F)`` with the labels' embeddings appended, ``(N, F + dim)``; ``x`` itself
    when unconditional."""
    e = embed_labels(embed, c, who)
    return x if e is None else torch.cat([x, e], dim=1)
