"""Training the domain classifier (AdamW, one-cycle schedule, label smoothing, random
translations), deterministic for a seed and thread count."""

from __future__ import annotations

import sys
import time
from typing import Any

import torch
from torch import nn

from ganbench.errors import MetricError
from ganbench.classifier.config import ClassifierConfig, Progress, TrainMetrics
from ganbench.classifier.inputs import as_images, as_labels, random_translate
from ganbench.classifier.network import DomainClassifier, build_classifier

def _report(progress: bool | Progress | None, info: dict[str, float]) -> None:
    if callable(progress):
        progress(info)
    elif progress and sys.stderr is not None:
        print(
            f"classifier epoch {int(info['epoch'])}/{int(info['epochs'])}: loss "
            f"{info['loss']:.4f}, train acc {info['train_accuracy']:.4f}, "
            f"{info['seconds']:.1f} s",
            file=sys.stderr,
            flush=True,
        )


def train_classifier(
    train_x: Any,
    train_y: Any,
    cfg: ClassifierConfig | None = None,
    progress: bool | Progress | None = False,
    *,
    max_steps: int | None = None,
) -> tuple[DomainClassifier, TrainMetrics]:
    """Train the domain classifier.

    Args:
        train_x: float32 images ``(N, C, S, S)`` in [-1, 1] (uint8 also accepted).
        train_y: integer labels ``(N,)``.
        cfg: architecture and recipe (default :class:`ClassifierConfig`).
        progress: False (silent), True (one line per epoch on stderr), or a callable
            given ``{"epoch", "epochs", "loss", "train_accuracy", "seconds"}`` per epoch.
        max_steps: stop after this many optimiser steps (for smoke tests); the
            learning-rate schedule still spans ``cfg.epochs``.

    Returns:
        ``(model, metrics)``: the trained network in eval mode, and
        :class:`TrainMetrics`.
    """
    cfg = ClassifierConfig() if cfg is None else cfg
    xtr = as_images("train_x", train_x, cfg)
    ytr = as_labels("train_y", train_y, len(xtr), cfg.num_classes)
    if len(xtr) < 2:
        raise MetricError("domain classifier: need at least 2 training images")
    batch = min(cfg.batch_size, len(xtr))
    steps_per_epoch = len(xtr) // batch  # drop the ragged last batch (BatchNorm)
    total_steps = steps_per_epoch * cfg.epochs

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        model = build_classifier(cfg).to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=max(total_steps, 1), pct_start=0.25
        )
        loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        model.train()
        steps = 0
        last_loss = float("nan")
        start_time = time.perf_counter()
        seen = 0
        last_accuracy = float("nan")
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            order = torch.randperm(len(xtr), generator=gen)
            loss_sum = torch.zeros((), dtype=torch.float64)
            correct = 0
            count = 0
            for i in range(steps_per_epoch):
                idx = order[i * batch : (i + 1) * batch]
                xb = random_translate(xtr[idx], cfg.translate, gen)
                xb = xb.contiguous(memory_format=torch.channels_last)
                yb = ytr[idx]
                logits = model(xb)
                loss = loss_fn(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += loss.detach().double() * len(idx)
                correct += int((logits.detach().argmax(1) == yb).sum())
                count += len(idx)
                steps += 1
                if max_steps is not None and steps >= max_steps:
                    break
            seen += count
            last_loss = float(loss_sum / max(count, 1))
            last_accuracy = correct / max(count, 1)
            _report(progress, {
                "epoch": epoch + 1, "epochs": cfg.epochs, "loss": last_loss,
                "train_accuracy": last_accuracy, "seconds": time.perf_counter() - t0,
            })
            if max_steps is not None and steps >= max_steps:
                break
        train_seconds = time.perf_counter() - start_time
    model.eval()
    metrics = TrainMetrics(
        train_accuracy=last_accuracy,
        train_seconds=train_seconds,
        num_parameters=sum(p.numel() for p in model.parameters()),
        epochs=epoch + 1 if cfg.epochs else 0,
        final_loss=last_loss,
        train_images_per_second=seen / train_seconds if train_seconds > 0 else float("nan"),
    )
    return model.to(memory_format=torch.contiguous_format), metrics
