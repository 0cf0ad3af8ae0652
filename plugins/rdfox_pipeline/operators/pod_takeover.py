"""What a try of ``reason`` finds of its job's earlier pod: RDFox runs once per job (issue 13, scenario 3).

A try can start after its job's pod already ran: the worker of the previous try was lost after the trigger
fired, the trigger failed after the pod ended, or the previous try deleted the finished pod and was lost
before the task was marked done. The provider's reattach (``reattach_on_restart`` / ``durable``) deletes a
finished pod and creates a new one -- a second RDFox run. So before the provider looks, the operator asks:

* Is there a pod of this job (its job-id and component labels, whatever try or run made it)? A Succeeded one
  is taken up (its logs, its published outputs), else a live one is reattached to, else a Failed one gives
  the job's failure. Never a second pod beside it.
* No pod, but the job record says its pod succeeded (``pod_succeeded``, written before the operator deletes
  a succeeded pod) and the published rdfox.log is there: the job's reasoning is done.
* No pod, no such record, but a pod was created (``pod_name``) and its rdfox.log is published: the log,
  uploaded last by the pod's publish step, tells how that run ended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_PREFERENCE = {"Succeeded": 0, "Running": 1, "Pending": 1, "Unknown": 1, "Failed": 2}


class EarlierPodSucceeded(Exception):
    """The job's pod succeeded in an earlier try and is gone: this try is done without a pod."""

    def __init__(self, pod_name: str) -> None:
        super().__init__(pod_name)
        self.pod_name = pod_name


def job_pod_selector(labels: Mapping[str, str]) -> str:
    """The label selector of the job's reasoning pods, from the labels our manifest gives the pod."""
    from rdfox_pipeline.pod.manifest import LABEL_COMPONENT, LABEL_JOB_ID  # not at DAG parse time

    return ",".join(f"{key}={labels[key]}" for key in (LABEL_JOB_ID, LABEL_COMPONENT))


def pick_earlier_pod(pods: Iterable[Any]) -> Any | None:
    """The pod to go on with: Succeeded first, then one still live, then Failed; the newest of a kind."""

    def rank(pod: Any) -> tuple[int, float]:
        phase = getattr(getattr(pod, "status", None), "phase", None) or "Unknown"
        created = getattr(getattr(pod, "metadata", None), "creation_timestamp", None)
        return _PREFERENCE.get(phase, 1), -(created.timestamp() if created else 0.0)

    candidates = sorted(pods, key=rank)
    return candidates[0] if candidates else None


@dataclass(frozen=True)
class RecordedOutcome:
    """How the job's earlier pod ended, from the record and the published log, when the pod is gone."""

    pod_name: str
    succeeded: bool
    reason: str


def outcome_without_pod(
    record: Mapping[str, Any] | None, log_uri: str, read_log: Callable[[str], str | None]
) -> RecordedOutcome | None:
    """The earlier pod's outcome when no pod of the job exists; None when there was none or it never ended.

    ``read_log(uri)`` returns the published rdfox.log's text, or None when it is not there. A pod that ended
    always published its log (publish uploads it last, whatever RDFox did); no log means the earlier pod
    never got that far, and a new pod is the retry's to start.
    """
    from rdfox_pipeline.domain.rdfox_log import RdfoxLogError, parse_rdfox_log

    record = record or {}
    succeeded, created = record.get("pod_succeeded"), record.get("pod_name")
    if not (succeeded or created) or not log_uri:
        return None
    text = read_log(log_uri)
    if succeeded:
        if text is None:
            # The outputs were removed after the run: running RDFox again is the user's call, not a retry's.
            raise ValueError(
                f"pod {succeeded} succeeded, but its published {log_uri} is gone; a retry does not run RDFox "
                "again: submit the job anew"
            )
        return RecordedOutcome(str(succeeded), True, "recorded as succeeded")
    if text is None:
        return None
    try:
        parse_rdfox_log(text)
    except RdfoxLogError:
        # The operator's failure record adds the log's own diagnosis.
        return RecordedOutcome(str(created), False, f"pod {created} is gone; its published rdfox.log failed")
    return RecordedOutcome(str(created), True, "its published rdfox.log is complete")
