"""The metrics ``evaluate.metrics`` can name: one module per metric, named as the metric.

Every module here registers the :class:`ganbench.metrics.registry.MetricSpec` whose
``name`` is the module's name (``fid.py`` registers ``fid``).  The registry lists this
folder without importing it, the evaluation imports the metrics it runs, and the report
and ``ganbench check`` import all of them for their declared directions and ranges; the
``evaluate`` and ``report`` stages depend on this whole folder.  So a new metric is one
file here (plus its name in ``evaluate.metrics`` to run it by default).  Shared numerics
live beside the package (``metrics/kid.py``, ``precision_recall.py``, ``coverage.py``,
``frechet.py``, ``bootstrap.py``); a module here that imports another helper must add it
to both stages' code deps (``ganbench.provenance.STAGE_CODE`` and dvc.yaml).
"""
