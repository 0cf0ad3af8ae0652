"""Make a failed job's DAG run show as failed.

A DAG run's state comes from its leaf tasks. ``notify`` feeds ``notify_failure``, so the only leaf on the
failure path is ``notify_failure``, and when it has sent the error notification the run would end "success"
although the job failed. ``MarkRunFailedOperator`` is a second leaf that runs only when a task of the job
failed (``one_failed``) and fails, so the run is red in the UI and ``failed`` through the REST API (what
``rdfox-pipeline submit --wait`` reports). On the success path it is skipped, which leaves the run green.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class MarkRunFailedOperator(BaseOperator):
    """Fails, without retrying, whenever it runs: place it after the job's tasks with ``one_failed``."""

    ui_color = "#fde2e2"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "one_failed")
        kwargs["retries"] = 0
        super().__init__(**kwargs)

    def execute(self, context: Context) -> None:
        from rdfox_pipeline.compat import AirflowFailException

        raise AirflowFailException(
            "a task of this job failed; the job record's error_reason and the failure notification "
            "(notify_failure) say why"
        )
