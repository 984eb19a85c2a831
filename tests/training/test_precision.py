"""train.precision: one arithmetic for every variant on every device; bf16 where the CPU
cannot run it natively is said, never silent."""

from __future__ import annotations

import logging

import pytest
import torch

from ganbench import numerics
from ganbench.config import parse_params
from ganbench.errors import ParamsError
from ganbench.models import VARIANTS
from ganbench.training import accel
from ganbench.training.run import train_variant
from ganbench.training.setup import prepare_training
from tests.fixtures import TINY, one_variant_per_network


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_precision_is_the_same_for_every_variant_on_every_device(device):
    for precision, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        chosen = accel.select(torch.device(device), precision=precision, compile=False, deterministic=False)
        assert chosen.autocast is dtype
    with pytest.raises(ValueError, match="precision"):
        accel.select(torch.device(device), precision="fp16", compile=False, deterministic=False)


def test_a_variant_section_cannot_choose_its_own_autocast():
    with pytest.raises(ParamsError, match="'dcgan.autocast' is gone.*train.precision"):
        parse_params({"dcgan": {"autocast": "bf16"}}, VARIANTS)


def test_bf16_on_a_cpu_without_bf16_units_or_pinned_below_them_is_named(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(numerics, "native_bf16", lambda: False)
    assert "no bf16 units" in accel.bf16_problem(cpu)
    monkeypatch.setattr(numerics, "native_bf16", lambda: True)
    monkeypatch.setenv(numerics.MARKER, "avx2")
    assert "numerics.cpu_isa: native" in accel.bf16_problem(cpu)
    monkeypatch.setenv(numerics.MARKER, "native")
    assert accel.bf16_problem(cpu) is None
    assert accel.bf16_problem(torch.device("cuda")) is None


@pytest.mark.parametrize("variant", one_variant_per_network())
def test_every_variant_trains_under_bf16_autocast(variant, processed, tmp_path, caplog):
    params = parse_params({"variants": [variant],
                           "train": {"budget": "g_steps", "g_steps": 3, "batch_size": 16, "ema_kimg": 0.05,
                                     "eval_every_kimg": 0, "precision": "bf16"},
                           "runtime": {"log_every": 1, "device": "cpu"}, variant: TINY[variant]}, VARIANTS)
    with caplog.at_level(logging.WARNING, logger="ganbench"):
        setup = prepare_training(params, variant, 0, processed, tmp_path / "m")
    assert setup.trainee.accel.autocast is torch.bfloat16
    assert setup.ident["train"]["precision"] == "bf16"  # a bf16 run never resumes an fp32 one
    if accel.bf16_problem(torch.device("cpu")):
        assert any("bf16 is emulated" in r.getMessage() for r in caplog.records)
    result = train_variant(setup)
    assert result.metrics["precision"] == "bf16" and result.metrics["g_steps"] == 3
    assert all(torch.isfinite(p).all() for p in setup.trainee.G.parameters())
