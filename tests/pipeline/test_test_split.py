"""The test split decides nothing: only the reference, domain-reference and evaluate stages
read it or anything made from it. Here: the stage graph, and the read trace that the
end-to-end test holds every command to (``check_test_split_reads``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from tests.fixtures import make_fake_dataset
from tests.pipeline.project import READS_TEST_SPLIT, base_env
from tests.pipeline.dvc_yaml import STAGES, body, paths


def test_only_the_evaluation_stages_depend_on_what_is_made_from_the_test_split():
    made_from_test = [o for s in READS_TEST_SPLIT - {"evaluate"} for o in paths(body(s).get("outs"))]
    assert made_from_test
    for stage in sorted(set(STAGES) - READS_TEST_SPLIT):
        deps = paths(body(stage).get("deps"))
        leaked = [d for d in deps if any(d == o or d.startswith(o + "/") for o in made_from_test)]
        assert not leaked, f"{stage} depends on {leaked}, made from the test split"
    # The training-time evaluation (and so best.pt) is measured against training images.
    assert "data/probe-reference/features.npz" in paths(body("train")["deps"])
    assert "train.eval_num_real" in body("probe-reference")["params"]


def test_the_trace_records_the_files_a_command_opens_for_reading(tmp_path):
    make_fake_dataset(tmp_path / "idx", n_train=24, n_test=12)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({
        "variants": [], "data": {"dataset": "idx-folder", "source_dir": "idx", "allow_download": False}}))
    trace = tmp_path / "trace.jsonl"
    env = base_env(GANBENCH_TRACE_MODULES=str(trace))
    for args in (["download", "--out", "raw"], ["preprocess", "--raw", "raw", "--out", "processed"]):
        subprocess.run([sys.executable, "-m", "ganbench_pipeline.cli", args[0], "--params", "params.yaml",
                        *args[1:]], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300)
    reads = {e["command"]: set(e["reads"]) for e in map(json.loads, trace.read_text().splitlines())}
    assert "idx/t10k-images-idx3-ubyte.gz" in reads["download"]
    assert any(f.startswith("raw/") and "t10k-images" in f for f in reads["preprocess"])
    written = {f"processed/{name}" for name in os.listdir(tmp_path / "processed")}
    assert "processed/test.pt" in written and not written & reads["preprocess"]  # writes are not reads
