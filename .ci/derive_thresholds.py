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
import math
import statistics
import sys
from pathlib import Path

from scipy import stats

from ganbench.results import is_result_file, read_result
from ganbench.metrics.registry import value_spec
from ganbench.protocol import score_provenance

#: The rule (also printed at the top of the thresholds file).
ALPHA = 0.05        # family-wise false-alarm rate of the whole file, for a change that only re-draws the noise
REL_FLOOR = 0.05    # ... but every bound at least 5% of the gated mean away (a spread from a few seeds can be tiny)
ABS_FLOOR = {"classes_covered": 1.0}  # ... and whole classes for the class count


def margin_factor(n_seeds: int, n_gated: int, n_gates: int, alpha: float = ALPHA) -> float:
    """How many per-seed standard deviations ``s`` a bound lies from the gated mean.

    A one-sided prediction bound for the mean of ``n_gated`` new seeds against the mean of
    the ``n_gated`` gated ones: their difference has standard deviation σ·√(2/n_gated), σ
    is estimated by ``s`` from ``n_seeds`` seeds (a t quantile with n_seeds − 1 degrees of
    freedom), and the level α/n_gates makes the chance that any of ``n_gates`` gates fails
    on a pure re-draw at most α (Bonferroni, valid however the gates correlate)."""
    if n_seeds < 2:
        raise ValueError("the spread needs at least 2 seeds")
    quantile = float(stats.t.ppf(1 - alpha / n_gates, n_seeds - 1))
    return quantile * math.sqrt(2 / n_gated)

HEADER = f"""\
# Gates for CI's reduced pipeline (params.yaml + params.ci.yaml). `ganbench check` gates the
# MEAN over the gated seeds of each metric; the metric name carries N, and the bounds hold
# for the protocol of the results in protocol_from (another protocol is refused, exit 3).
# Made by `python .ci/derive_thresholds.py <eval dir>` from a measured CI run, by this rule:
#   s     = standard deviation over every measured seed's value (n seeds: the gated m and more)
#   K     = t quantile (n − 1 degrees of freedom) at 1 − {ALPHA:g}/G, times √(2/m); G = the number of
#           values considered for a gate in this file: a one-sided prediction bound for the mean
#           of m new seeds, Bonferroni over the file, so a change that only re-draws the noise
#           (other seeds, other float rounding) fails some gate with probability ≤ {ALPHA:g}
#   bound = mean over the gated seeds + max(K·s, {REL_FLOOR:g}·|mean|)  for metrics where lower is better,
#           mean over the gated seeds − max(K·s, {REL_FLOOR:g}·|mean|)  where higher is better
#           (classes_covered: at least {ABS_FLOOR['classes_covered']:g} class below)
#   a bound that falls outside what the metric can take (MetricSpec.attainable: e.g. class_kl
#   above a one-class generator's score, precision below 0) can never fail and is left out
#   (tests/test_thresholds_range.py checks the committed file).
# benchmarks/gate_power.py measures which planted regressions it catches and that fresh seeds
# pass (README, "CI").
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
    for variant, by_seed in runs.items():
        missing = [s for s in args.gated_seeds if s not in by_seed]
        if missing or len(by_seed) < 2:
            sys.exit(f"{variant}: need the gated seeds {args.gated_seeds} (and better more); have {sorted(by_seed)}")
    candidates = {variant: [name for name, v in by_seed[args.gated_seeds[0]].items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool) and name != "seed"
                            and not name.endswith("_std")] for variant, by_seed in runs.items()}
    n_gates = sum(len(names) for names in candidates.values())
    out = [HEADER, f"protocol_from: {args.protocol_from}", ""]
    for variant, by_seed in runs.items():
        if len(by_seed) == len(args.gated_seeds):
            print(f"{variant}: s from the gated seeds alone; more seeds measure the spread better",
                  file=sys.stderr)
        gated = by_seed[args.gated_seeds[0]]
        k = margin_factor(len(by_seed), len(args.gated_seeds), n_gates)
        lines = [f"  # K = {k:.3g}: t({len(by_seed) - 1} df) at 1 - {ALPHA:g}/{n_gates}, x sqrt(2/{len(args.gated_seeds)})"]
        for name in candidates[variant]:
            spec, prefix = value_spec(name)
            values = [float(r[name]) for r in by_seed.values()]
            mean = statistics.fmean(float(by_seed[s][name]) for s in args.gated_seeds)
            sd = statistics.stdev(values)
            margin = max(k * sd, REL_FLOOR * abs(mean), ABS_FLOOR.get(prefix, 0.0))
            higher = spec.better[prefix] == "higher"
            bound = mean - margin if higher else mean + margin
            low, high = spec.attainable_range(prefix, score_provenance(gated, name))
            useless = (low is not None and bound <= low) if higher else (high is not None and bound >= high)
            if margin == 0:  # constant over every seed at 0: no spread to set a bound from
                lines.append(f"  # {name}: not gated, the same value {mean:.4g} on every seed")
                continue
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
