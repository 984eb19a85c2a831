#!/usr/bin/env bash
# The README's table of the two sampling BatchNorm modes, scored on the TRAINING split:
# run after `dvc repro` in the repository root (it reads the default run's checkpoints of
# seed 0), writes everything under OUT (default /tmp/batchnorm-modes), touches nothing of
# the pipeline's outputs (its MLflow records go to OUT/mlflow.db).
#
#     bash benchmarks/batchnorm_modes.sh [OUT]
set -euo pipefail
OUT=${1:-/tmp/batchnorm-modes}
mkdir -p "$OUT"
python - "$OUT" <<'PY'
import sys, yaml
out = sys.argv[1]
p = yaml.safe_load(open("params.yaml"))
for mode in ("running", "batch"):
    q = dict(p, sample=dict(p["sample"], batchnorm=mode),
             evaluate=dict(p["evaluate"], reference_split="train",
                           metrics=["fd_domain", "kid_domain", "coverage"]))
    yaml.safe_dump(q, open(f"{out}/params-{mode}.yaml", "w"), sort_keys=False)
PY
ganbench domain-reference --params "$OUT/params-running.yaml" --processed data/processed \
  --classifier models/classifier/classifier.pt --out "$OUT/domain-reference"
for mode in running batch; do
  for v in dcgan wgan_gp; do
    ganbench sample $v --seed 0 --params "$OUT/params-$mode.yaml" --checkpoint models/$v-0/checkpoint.pt \
      --best models/$v-0/best.pt --run models/$v-0/run.json --out "$OUT/$v-$mode.npz" --grid "$OUT/$v-$mode.png"
    ganbench evaluate $v --seed 0 --params "$OUT/params-$mode.yaml" --samples "$OUT/$v-$mode.npz" \
      --reference data/reference/stats.npz --weights models/inception/pt_inception-2015-12-05-6726825d.pth \
      --classifier models/classifier/classifier.pt --domain-reference "$OUT/domain-reference/features.npz" \
      --domain-predictions "$OUT/domain-reference/predictions.npz" --run models/$v-0/run.json \
      --out "$OUT/$v-$mode.json"
  done
done
python - "$OUT" <<'PY'
import sys
from ganbench.results import read_result
out = sys.argv[1]
names = ("fd_domain10k", "kid_domain10k", "class_kl10k", "classes_covered10k")
print("| variant | BatchNorm | " + " | ".join(names) + " |")
for v in ("dcgan", "wgan_gp"):
    for mode in ("running", "batch"):
        result = read_result(f"{out}/{v}-{mode}.json", f"evaluate {v} ({mode})")
        cells = []
        for n in names:
            e = result["provenance"][n].get("eval_noise") or {}
            cells.append(f"{result[n]:.4g}" + (f" [{e['low']:.4g}, {e['high']:.4g}]" if "low" in e else ""))
        print(f"| {v} | {mode} | " + " | ".join(cells) + " |")
PY
