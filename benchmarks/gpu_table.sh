#!/usr/bin/env bash
# The GPU table, in one go, on a machine with a CUDA device (README "The CUDA fast path").
# Prepared for a lent GPU machine; never needed for CI or the CPU pipeline.
#
#   bash benchmarks/gpu_table.sh [OUT_DIR]
#
# 1. benchmarks/bench_training.py --device cuda --precisions: the tutorial loop (baseline)
#    and ganbench per variant in fp32, bf16 and fp32 without torch.compile, medians, with
#    ratios against the tutorial loop and bf16 against fp32;
# 2. a short pipeline on CUDA (params.yaml + the CI overlay with runtime.device: cuda):
#    `dvc repro`, then the report, when dvc and mlflow are installed (else says so).
# Everything it prints is also written to OUT_DIR (default: gpu-table/).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-table}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 DVC_NO_ANALYTICS=1 MLFLOW_DISABLE_TELEMETRY=true
py=${PYTHON:-python3}
if [ -x .venv/bin/python ]; then py=.venv/bin/python; fi
if ! "$py" -c "import ganbench, ganbench_pipeline" 2>/dev/null; then
  "$py" -m pip install -q --no-deps --no-build-isolation -e . || exit 1
fi
"$py" - <<'EOF' | tee "$out/device.txt"
import torch
assert torch.cuda.is_available(), "no CUDA device: this script makes the GPU table only"
print(torch.__version__, torch.cuda.get_device_name(0), "bf16:", torch.cuda.is_bf16_supported())
EOF
[ "${PIPESTATUS[0]}" = 0 ] || exit 1

echo "== training speed on CUDA (medians; ratios against the tutorial loop)" | tee "$out/bench.txt"
"$py" benchmarks/bench_training.py --device cuda --precisions --steps 60 --repeats 7 2>&1 | tee -a "$out/bench.txt"

echo "== a short pipeline on CUDA" | tee "$out/pipeline.txt"
if ! "$py" -c "import dvc, mlflow" 2>/dev/null; then
  echo "dvc/mlflow are not installed here: carry their wheels to run the pipeline part" | tee -a "$out/pipeline.txt"
  exit 0
fi
work=$(mktemp -d)
git clone -q . "$work/repo" && cd "$work/repo" || exit 1
"$py" -m ganbench_pipeline.cli params merge params.ci.yaml
"$py" -m ganbench_pipeline.cli params merge /dev/stdin <<'EOF'
runtime: {device: cuda}
EOF
start=$(date +%s)
PATH="$(dirname "$py"):$PATH" "$py" -m dvc repro 2>&1 | tail -40 | tee -a "$OLDPWD/$out/pipeline.txt"
echo "pipeline wall-clock: $(( $(date +%s) - start )) s" | tee -a "$OLDPWD/$out/pipeline.txt"
cp reports/report.md "$OLDPWD/$out/report.md" 2>/dev/null || true
