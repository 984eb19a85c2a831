"""``dvc plots show`` works offline: the project's page template inlines vega."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench.report.browser import find_chromium, inspect_page
from ganbench.report.dvc_plots import TEMPLATE_NAME, VENDORED, offline_template

ROOT = Path(__file__).resolve().parents[1]
PLOTS = ROOT / ".dvc" / "plots"


def test_template_is_built_from_the_vendored_files_and_has_no_cdn_anchor():
    text = (PLOTS / TEMPLATE_NAME).read_text(encoding="utf-8")
    assert text == offline_template(PLOTS / "vendor"), "run: python -m ganbench.report.dvc_plots .dvc/plots"
    assert "{plot_divs}" in text and "{scripts}" not in text
    assert not re.search(r"<script[^>]*\ssrc=", text)
    for name, _, file in VENDORED:
        assert (PLOTS / "vendor" / file).stat().st_size > 10_000
        assert "Redistribution and use" in (PLOTS / "vendor" / f"LICENSE.{name}").read_text()


def test_dvc_config_uses_the_template_by_default():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / ".dvc" / "config")
    assert (ROOT / ".dvc" / cfg["plots"]["html_template"].strip()) == PLOTS / TEMPLATE_NAME


def _dvc(args, cwd):
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(cwd / ".site-cache")}
    out = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def plots_page(tmp_path_factory):
    """``dvc plots show`` in a fresh DVC repo holding the project's .dvc/plots and config."""
    repo = tmp_path_factory.mktemp("dvcrepo")
    _dvc(["init", "--no-scm", "-q"], repo)
    shutil.copytree(PLOTS, repo / ".dvc" / "plots", dirs_exist_ok=True)
    shutil.copyfile(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    (repo / "plots" / "losses").mkdir(parents=True)
    rows = ["step,name,value"] + [f"{s},{n},{v:.4f}" for s in range(0, 500, 50)
                                  for n, v in (("loss_G", 1.5 - s / 600), ("loss_D", 0.6 + s / 2000))]
    (repo / "plots" / "losses" / "x.csv").write_text("\n".join(rows) + "\n")
    (repo / "dvc.yaml").write_text("plots:\n  - plots/losses:\n      template: series\n      x: step\n"
                                   "      y: value\n")
    _dvc(["plots", "show"], repo)
    return repo / "dvc_plots" / "index.html"


def test_dvc_plots_show_writes_a_page_without_remote_scripts(plots_page):
    page = plots_page.read_text(encoding="utf-8")
    assert not re.search(r"""<script[^>]*\ssrc\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)
    assert "cdn.jsdelivr.net" not in page and "vegaEmbed(" in page and "loss_G" in page


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install -y chromium)")
def test_dvc_plots_page_renders_offline(plots_page):
    check = inspect_page(plots_page, wait_for="document.querySelector('.vega-embed svg, .vega-embed canvas')"
                                              " !== null")
    assert check.svgs + check.canvases >= 1
    assert check.console_errors == [] and check.scripts == []
