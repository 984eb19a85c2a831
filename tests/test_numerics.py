"""numerics: the CPU kernels and threads are pinned before torch loads, reach every
library (ATen, oneDNN, MKL), are applied by every ``ganbench`` command from params, and
are recorded with every result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ganbench import numerics

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """``code`` in a fresh interpreter (torch not loaded yet); its stdout+stderr."""
    base = {k: v for k, v in os.environ.items()
            if k not in (*numerics.PIN_VARIABLES, *numerics.THREAD_VARIABLES, numerics.MARKER)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout + proc.stderr


def test_levels_set_or_remove_every_library_switch():
    avx2 = numerics.environment("avx2", 2)
    assert avx2 == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2",
                    "MKL_ENABLE_INSTRUCTIONS": "AVX2", "MKL_CBWR": "COMPATIBLE", "GANBENCH_CPU_ISA": "avx2",
                    "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    native = numerics.environment("native", 0)
    assert native == {**{k: None for k in numerics.PIN_VARIABLES}, "GANBENCH_CPU_ISA": "native"}
    with pytest.raises(numerics.NumericsError, match="numerics.cpu_isa"):
        numerics.environment("avx512", 2)


def test_apply_edits_an_environment_and_native_removes_inherited_pins(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as if torch were not loaded yet
    env = {"ATEN_CPU_CAPABILITY": "default", "PATH": "/bin"}
    numerics.apply("native", 0, env)
    assert env == {"PATH": "/bin", "GANBENCH_CPU_ISA": "native"}
    numerics.apply("avx2", 3, env)
    assert env["MKL_CBWR"] == "COMPATIBLE" and env["OMP_NUM_THREADS"] == "3"


def test_asking_for_other_numerics_after_torch_loaded_is_an_error():
    import torch  # noqa: F401 - loaded by conftest's process already; the suite runs pinned

    numerics.apply("avx2", 2)  # what the suite already runs under: fine
    with pytest.raises(numerics.NumericsError, match="after torch was loaded.*ganbench"):
        numerics.apply("native", 2)
    with pytest.raises(numerics.NumericsError, match="threads 4"):
        numerics.apply("avx2", 4)


def test_the_pin_reaches_aten_onednn_and_mkl():
    """In a fresh process pinned to avx2: torch dispatches to AVX2 kernels, oneDNN's
    convolutions use at most AVX2 and MKL's matrix products run the COMPATIBLE
    reproducibility branch (its verbose modes say which kernels ran)."""
    out = run_python("""
        from ganbench.numerics import apply
        apply("avx2", 2)
        import torch
        print("capability", torch.backends.cpu.get_cpu_capability(), "threads", torch.get_num_threads())
        torch.nn.functional.conv2d(torch.randn(4, 8, 16, 16), torch.randn(8, 8, 3, 3))
        torch.nn.functional.linear(torch.randn(64, 256), torch.randn(128, 256))
    """, env={"ONEDNN_VERBOSE": "1", "MKL_VERBOSE": "1"})
    assert "capability AVX2 threads 2" in out
    conv = [line for line in out.splitlines() if "exec" in line and "convolution" in line]
    assert conv and not any("avx512" in line or "amx" in line for line in conv), conv
    assert "AVX-512" not in "".join(line for line in out.splitlines() if "isa" in line.lower())
    gemm = [line for line in out.splitlines() if line.startswith("MKL_VERBOSE SGEMM")]
    assert gemm and all("CNR:COMPATIBLE" in line for line in gemm), gemm


def test_native_runs_this_cpus_best_kernels_even_when_a_pin_was_inherited():
    out = run_python("""
        from ganbench.numerics import apply
        apply("native", 0)
        import os, torch
        print("capability", torch.backends.cpu.get_cpu_capability(), os.environ.get("MKL_CBWR"))
    """, env={"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"})
    assert "capability DEFAULT" not in out and "capability " in out and out.strip().endswith("None")


def test_every_command_applies_the_params_numerics_before_torch_loads(tmp_path):
    """The console script's main() reads numerics from the --params file (defaults when
    there is none) before any stage module imports torch."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["numerics"] = {"cpu_isa": "native", "threads": 1}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    probe = """
        import os, sys
        import ganbench_pipeline.cli as cli
        sys.argv = ["ganbench", "params", "defaults", "--params", sys.argv[1]]
        try:
            cli.main()
        except SystemExit:
            pass
        print("\\nENV", os.environ.get("GANBENCH_CPU_ISA"), os.environ.get("MKL_CBWR"),
              os.environ.get("OMP_NUM_THREADS"), "torch" in sys.modules)
    """
    def env_after(path: str) -> str:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(probe), path], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path,
                              env={k: v for k, v in os.environ.items() if k != numerics.MARKER})
        return proc.stdout.rsplit("ENV", 1)[1].strip()

    assert env_after(str(tmp_path / "p.yaml")) == "native None 1 False"
    assert env_after(str(tmp_path / "missing.yaml")) == "avx2 COMPATIBLE 2 False"
    params["numerics"] = {"cpu_isa": "avx512"}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, "-m", "ganbench_pipeline.cli", "params", "defaults", "--params",
                           str(tmp_path / "bad.yaml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "bad.yaml" in proc.stderr and "numerics.cpu_isa" in proc.stderr and "avx2" in proc.stderr


def test_provenance_describes_the_numerics():
    d = numerics.describe()
    assert d["cpu_isa"] == "avx2" and d["threads"] == 2 and d["aten_capability"] == "AVX2"
    assert d["mkl_cbwr"] == "COMPATIBLE" and d["onednn_max_isa"] == "AVX2" and d["cpu"]
    tags = numerics.tags()
    assert tags["numerics.cpu_isa"] == "avx2" and json.dumps(tags)


def test_params_name_the_moved_thread_key():
    from ganbench.config import parse_params
    from ganbench.errors import ParamsError
    from ganbench.models import VARIANTS

    with pytest.raises(ParamsError, match="'runtime.threads' moved to 'numerics.threads'"):
        parse_params({"runtime": {"threads": 2}}, VARIANTS)
    with pytest.raises(ParamsError, match="numerics.threads"):
        parse_params({"numerics": {"threads": -1}}, VARIANTS)
