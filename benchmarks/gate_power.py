"""The power of CI's metric gate: plant realistic regressions one at a time into CI's
configuration and report which ones `.ci/thresholds.yaml` catches (not run in CI).

A scratch clone of this repository (HEAD) gets ``params.yaml`` + ``params.ci.yaml`` and
runs CI's reduced pipeline once, unmodified; then each plant is applied on top
(a params overlay, or an edit of the clone's source code, which then runs through
``PYTHONPATH``), ``dvc repro`` reruns exactly the stages the plant touches, and
``ganbench check --thresholds`` gates the variants the plant affects. A plant is
*caught* when a gate fails (exit 1) or a stage fails (CI's ``dvc repro`` stops there, e.g.
a training that diverges: the plant's ``dvc repro --keep-going`` still runs and gates the
other variants). Finally the unmodified code with fresh seeds
(``--fresh-seeds``, by default 4 and 5: seeds the bounds were not set on, and not among
the seeds 0-3 whose spread set them) must pass: a gate that fails there is a false alarm.
A code plant also runs the tests of the package it edits (``training/ema.py``:
``tests/training``) in the clone: CI's test command runs them too, so a failure there is
caught by CI before its pipeline (``--tests-only`` runs just that, training nothing).
With ``--keep DIR`` holding an earlier scratch (``DIR/repo`` and its ``DIR/base.yaml``),
DVC's run cache restores the stages run there before training (data, classifier,
references). Not the trainings: their model folders are ``persist: true`` outputs (a
larger budget resumes them), which DVC's run cache never holds, so a training whose
params changed since (a plant) runs again.

    python benchmarks/gate_power.py [--plants ema_off images_0_1 ...] [--fresh-seeds 4 5] [--keep DIR]
    python benchmarks/gate_power.py --keep DIR --regate [--thresholds FILE]
    python benchmarks/gate_power.py --tests-only [--plants ...]

Each run's evaluation results are kept in ``DIR/results/<plant>/`` (and ``unmodified``,
``fresh``), so ``--regate`` can gate the same trained models under other bounds, e.g.
those of another rule, without training anything.

Takes about as long as five CI pipelines on 2 cores (≈ 45 min).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("dcgan", "wgan_gp", "stylegan", "vae")


@dataclass(frozen=True)
class Plant:
    """One regression: what it is, the variants it can affect, and how it is planted."""

    name: str
    what: str
    variants: tuple[str, ...] = VARIANTS
    #: Deep-merged into the CI params (a function of them, for relative changes).
    params: Any = None
    #: (file in the clone, text, replacement): a code edit.
    code: tuple[str, str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tests(self) -> str | None:
        """The test folder that mirrors a code plant's package (``src/ganbench/training/ema.py``:
        ``tests/training``), which CI's test command runs too."""
        if self.code is None:
            return None
        package = Path(self.code[0]).relative_to("src/ganbench").parent
        return str(Path("tests") / package)


def _lr_x10(p: dict[str, Any]) -> dict[str, Any]:
    return {v: {"g_optim": {"lr": p[v]["g_optim"]["lr"] * 10}} for v in VARIANTS}


PLANTS = {
    p.name: p for p in (
        # A bug, not a params change: provenance still says "ema" (changed params are
        # refused by the protocol check before any value is compared, exit 3).
        Plant("ema_off", "EMA off: the EMA update copies the raw weights (a bug in training/ema.py)",
              code=("src/ganbench/training/ema.py",
                    "torch._foreach_lerp_(ema_params, params, 1.0 - beta)",
                    "torch._foreach_lerp_(ema_params, params, 1.0)")),
        Plant("images_0_1", "training images scaled to [0, 1] instead of [-1, 1] (a bug in the data loader)",
              code=("src/ganbench/training/state.py",
                    "        x = x.contiguous(memory_format=self.memory_format)\n",
                    "        x = ((x + 1) / 2).contiguous(memory_format=self.memory_format)\n"),
              variants=VARIANTS),
        Plant("wgan_gp_no_penalty", "WGAN-GP penalty weight 0", variants=("wgan_gp",),
              params={"wgan_gp": {"loss": {"gp_weight": 0.0}}}),
        Plant("r1_off", "StyleGAN's R1 off (gamma 0)", variants=("stylegan",),
              params={"stylegan": {"loss": {"r1_gamma": 0.0}}}),
        Plant("g_lr_x10", "generator learning rate x10", params=_lr_x10),
        Plant("batchnorm_flipped", "the sampling BatchNorm mode flipped (a bug in sampling/generate.py)",
              variants=("dcgan", "wgan_gp"),
              code=("src/ganbench/sampling/generate.py",
                    "    out: list[np.ndarray] = []\n    bar = progress_bar(",
                    "    batchnorm = {\"running\": \"batch\", \"batch\": \"running\"}[batchnorm]\n"
                    "    out: list[np.ndarray] = []\n    bar = progress_bar(")),
    )
}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def failed_stages(output: str) -> list[str]:
    """The stages that ``dvc repro --keep-going`` names in its closing error: one as
    ``failed to reproduce 'train@vae-0'``, several as ``failed to reproduce stages:
    'train@vae-0' and 'train@vae-1'`` (a plant that breaks a variant breaks every seed)."""
    names: set[str] = set()
    for line in output.splitlines():
        if "failed to reproduce" in line:
            names.update(re.findall(r"'([^']+)'", line.split("failed to reproduce", 1)[1]))
    return sorted(names)


def stage_error(stage: str, errors: list[str]) -> str:
    """The error line of ``stage`` (``train@vae-1``: the one naming ``vae-1``), else the first."""
    key = re.escape(stage.split("@", 1)[-1])
    return next((e for e in errors if re.search(rf"(?<![\w-]){key}(?![\w-])", e)),
                errors[0] if errors else "see dvc repro")


class Scratch:
    """A clone running CI's reduced pipeline with its own code (PYTHONPATH)."""

    def __init__(self, where: Path) -> None:
        self.repo = where / "repo"
        shim = where / "shim"
        self.env = {**os.environ, "PYTHONPATH": f"{self.repo / 'src'}:{shim}", "DVC_NO_ANALYTICS": "1",
                    "MLFLOW_DISABLE_TELEMETRY": "true", "CI": "true",
                    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        if (self.repo / "dvc.lock").is_file():
            # A kept scratch (--keep): DVC's run cache restores its stages up to training
            # (persistent model folders are never in it); its CI params are in base.yaml.
            self.params = yaml.safe_load((where / "base.yaml").read_text())
            return
        subprocess.run(["git", "clone", "-q", str(ROOT), str(self.repo)], check=True)
        shim.mkdir()
        (shim / "ganbench_pipeline").symlink_to(self.repo / "pipeline")
        self.run(["ganbench", "params", "merge", "params.ci.yaml"])
        self.params = yaml.safe_load((self.repo / "params.yaml").read_text())
        (where / "base.yaml").write_text(yaml.safe_dump(self.params, sort_keys=False))

    def run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=self.repo, env=self.env, text=True, capture_output=True, check=check)

    def repro(self, params: dict[str, Any], keep_going: bool = False) -> tuple[float, list[str], list[str]]:
        """Run ``dvc repro`` on ``params``: (seconds, the stages that failed, the commands'
        error lines). Without ``keep_going`` any failure raises (the unmodified code must
        run); with it, DVC runs every stage that does not depend on a failed one, and a
        failed stage is what CI would see: the pipeline stops with that error."""
        (self.repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        start = time.perf_counter()
        proc = self.run(["dvc", "repro", *(["--keep-going"] if keep_going else [])], check=False)
        out = proc.stdout + proc.stderr
        failed = failed_stages(out)
        if proc.returncode and not (keep_going and failed):
            raise RuntimeError(f"dvc repro failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        errors = [line.strip() for line in out.splitlines() if line.startswith("error: ")]
        return time.perf_counter() - start, failed, errors

    def keep_results(self, label: str, seeds: list[int], skip: tuple[str, ...] = ()) -> Path:
        """Copy the evaluation results of ``seeds`` to ``results/<label>/`` beside the clone
        and return that folder: the gate averages every seed file of a folder, and DVC
        leaves the files of earlier runs' seeds in metrics/eval. ``skip``: variants whose
        stages failed this time (their files there are an earlier run's). Kept, they can
        be gated again under other bounds (``--regate``)."""
        dest = self.repo.parent / "results" / label
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for path in (self.repo / "metrics" / "eval").glob("*.json"):
            variant, seed = path.name.split(".")[0].rsplit("-", 1)
            if int(seed) in seeds and variant not in skip:
                shutil.copy(path, dest / path.name)
        return dest

    @contextlib.contextmanager
    def planted(self, plant: Plant) -> Iterator[None]:
        """The clone's code with ``plant``'s edit (if any) for the duration, restored after."""
        if plant.code is None:
            yield
            return
        path, old, new = plant.code
        edited = self.repo / path
        text = edited.read_text()
        if old not in text:
            raise SystemExit(f"plant {plant.name}: the text to edit is not in {path} any more; update the plant")
        edited.write_text(text.replace(old, new, 1))
        try:
            yield
        finally:
            self.run(["git", "checkout", "--", path])

    def tests(self, folder: str) -> tuple[bool, list[str]]:
        """Run the tests in ``folder`` of the clone (with its edited code): whether any
        failed, and the failing tests' ids. A failure there fails CI's test command, which
        runs every test; a pass says only that this folder's tests miss the plant."""
        proc = self.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-rf", folder],
                        check=False)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"pytest {folder} could not run (exit {proc.returncode}):\n{proc.stdout[-3000:]}")
        failed = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("FAILED ")]
        return proc.returncode == 1, failed

    def gate(self, variants: tuple[str, ...], thresholds: Path, eval_dir: Path) -> tuple[int, list[str]]:
        """Exit code of the gate on ``variants`` and the lines of the gates that failed."""
        bounds = yaml.safe_load(thresholds.read_text())
        subset = {k: v for k, v in bounds.items() if k in variants or not isinstance(v, dict)}
        if "protocol_from" in subset:  # relative to the folder of the thresholds file
            subset["protocol_from"] = str((thresholds.resolve().parent / subset["protocol_from"]).resolve())
        gate = self.repo.parent / "gate.yaml"
        gate.write_text(yaml.safe_dump(subset))
        proc = self.run(["ganbench", "check", "--thresholds", str(gate), "--eval-metrics", str(eval_dir)],
                        check=False)
        failed = [line for line in proc.stdout.splitlines() if line.startswith(("FAIL", "MISS"))]
        return proc.returncode, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plants", nargs="*", default=list(PLANTS), choices=list(PLANTS))
    ap.add_argument("--fresh-seeds", nargs="*", type=int, default=[4, 5],
                    help="seeds for the false-alarm check; none: skip it")
    ap.add_argument("--variants", nargs="*", choices=VARIANTS, default=list(VARIANTS),
                    help="plant into these variants only (of those each plant can affect)")
    ap.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder)")
    ap.add_argument("--thresholds", type=Path, default=ROOT / ".ci" / "thresholds.yaml",
                    help="the bounds to gate with (default: the committed ones)")
    ap.add_argument("--regate", action="store_true",
                    help="train nothing: gate the results an earlier run kept in --keep DIR/results/ again")
    ap.add_argument("--tests-only", action="store_true",
                    help="train nothing: run each code plant's package tests (its own clone, or --keep DIR)")
    args = ap.parse_args()
    if args.tests_only:
        tests_only(args.plants, args.keep)
        return
    if args.regate:
        if args.keep is None or not (args.keep / "repo" / "dvc.lock").is_file() \
                or not (args.keep / "results").is_dir():
            raise SystemExit("--regate needs --keep DIR, the folder of an earlier run (DIR/repo and DIR/results)")
        regate(Scratch(args.keep), args.keep / "results", args.thresholds)
        return
    where = args.keep or Path(tempfile.mkdtemp(prefix="gate-power-"))
    where.mkdir(parents=True, exist_ok=True)
    try:
        scratch = Scratch(where)
        base = scratch.params
        seconds, _, _ = scratch.repro(base)
        code, failed = scratch.gate(VARIANTS, args.thresholds, scratch.keep_results("unmodified", base["seeds"]))
        print(f"unmodified CI run ({seconds:.0f} s): gate exit {code}" + (f": {failed}" if failed else ""),
              flush=True)
        rows = []
        for name in args.plants:
            plant = PLANTS[name]
            params = copy.deepcopy(base)
            if plant.params is not None:
                over = plant.params(base) if callable(plant.params) else plant.params
                params = deep_merge(params, over)
            variants = tuple(v for v in plant.variants if v in args.variants)
            if not variants:
                print(f"{name}: skipped (it affects none of --variants)", flush=True)
                continue
            params["variants"] = [v for v in base["variants"] if v in variants]
            with scratch.planted(plant):
                tested = scratch.tests(plant.tests) if plant.tests else None
                seconds, broken, errors = scratch.repro(params, keep_going=True)
                broken_variants = tuple(sorted({stage.split("@", 1)[1].rsplit("-", 1)[0]
                                                for stage in broken if "@" in stage}))
                gated = tuple(v for v in variants if v not in broken_variants)
                code, failed = (scratch.gate(gated, args.thresholds,
                                             scratch.keep_results(name, params["seeds"], broken_variants))
                                if gated else (0, []))
            # A stage that fails stops CI's pipeline: the plant is caught before any gate.
            failed = [f"FAIL {stage} (the pipeline stops: {stage_error(stage, errors)})" for stage in broken] + failed
            code = 1 if broken else code
            rows.append((plant, variants, code, failed, seconds, tested))
            print(f"{name}: exit {code} ({seconds:.0f} s) {failed}"
                  + (f"; {plant.tests}: {tested[1] or 'all passed'}" if tested else ""), flush=True)
        fresh_code, fresh_failed = None, []
        if args.fresh_seeds:  # --fresh-seeds with no seed: skip (checked elsewhere)
            seconds, _, _ = scratch.repro(dict(base, seeds=list(args.fresh_seeds)))
            fresh_code, fresh_failed = scratch.gate(VARIANTS, args.thresholds,
                                                    scratch.keep_results("fresh", list(args.fresh_seeds)))
        print("\n| planted regression | variants | caught by the pipeline or its gates | stages or gates that failed "
              "| caught by the tests of its package |")
        print("|---|---|---|---|---|")
        for plant, variants, code, failed, _, tested in rows:
            gates = "; ".join(line.split(None, 1)[1] if "(the pipeline stops" in line else " ".join(line.split()[1:3])
                              for line in failed) or "-"
            tests = "- (a params plant)" if tested is None else \
                f"{'yes' if tested[0] else 'NO'} ({plant.tests}{': ' + ', '.join(tested[1]) if tested[1] else ''})"
            print(f"| {plant.what} | {', '.join(variants)} | {'yes' if code == 1 else 'NO'} | {gates} | {tests} |")
        caught = sum(code == 1 for _, _, code, _, _, _ in rows)
        print(f"\ncaught by the pipeline or its gates: {caught} of {len(rows)}; "
              f"by CI as a whole (its tests too): "
              f"{sum(code == 1 or bool(t and t[0]) for _, _, code, _, _, t in rows)} of {len(rows)}")
        if fresh_code is not None:
            alarms = "; ".join(" ".join(line.split()[1:3]) for line in fresh_failed) or "none"
            print(f"fresh seeds {args.fresh_seeds} of the unmodified code: gate exit {fresh_code}, "
                  f"false alarms: {alarms} ({seconds:.0f} s)")
    finally:
        if args.keep is None:
            shutil.rmtree(where, ignore_errors=True)


def tests_only(plants: list[str], keep: Path | None) -> None:
    """Which code plants the tests of their own package catch, with no pipeline run: CI's
    test command runs those tests on every change, before its pipeline."""
    where = keep or Path(tempfile.mkdtemp(prefix="gate-power-"))
    where.mkdir(parents=True, exist_ok=True)
    try:
        scratch = Scratch(where)
        print("| planted regression | tests run | caught | tests that failed |")
        print("|---|---|---|---|")
        for name in plants:
            plant = PLANTS[name]
            if plant.tests is None:
                continue
            with scratch.planted(plant):
                caught, failed = scratch.tests(plant.tests)
            print(f"| {plant.what} | {plant.tests} | {'yes' if caught else 'NO'} | {', '.join(failed) or '-'} |",
                  flush=True)
    finally:
        if keep is None:
            shutil.rmtree(where, ignore_errors=True)


def regate(scratch: Scratch, results: Path, thresholds: Path) -> None:
    """Gate every kept result folder (the unmodified run, each plant, the fresh seeds) under
    ``thresholds``: a rule for the bounds is judged on the same trained models."""
    print(f"gating the results kept in {results} with {thresholds}")
    print("| results | variants | gate exit | gates that failed |")
    print("|---|---|---|---|")
    for folder in sorted(p for p in results.iterdir() if p.is_dir()):
        plant = PLANTS.get(folder.name)
        variants = plant.variants if plant is not None else VARIANTS
        # a variant whose stages failed under the plant left no results here
        variants = tuple(v for v in variants if any(folder.glob(f"{v}-*.json")))
        code, failed = scratch.gate(variants, thresholds, folder.resolve())
        gates = "; ".join(" ".join(line.split()[1:3]) for line in failed) or "-"
        print(f"| {folder.name} | {', '.join(variants)} | {code} | {gates} |")


if __name__ == "__main__":
    main()
