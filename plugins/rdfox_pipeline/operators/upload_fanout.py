"""One job per uploaded jobspec, however Airflow batches the uploads into asset-triggered runs.

Airflow hands an asset-triggered run every asset event queued since the previous such run, up to the time
its queue entry was made: when several jobspecs land together, or while the DAG is at ``max_active_runs``,
one run gets several, and events that arrive while the DAG waits at its limit are given to no run until a
later upload makes another (Airflow 3.0 to 3.3 alike). So an asset-triggered run runs no job itself
(``wait_for_jobspec`` and ``register_job`` skip): ``UploadFanOutOperator`` lists the uploads of its events
and of every event of the asset newer than the run, and a mapped ``TriggerDagRunOperator``
(``start_upload_runs``) starts one run per upload with the conf ``{"jobspec_uri": "s3://..."}`` a user
would give. The run id names the upload (bucket, key, the S3 event's sequencer): an upload that two
asset-triggered runs see, a retry, or a notification S3 delivered twice finds its run there and starts
nothing (``skip_when_already_exists``). The runs are queued like any other: they obey ``max_active_runs``.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from rdfox_pipeline.operators.job_registration import (
    JobspecLocation,
    _asset_events,
    _load_settings,
    is_upload_dispatch,
    locations_from_asset_events,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

RUN_ID_PREFIX = "upload__"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")  # within Airflow's default allowed_run_id_pattern


def upload_run_id(location: JobspecLocation) -> str:
    """A run id naming one upload: readable key, then a digest of bucket, key and sequencer.

    The same upload (a retry, a duplicated notification) gives the same id; the same key written again
    later has a new sequencer, hence a new id and a new job.
    """
    digest = hashlib.sha256(f"{location.bucket}/{location.key}#{location.sequencer}".encode()).hexdigest()
    readable = _UNSAFE.sub("-", location.key).strip("-.")[:120]
    return f"{RUN_ID_PREFIX}{readable}__{digest[:16]}"


def uploads_of_run(context: Context, jobspec_suffix: str, asset: Any) -> list[JobspecLocation]:
    """Every upload an asset-triggered run must see started: its own events', and those of the asset's
    events newer than the run (left out of it, and possibly of any run, when they came while it was made)."""
    from rdfox_pipeline.compat import asset_events_after

    events = list(_asset_events(context))
    run_after = getattr(context.get("dag_run"), "run_after", None)
    if asset is not None and run_after is not None:
        events += asset_events_after(context["inlet_events"], asset, run_after)
    return locations_from_asset_events(events, jobspec_suffix)


class UploadFanOutOperator(BaseOperator):
    """Return the ``TriggerDagRunOperator`` arguments of one run per upload not yet started (``[]`` for a
    UI, REST or CLI run).

    XCom ``return_value``: ``[{"trigger_run_id": "upload__...", "conf": {"jobspec_uri": "s3://..."}}]``,
    for ``TriggerDagRunOperator.partial(...).expand_kwargs(...)``. Give it the watched asset as its only
    inlet, so that it can read that asset's newer events. Never fails on a jobspec's content: each upload's
    run checks its own.
    """

    ui_color = "#e8f0fe"

    def __init__(self, *, aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        if not is_upload_dispatch(context):
            return []  # a UI, REST or CLI run: it runs its own job, nothing to start
        settings = _load_settings(self.aws_conn_id)
        asset = next(iter(self.inlets), None)
        ti = context["ti"]
        todo = []
        for location in uploads_of_run(context, settings.jobspec_name, asset):
            run_id = upload_run_id(location)
            # Uploads an earlier run started are left out here (start_upload_runs would only skip them).
            if ti.get_dr_count(dag_id=self.dag_id, run_ids=[run_id]):
                self.log.info("Run %s for %s exists already", run_id, location.uri)
                continue
            self.log.info("Starting run %s for %s", run_id, location.uri)
            todo.append({"trigger_run_id": run_id, "conf": {"jobspec_uri": location.uri}})
        return todo
