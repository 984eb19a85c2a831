"""index.html: complete, self-contained, byte-stable, and it renders in headless Chromium."""

from __future__ import annotations

import csv
import html
import re

import pytest

from ganbench.report.browser import find_chromium, inspect_page
from ganbench.report.build import build_report
from ganbench.report.inputs import load_runs, run_ids
from tests.report_outputs import write_outputs

V = ("dcgan", "wgan_gp")
FILES = ("index.html", "report.md", "metrics.csv", "comparisons.csv", "runs.csv", "figures/curves.png",
         "figures/losses.png", "samples/dcgan-0.png")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two variants × two seeds; the report built twice from the same inputs."""
    root = tmp_path_factory.mktemp("report")
    paths = write_outputs(root, V, (0, 1), steps=12, conditional=True)
    runs = load_runs(run_ids(V, (0, 1)), paths)
    rep = build_report(runs, root / "a")
    build_report(load_runs(run_ids(V, (0, 1)), paths), root / "b")
    return root, rep


def test_same_inputs_give_the_same_bytes(built):
    root, _ = built
    for name in FILES:
        assert (root / "a" / name).read_bytes() == (root / "b" / name).read_bytes(), name


def test_figures_carry_no_metadata(built):
    root, _ = built
    for name in ("curves", "losses"):
        png = (root / "a" / "figures" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and b"tEXt" not in png and b"Software" not in png


def test_page_is_self_contained(built):
    root, _ = built
    page = (root / "a" / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)
    assert "<script" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]+)"', page)
    assert len(srcs) == 2 + 4 and all(s.startswith("data:image/png;base64,") for s in srcs)  # figures + grids


def test_page_shows_the_comparison(built):
    root, _ = built
    page = html.unescape((root / "a" / "index.html").read_text())
    assert "Every variant trained for 4,375 generator steps" in page
    assert '<table class="results">' in page and "95% Student-t interval" in page
    assert "Welch's t-test" in page and "unequal variances" in page
    assert "dcgan lower than wgan_gp" in page                       # fid2k 40.75 vs 60.75, p < 0.001
    for label in ("kimg", "G steps", "D steps", "train wall-clock", "images/s"):
        assert f"<th>{label}</th>" in page
    assert "21,875" in page and "one row per class" in page       # wgan_gp's D steps; conditional grids
    assert 'id="curves"' in page and 'id="losses"' in page and 'id="provenance"' in page
    md = (root / "a" / "report.md").read_text()
    assert "![Training curves](figures/curves.png)" in md and "(samples/wgan_gp-1.png)" in md


def test_csv_files_hold_the_numbers(built):
    root, rep = built
    rows = list(csv.DictReader((root / "a" / "metrics.csv").open()))
    fid = next(r for r in rows if r["variant"] == "dcgan" and r["metric"] == "fid2k")
    assert (fid["n"], float(fid["mean"]), float(fid["std"])) == ("2", 40.75, pytest.approx(1.0606601717798212))
    assert fid["flag"].startswith("fid2k: N generated = 2000")
    pairs = list(csv.DictReader((root / "a" / "comparisons.csv").open()))
    assert {(p["a"], p["b"]) for p in pairs} == {("dcgan", "wgan_gp")}
    assert len(pairs) == len(rep.comparisons) == len(rep.columns) - 2     # recall, kid_domain: no spread
    assert rep.untested.startswith("No test for 2 of the 8 pairs × metrics")
    assert [r["key"] for r in csv.DictReader((root / "a" / "runs.csv").open())] == [
        "dcgan-0", "dcgan-1", "wgan_gp-0", "wgan_gp-1"]


def test_single_seed_says_the_seed_spread_is_unknown(tmp_path):
    paths = write_outputs(tmp_path, V, (0,), steps=4, grids=False)
    build_report(load_runs(run_ids(V, (0,)), paths), tmp_path / "out")
    page = (tmp_path / "out" / "index.html").read_text()
    assert "training-seed spread is unknown" in page and "Each variant has a single seed" in page
    assert "<img" in page and "no grid" in page                      # figures yes, grids missing


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install -y chromium)")
def test_page_renders_in_headless_chromium(built, tmp_path):
    root, _ = built
    check = inspect_page(root / "a" / "index.html", screenshot=True)
    assert check.tables >= 4                                        # results, tests, cost, provenance
    assert len(check.images) == 6 and check.broken_images == []
    assert check.console_errors == []
    assert check.screenshot and check.screenshot.startswith(b"\x89PNG")
    (tmp_path / "report.png").write_bytes(check.screenshot)


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install -y chromium)")
def test_the_browser_check_catches_network_loads_and_broken_images(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><html><head><script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
                    '</head><body><table></table><img src="missing.png" alt="x"></body></html>')
    check = inspect_page(page)
    assert check.console_errors and len(check.broken_images) == 1
