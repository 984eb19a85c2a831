"""The comparison report: every variant over its seeds, what each score cost and how it was made.

Modules, each a pure job:

- :mod:`~ganbench.report.inputs`: the pipeline's files → :class:`Run` (one per variant and seed)
- :mod:`~ganbench.report.protocols`: which scores are comparable (protocol groups)
- :mod:`~ganbench.report.aggregate`: mean, sd, t-intervals; Welch's tests between variants
- :mod:`~ganbench.report.figures`: training curves and losses as PNG
- :mod:`~ganbench.report.build`: the :class:`Report` and its files (HTML, Markdown, CSV)
- :mod:`~ganbench.report.crosscheck`: the metrics files against the MLflow runs
- :mod:`~ganbench.report.dvc_plots`: the offline page template for ``dvc plots show``
- :mod:`~ganbench.report.browser`: headless Chromium checks of a page (tests, CI)
"""

from __future__ import annotations

from ganbench.report.aggregate import Summary, Welch, compare, summarize, welch
from ganbench.report.build import Report, ReportOptions, analyse, build_report, write_report
from ganbench.report.crosscheck import CrossCheckOptions, CrossCheckResult, MlflowMismatchError, cross_check
from ganbench.report.inputs import ReportPaths, Run, RunId, load_runs, run_ids
from ganbench.report.protocols import PROTOCOL_FIELDS, protocol, provenance_key

__all__ = [
    "PROTOCOL_FIELDS", "CrossCheckOptions", "CrossCheckResult", "MlflowMismatchError", "Report", "ReportOptions",
    "ReportPaths", "Run", "RunId", "Summary", "Welch", "analyse", "build_report", "compare", "cross_check",
    "load_runs", "protocol", "provenance_key", "run_ids", "summarize", "welch", "write_report",
]
