"""The pipeline run: one MLflow run per pipeline (the runs one ``dvc repro`` of some
params trains, samples and evaluates), the parent the UI nests every variant and seed
under.

Its start, end and status are its children's: the earliest start, the latest end,
RUNNING while a child runs, else FAILED when one failed, KILLED when one was stopped,
FINISHED otherwise. :func:`sync_pipeline_run` recomputes them whenever a child starts,
ends or joins. MLflow cannot move a run's start, so a child that started before its
parent (a run trained for an earlier pipeline and joined by a later stage) makes a new
parent: same name and tags, the children moved to it, the old one deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ganbench.tracking.mlflow_run import MlflowTracker, ensure_experiment_kind, git_commit, source_tags

PIPELINE_TAG = "ganbench.pipeline"
PARENT_TAG = "ganbench.pipeline_parent"
PARENT_RUN_TAG = "mlflow.parentRunId"
#: The command a pipeline run stands for (its source in the UI).
COMMAND = "dvc repro"
_ACTIVE = ("RUNNING", "SCHEDULED")


def pipeline_key(params: Any) -> str:
    """A short hash of every result-defining params section: the runs one ``dvc repro``
    of these params trains, samples and evaluates share it."""
    from ganbench.config.coerce import to_dict

    defining = {k: to_dict(getattr(params, k)) for k in
                ("data", "variants", "seeds", "train", "sample", "evaluate", "classifier")}
    defining["models"] = {k: v for k, v in sorted(params.sections.items()) if k in params.variants}
    blob = json.dumps(defining, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def attach_to_pipeline(params: Any, root: Path, run: MlflowTracker) -> str:
    """Nest ``run`` under the pipeline run of ``params`` (created at the run's start when
    there is none), tag it ``ganbench.pipeline`` (and ``dvc_exp`` inside ``dvc exp run``),
    and bring the pipeline run, and the one ``run`` leaves, up to date. Returns the
    pipeline run's id (also in ``run.parent_id``)."""
    key = pipeline_key(params)
    client = run.client
    child = client.get_run(run.run_id)
    exp_id = child.info.experiment_id
    ensure_experiment_kind(client, client.get_experiment(exp_id))
    parents = client.search_runs([exp_id], filter_string=f"tags.`{PARENT_TAG}` = '{key}'",
                                 order_by=["attributes.start_time ASC"], max_results=1)
    if parents:
        parent_id = parents[0].info.run_id
    else:
        parent_id = client.create_run(
            exp_id, start_time=child.info.start_time, run_name=f"pipeline {key}",
            tags={PARENT_TAG: key, PIPELINE_TAG: key, "git_commit": git_commit(root),
                  **source_tags(COMMAND, root)}).info.run_id
    tags = {PIPELINE_TAG: key, PARENT_RUN_TAG: parent_id}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp"] = os.environ["DVC_EXP_NAME"]
    run.set_tags(tags)
    run.parent_id = sync_pipeline_run(client, parent_id)
    previous = child.data.tags.get(PARENT_RUN_TAG)
    if previous and previous != parent_id:
        sync_pipeline_run(client, previous)
    return run.parent_id


def sync_pipeline_run(client: Any, parent_id: str) -> str:
    """Set the pipeline run's start, end and status from its children (see the module
    docstring); returns its id, a new one when it had to start earlier."""
    parent = client.get_run(parent_id)
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent_id}'", max_results=5000)
    if not children:
        return parent_id
    start = min(c.info.start_time for c in children)
    if start < parent.info.start_time:
        parent_id = _restart(client, parent, children, start)
    statuses = {c.info.status for c in children}
    if statuses & set(_ACTIVE):
        client.update_run(parent_id, status="RUNNING")
        return parent_id
    status = next((s for s in ("FAILED", "KILLED") if s in statuses), "FINISHED")
    end = max(c.info.end_time or c.info.start_time for c in children)
    client.set_terminated(parent_id, status=status, end_time=end)
    return parent_id


def _restart(client: Any, parent: Any, children: list[Any], start: int) -> str:
    """A copy of ``parent`` (name, tags) that starts at ``start``, holding ``children``;
    the old one is deleted. Its artifacts (the report) are logged again by the report stage."""
    tags = {k: v for k, v in parent.data.tags.items() if k != "mlflow.runName"}
    new_id = client.create_run(parent.info.experiment_id, start_time=start, run_name=parent.info.run_name,
                               tags=tags).info.run_id
    for child in children:
        client.set_tag(child.info.run_id, PARENT_RUN_TAG, new_id)
    client.delete_run(parent.info.run_id)
    return new_id
