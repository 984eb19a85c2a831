"""An offline page template for ``dvc plots show``.

DVC's default page loads vega, vega-lite and vega-embed from a CDN (dvc_render's
``{scripts}`` anchor) and renders blank without internet.  This template inlines the
vendored builds instead and leaves out the ``{scripts}`` anchor, so DVC adds no remote
script; it keeps the ``{plot_divs}`` (required) and ``{refresh_tag}`` anchors.
``.dvc/config`` points ``plots.html_template`` at it, so ``dvc plots show`` uses it by
default.

Regenerate after updating the vendored files::

    python -m ganbench.report.dvc_plots .dvc/plots
"""

from __future__ import annotations

import sys
from pathlib import Path

#: (package, version, file under vendor/) in load order: vega-embed needs the other two.
VENDORED = (("vega", "5.33.1", "vega.min.js"), ("vega-lite", "5.23.0", "vega-lite.min.js"),
            ("vega-embed", "6.29.0", "vega-embed.min.js"))
TEMPLATE_NAME = "offline.html"
#: dvc_render's anchors; ``{scripts}`` is deliberately absent (it is where the CDN tags go).
ANCHORS = ("{plot_divs}", "{refresh_tag}")
FORBIDDEN = ("{scripts}", "</script", "{plot_divs}", "{refresh_tag}")

_STYLE = """
body{margin:0;padding:24px 28px;background:#f4f6f9;color:#1f2937;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
h1{font-size:1.35rem;margin:0 0 4px}
p.sub{margin:0 0 18px;color:#6b7280;font-size:.88rem}
body>div,table{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:14px;margin:0 0 16px}
table{border-spacing:15px}
.vega-embed{width:100%}
"""


def offline_template(vendor_dir: Path) -> str:
    """The page template with every vendored script inlined (a string for DVC)."""
    scripts = []
    for name, version, file in VENDORED:
        js = (Path(vendor_dir) / file).read_text(encoding="utf-8")
        bad = [s for s in FORBIDDEN if s in js]
        if bad:
            raise ValueError(f"{file} contains {bad}: it cannot be inlined into the DVC template")
        scripts.append(f"<!-- {name} {version} (BSD-3-Clause, see vendor/LICENSE.{name}) -->\n"
                       f"<script>{js}</script>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n{refresh_tag}\n"
            "<title>DVC plots</title>\n" + "\n".join(scripts) + f"\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            "<h1>DVC plots</h1>\n<p class=\"sub\">Rendered offline with the vendored vega builds "
            "(.dvc/plots/vendor).</p>\n{plot_divs}\n</body>\n</html>\n")


def write_template(plots_dir: Path) -> Path:
    """Write ``<plots_dir>/offline.html`` from ``<plots_dir>/vendor``."""
    out = Path(plots_dir) / TEMPLATE_NAME
    out.write_text(offline_template(Path(plots_dir) / "vendor"), encoding="utf-8")
    return out


if __name__ == "__main__":
    print(write_template(Path(sys.argv[1] if len(sys.argv) > 1 else ".dvc/plots")))
