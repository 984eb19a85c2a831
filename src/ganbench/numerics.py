"""CPU numerics: which kernels torch, oneDNN and MKL run, fixed before torch loads.

GAN training amplifies rounding: the same seed trained with AVX-512 kernels instead of
AVX2 ones ends several percent away in FID. The libraries under torch pick their
kernels from the CPU they find, each at its own first use, and read their settings from
the environment, so the only place to pin them is the environment of a process that has
not imported torch yet. :func:`apply` does that from the ``numerics`` params section:

``cpu_isa: avx2`` (the default)
    * ``ATEN_CPU_CAPABILITY=avx2``: torch's own vectorised kernels (elementwise ops,
      reductions, BatchNorm, Adam's foreach ops) dispatch to their AVX2 build;
    * ``ONEDNN_MAX_CPU_ISA=AVX2`` (and its old name ``DNNL_MAX_CPU_ISA``): oneDNN's
      JIT convolutions use at most AVX2;
    * ``MKL_ENABLE_INSTRUCTIONS=AVX2`` and ``MKL_CBWR=COMPATIBLE``: MKL's matrix products
      (linear layers) run the conditional-numerical-reproducibility branch that MKL
      documents as the same on Intel and on other vendors' CPUs. The ISA-named CNR
      branches (``MKL_CBWR=AVX2``) are for Intel processors only: elsewhere MKL ignores
      them and falls back to ``AUTO`` (seen here on AMD EPYC: ``MKL_VERBOSE`` reports
      ``CNR:AUTO`` for ``MKL_CBWR=AVX2`` and ``CNR:COMPATIBLE`` for ``COMPATIBLE``).

``cpu_isa: native``
    removes those variables: every library takes the fastest kernels of this CPU, and
    results depend on the machine.

``threads`` (> 0) fixes the intra-op threads (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``
and ``torch.set_num_threads``): oneDNN and ATen split reductions by thread, so the bits
depend on the count (measured: 1 and 2 threads train different DCGAN weights). 0 keeps
torch's default (one per core), which is not portable.

Not covered, and stated in the README: CUDA kernels; ONNX Runtime's Inception pass
(MLAS picks its kernels by CPUID and has no switch: features differ by ~1e-7 between
AVX2 and AVX-512 machines); NumPy's OpenBLAS in the float64 metric algebra (~1e-13).

This module imports nothing heavy at load: ``ganbench`` commands call
:func:`apply_for_command` before any module that imports torch.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from ganbench.errors import GanbenchError

#: Environment of each ``numerics.cpu_isa`` level (``native`` sets none of them).
LEVELS: dict[str, dict[str, str]] = {
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "DNNL_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "MKL_CBWR": "COMPATIBLE",
    },
    "native": {},
}
#: Every variable a level may set (``native`` removes them).
PIN_VARIABLES = tuple(sorted({k for env in LEVELS.values() for k in env}))
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Set by :func:`apply`: the level this process (and its children) run under.
MARKER = "GANBENCH_CPU_ISA"
#: torch's name of the kernel level each pinned level must give.
ATEN_NAMES = {"avx2": "AVX2"}


class NumericsError(GanbenchError):
    """The CPU numerics asked for cannot be had in this process."""


def environment(cpu_isa: str, threads: int) -> dict[str, str | None]:
    """The variables :func:`apply` sets (a value) or removes (None)."""
    if cpu_isa not in LEVELS:
        raise NumericsError(f"params key 'numerics.cpu_isa' is {cpu_isa!r}; choose one of "
                            f"{', '.join(LEVELS)}")
    env: dict[str, str | None] = {k: LEVELS[cpu_isa].get(k) for k in PIN_VARIABLES}
    env[MARKER] = cpu_isa
    if threads > 0:
        env.update({k: str(threads) for k in THREAD_VARIABLES})
    return env


def apply(cpu_isa: str, threads: int, environ: MutableMapping[str, str] | None = None) -> None:
    """Pin this process's CPU numerics (and its children's) to ``cpu_isa`` with ``threads``.

    Must run before torch is imported; once torch is loaded, a request that differs from
    what the process already runs under is an error that says how to get it."""
    environ = os.environ if environ is None else environ
    wanted = environment(cpu_isa, threads)
    if "torch" in sys.modules:
        differs = [k for k, v in wanted.items() if environ.get(k) != v and not (v is None and k not in environ)]
        if differs:
            raise NumericsError(
                f"numerics.cpu_isa {cpu_isa!r} / threads {threads} asked for after torch was loaded "
                f"(this process runs with {differs[0]}={environ.get(differs[0])!r}); run the `ganbench` "
                "command, which sets them before torch loads, or export them before starting Python "
                "(see README, 'Reproducible numbers')")
        return
    for key, value in wanted.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value


def params_path(argv: Sequence[str]) -> Path:
    """The params file a command line names (``--params X``, ``--params=X``, ``-p X``),
    else ``params.yaml``."""
    for i, arg in enumerate(argv):
        if arg in ("--params", "-p") and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--params="):
            return Path(arg.split("=", 1)[1])
    return Path("params.yaml")


def apply_for_command(argv: Sequence[str]) -> None:
    """Apply the ``numerics`` section of the params file named on ``argv`` (the defaults
    when the file does not exist; a broken file is left for the command's own loader,
    which names the problem)."""
    from ganbench.config.coerce import from_dict
    from ganbench.config.loader import read_yaml
    from ganbench.config.schema import NumericsConfig
    from ganbench.errors import ParamsError

    path = params_path(argv)
    cfg = NumericsConfig()
    if path.is_file():
        try:
            section = read_yaml(path).get("numerics")
        except ParamsError:
            section = None
        if section is not None:
            if not isinstance(section, dict):
                raise ParamsError(f"{path}: params key 'numerics' must be a mapping, e.g. "
                                  "'numerics: {cpu_isa: avx2, threads: 2}'")
            try:
                cfg = from_dict(NumericsConfig, section, prefix="numerics")
            except ParamsError as err:
                raise ParamsError(f"{path}: {err}") from None
    apply(cfg.cpu_isa, cfg.threads)


def check_applied(cpu_isa: str, threads: int) -> None:
    """After torch has loaded: the kernels it dispatches to are the ones asked for, and
    the thread count is set. An x86 CPU without AVX2 (or another architecture) cannot run
    the pinned level: the error says to use ``native``."""
    import torch

    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if cpu_isa == "native":
        return
    have = torch.backends.cpu.get_cpu_capability()
    if have != ATEN_NAMES[cpu_isa]:
        how = ("this CPU lacks it" if os.environ.get("ATEN_CPU_CAPABILITY") == LEVELS[cpu_isa]["ATEN_CPU_CAPABILITY"]
               else "torch was loaded before the setting was applied")
        raise NumericsError(
            f"numerics.cpu_isa is {cpu_isa!r} but torch dispatches to {have} kernels ({how}); on a CPU "
            "without AVX2 set numerics.cpu_isa: native (results then differ from the published ones), "
            "otherwise run through the `ganbench` command")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(errors="replace"), re.MULTILINE)
        if match:
            return match.group(1).strip()
    import platform

    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return set()
    match = re.search(r"^flags\s*:\s*(.+)$", cpuinfo.read_text(errors="replace"), re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def native_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic units (AVX512_BF16 or AMX-BF16)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def describe() -> dict[str, Any]:
    """How this process computes on the CPU, for provenance and MLflow tags: the level
    asked for, what torch dispatches to, the library settings in effect, the threads and
    the CPU."""
    import torch

    flags = cpu_flags()
    return {
        "cpu_isa": os.environ.get(MARKER, "unset"),
        "threads": torch.get_num_threads(),
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "mkl_cbwr": os.environ.get("MKL_CBWR"),
        "mkl_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS"),
        "cpu": cpu_model(),
        "cpu_features": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "fma"}),
    }


def tags() -> dict[str, str]:
    """:func:`describe` as MLflow tags (``numerics.*`` and ``cpu``)."""
    d = describe()
    return {"numerics.cpu_isa": str(d["cpu_isa"]), "numerics.threads": str(d["threads"]),
            "numerics.aten_capability": str(d["aten_capability"]), "numerics.mkl_cbwr": str(d["mkl_cbwr"]),
            "cpu": str(d["cpu"])}
