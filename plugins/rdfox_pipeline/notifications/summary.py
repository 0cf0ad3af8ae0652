"""The run's headline figures from its job record: what a person wants to see in the Airflow UI without
opening a log (job id, status, inferred and loaded triples, where the outputs are).

Pure: the notify tasks put it in their rendered field ``job_summary`` after they ran (Airflow 3.0 has no way
for a task to set its run's note). Only ids, statuses, counts and S3 locations; an error reason goes through
``redact`` as in the notification.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rdfox_pipeline.notifications.redact import redact

_MAX_REASON_CHARS = 500


def _count(section: Any, key: str) -> int | None:
    value = section.get(key) if isinstance(section, Mapping) else None
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def run_summary(record: Mapping[str, Any], secrets: Iterable[str | None] = ()) -> dict[str, Any]:
    """``{job_id, dataset, status, inferred_triples, loaded_triples, ...}``; None where not (yet) known."""
    rdfox, neptune = record.get("rdfox_stats"), record.get("neptune_stats")
    summary: dict[str, Any] = {
        "job_id": record.get("job_id"),
        "dataset": record.get("dataset"),
        "status": record.get("job_status"),
        # RDFox's derived facts: all facts after reasoning less the input's.
        "inferred_triples": _count(rdfox, "triples_materialised_amount"),
        "input_triples": _count(rdfox, "triples_input_amount"),
        "loaded_triples": _count(neptune, "total_records"),
        "already_in_neptune": _count(neptune, "total_duplicates"),
        "neptune_load_id": record.get("neptune_load_id"),
        "output_prefix": record.get("output_prefix"),
    }
    reason = record.get("error_reason")
    if reason:
        summary["error_reason"] = " ".join(redact(str(reason), secrets).split())[:_MAX_REASON_CHARS]
    return summary
