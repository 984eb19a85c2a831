"""Derive CI's metric gates (.ci/thresholds.yaml) from a measured CI run, by the rule
written at the top of the file it prints.

    python .ci/derive_thresholds.py EVAL_DIR [--gated-seeds 0 1] > .ci/thresholds.yaml

EVAL_DIR holds ``<variant>-<seed>.json`` of CI's reduced pipeline for the seeds CI gates
(``--gated-seeds``, params.ci.yaml's ``seeds``) and further seeds that measure the
spread (run `dvc repro` with ``-S 'seeds=[0,1,2,3]'`` on top of params.ci.yaml). Copy
the gated seeds' files to .ci/baseline/eval/, which the printed file names as the
bounds' protocol (``protocol_from``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from ganbench.results import is_result_file, read_result
from ganbench.metrics.registry import value_spec
from ganbench.protocol import score_provenance

#: The rule (also printed at the top of the thresholds file).
K_SD = 3.0          # bound = mean of the gated seeds ± K_SD × the per-seed standard deviation
REL_FLOOR = 0.05    # ... but at least 5% of that mean away (a spread from a few seeds can be tiny)
ABS_FLOOR = {"classes_covered": 1.0}  # ... and whole classes for the class count

HEADER = f"""\
# Gates for CI's reduced pipeline (params.yaml + params.ci.yaml). `ganbench check` gates the
# MEAN over the gated seeds of each metric; the metric name carries N, and the bounds hold
# for the protocol of the results in protocol_from (another protocol is refused, exit 3).
# Made by `python .ci/derive_thresholds.py <eval dir>` from a measured CI run, by this rule:
#   s     = standard deviation over every measured seed's value (the gated ones and more)
#   bound = mean over the gated seeds + max({K_SD:g}·s, {REL_FLOOR:g}·|mean|)  for metrics where lower is better,
#           mean over the gated seeds − max({K_SD:g}·s, {REL_FLOOR:g}·|mean|)  where higher is better
#           (classes_covered: at least {ABS_FLOOR['classes_covered']:g} class below)
#   a bound that falls outside what the metric can take (MetricSpec.attainable: e.g. class_kl
#   above a one-class generator's score, precision below 0) can never fail and is left out
#   (tests/test_thresholds_range.py checks the committed file).
# The mean of two fresh seeds moves from the gated mean with a standard deviation of about
# s, so a bound K_SD·s away is a rare false alarm; benchmarks/gate_power.py measures which
# planted regressions it catches and that fresh seeds pass (README, "CI").
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("--gated-seeds", nargs="*", type=int, default=[0, 1])
    ap.add_argument("--protocol-from", default="baseline/eval")
    args = ap.parse_args()
    runs: dict[str, dict[int, dict]] = {}
    for path in sorted(p for p in args.eval_dir.glob("*-*.json") if is_result_file(p)):
        variant, seed = path.stem.rsplit("-", 1)
        runs.setdefault(variant, {})[int(seed)] = read_result(path, f"evaluate@{path.stem}")
    out = [HEADER, f"protocol_from: {args.protocol_from}", ""]
    for variant, by_seed in runs.items():
        missing = [s for s in args.gated_seeds if s not in by_seed]
        if missing or len(by_seed) < 2:
            sys.exit(f"{variant}: need the gated seeds {args.gated_seeds} (and better more); have {sorted(by_seed)}")
        if len(by_seed) == len(args.gated_seeds):
            print(f"{variant}: s from the gated seeds alone; more seeds measure the spread better",
                  file=sys.stderr)
        gated = by_seed[args.gated_seeds[0]]
        lines = []
        for name in gated:
            if not isinstance(gated[name], (int, float)) or isinstance(gated[name], bool) or name == "seed" \
                    or name.endswith("_std"):
                continue
            spec, prefix = value_spec(name)
            values = [float(r[name]) for r in by_seed.values()]
            mean = statistics.fmean(float(by_seed[s][name]) for s in args.gated_seeds)
            sd = statistics.stdev(values)
            margin = max(K_SD * sd, REL_FLOOR * abs(mean), ABS_FLOOR.get(prefix, 0.0))
            higher = spec.better[prefix] == "higher"
            bound = mean - margin if higher else mean + margin
            low, high = spec.attainable_range(prefix, score_provenance(gated, name))
            useless = (low is not None and bound <= low) if higher else (high is not None and bound >= high)
            if useless or (low is not None and not higher and bound < low):
                lines.append(f"  # {name}: not gated, bound {bound:.4g} outside [{low}, {high}] (mean {mean:.4g}, "
                             f"s {sd:.3g})")
                continue
            seeds = ", ".join(f"{v:.4g}" for v in values)
            lines.append(f"  {name}: {bound:.4g}   # {'min' if higher else 'max'}; gated mean {mean:.4g}, s {sd:.3g} "
                         f"over seeds {sorted(by_seed)} ({seeds})")
        gates = [line for line in lines if not line.lstrip().startswith("#")]
        out += [f"{variant}:" if gates else f"{variant}: {{}}", *lines]
    print("\n".join(out))


if __name__ == "__main__":
    main()
