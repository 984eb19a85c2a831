"""Run a torch inference module through ONNX Runtime's CPU execution provider.

:class:`OnnxModule` exports a module to ONNX in memory (never touching the disk),
builds an ``onnxruntime.InferenceSession`` on it and is then called like the module:
a float32 tensor or array in, the module's output(s) out as torch tensors.

Export
------
torch 2.14's ``torch.onnx.export`` has two exporters:

``torchscript`` (default here)
    the legacy tracer (``dynamo=False``).  Needs only ``onnxruntime`` (plus torch);
    deprecated since torch 2.9 and warns so (silenced here), but still exact and fast
    to run on conv nets: Inception-v3 exports in a few seconds.
``dynamo``
    the ``torch.export``-based exporter (torch's default since 2.9).  Needs the
    ``onnxscript`` package.  Slower to export; the graph it produces is equivalent.

Both write a fixed opset (:data:`OPSET`) with a dynamic batch axis on every input and
output, so one session serves any batch size.

Session
-------
CPU provider only, sequential execution, ``intra_op_num_threads`` =
``torch.get_num_threads()`` at construction (so ORT uses the same cores torch would),
one inter-op thread, full graph optimisation.  ORT's float32 results agree with
torch's to ~1e-6 relative (different convolution kernels sum in different orders).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ganbench.errors import MetricError

#: ONNX opset written by both exporters.
OPSET = 18

Exporter = Literal["torchscript", "dynamo"]


@dataclass(frozen=True)
class Availability:
    """Whether ONNX Runtime can be used here, and if not, why (``reason``)."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


def available(exporter: Exporter = "torchscript") -> Availability:
    """Probe for ONNX Runtime (and, for the ``dynamo`` exporter, onnxscript) without
    importing them; falsy with a one-line reason and fix when something is missing."""
    if importlib.util.find_spec("onnxruntime") is None:
        return Availability(False, "onnxruntime is not installed; pip install onnxruntime")
    if exporter == "dynamo" and importlib.util.find_spec("onnxscript") is None:
        return Availability(
            False, "the dynamo ONNX exporter needs onnxscript; pip install onnxscript"
        )
    return Availability(True)


@dataclass(frozen=True)
class OnnxConfig:
    """Knobs of :class:`OnnxModule`.

    Attributes:
        exporter: ``torchscript`` (legacy tracer) or ``dynamo`` (see module docstring).
        opset: ONNX opset version.
        threads: ORT intra-op threads; 0 = ``torch.get_num_threads()``.
        optimization: ORT graph optimisation level: ``all``, ``extended``, ``basic``
            or ``disabled``.
    """

    exporter: Exporter = "torchscript"
    opset: int = OPSET
    threads: int = 0
    optimization: Literal["all", "extended", "basic", "disabled"] = "all"


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporters' deprecation/tracer warnings and progress chatter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            yield


def export_onnx(
    module: nn.Module,
    example: torch.Tensor,
    cfg: OnnxConfig | None = None,
    *,
    num_outputs: int = 1,
) -> bytes:
    """The ONNX model bytes of ``module`` (in eval mode) traced on ``example``
    ``(B, ...)``, with input ``x`` and outputs ``y0..y{num_outputs-1}`` whose first
    axis (the batch) is dynamic."""
    cfg = OnnxConfig() if cfg is None else cfg
    module = module.eval()
    example = example.contiguous()
    outputs = [f"y{i}" for i in range(num_outputs)]
    buf = io.BytesIO()
    with _quiet_export(), torch.inference_mode(False), torch.no_grad():
        if cfg.exporter == "torchscript":
            torch.onnx.export(
                module, (example,), buf, dynamo=False, opset_version=cfg.opset,
                input_names=["x"], output_names=outputs,
                dynamic_axes={name: {0: "batch"} for name in ["x", *outputs]},
                do_constant_folding=True,
            )
        elif cfg.exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1)
            torch.onnx.export(
                module, (example,), buf, dynamo=True, opset_version=cfg.opset,
                input_names=["x"], output_names=outputs, dynamic_shapes=({0: batch},),
                verbose=False, external_data=False,
            )
        else:
            raise ValueError(f"exporter must be 'torchscript' or 'dynamo', got {cfg.exporter!r}")
    return buf.getvalue()


class OnnxModule:
    """A torch inference module run by ONNX Runtime (CPU).

    ``OnnxModule(module, example)`` exports ``module`` on the example batch
    ``example`` ``(B, ...)`` float32 and opens a session; ``engine(x)`` takes a float32
    tensor or array with any batch size and returns what ``module(x)`` returns (a
    tensor, or a tuple of tensors when the module returns a tuple), on the CPU.
    """

    def __init__(
        self, module: nn.Module, example: torch.Tensor, cfg: OnnxConfig | None = None
    ) -> None:
        cfg = OnnxConfig() if cfg is None else cfg
        probe = available(cfg.exporter)
        if not probe:
            raise MetricError(f"ONNX Runtime engine unavailable: {probe.reason}")
        import onnxruntime as ort

        example = torch.as_tensor(example).detach().to("cpu", torch.float32)
        with torch.inference_mode():
            sample = module.eval()(example.contiguous())
        self._tuple = isinstance(sample, (tuple, list))
        num_outputs = len(sample) if self._tuple else 1
        self.model_bytes = export_onnx(module, example, cfg, num_outputs=num_outputs)
        self.threads = cfg.threads if cfg.threads > 0 else torch.get_num_threads()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }[cfg.optimization]
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(
            self.model_bytes, sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_names: Sequence[str] = [o.name for o in self.session.get_outputs()]
        self.exporter = cfg.exporter

    def run_numpy(self, x: np.ndarray) -> list[np.ndarray]:
        """Raw session call: float32 ``(B, ...)`` array → list of output arrays."""
        return self.session.run(self.output_names, {self.input_name: x})

    def __call__(self, x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
        else:
            arr = np.ascontiguousarray(x, dtype=np.float32)
        outs = [torch.from_numpy(o) for o in self.run_numpy(arr)]
        return tuple(outs) if self._tuple else outs[0]
