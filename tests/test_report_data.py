"""tests/report_outputs.py writes pipeline outputs exactly as the stages write them; the
test here checks that what it writes reads back as the input contract says."""

from __future__ import annotations

from ganbench.report.inputs import load_runs, run_ids
from tests.report_outputs import METRICS, write_outputs


def test_written_outputs_read_back_as_the_contract_says(tmp_path):
    paths = write_outputs(tmp_path, ("dcgan",), (0, 1))
    runs = load_runs(run_ids(["dcgan"], [0, 1]), paths)
    assert [r.key for r in runs] == ["dcgan-0", "dcgan-1"]
    r = runs[0]
    assert list(r.scores) == list(METRICS)                     # *_std keys are spreads, not metrics
    assert r.spreads == {"kid2k": 0.0011, "kid_domain10k": 0.0004}
    assert r.provenance["fid2k"]["num_gen"] == 2000 and r.provenance["kid2k"]["kid_subset_size"] == 1000
    assert r.grid is not None and r.grid.startswith(b"\x89PNG")
    assert {n for _, n, _ in r.curves} == {"kimg", "fd_domain2k"}      # the kimg column → kimg rows
    assert [(s, v) for s, n, v in r.curves if n == "kimg"][:2] == [(0, 0.0), (200, 6.4)]
    assert {n for _, n, _ in r.losses} == {"loss_G", "loss_D"}
