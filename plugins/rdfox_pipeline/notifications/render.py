"""Render a job's success or failure notification from its record (pure: no AWS, no Airflow).

Only whitelisted record fields are rendered (never the jobspec as a whole, never unknown fields), and the
free text among them (error reasons, Neptune error messages) goes through ``redact``: the message goes to
people, and it must never carry a credential.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rdfox_pipeline.domain import humanize
from rdfox_pipeline.domain.settings import SettingsError
from rdfox_pipeline.domain.statuses import FAILURE_STATUSES, JobStatus
from rdfox_pipeline.domain.subject_template import format_subject_template
from rdfox_pipeline.notifications.redact import redact, remove_values

Outcome = Literal["success", "failure"]

SUBJECT_LIMIT = 100  # SNS: at most 100 printable ASCII characters, no line breaks
_PREFIX = "RDFox job"
_MIN_DATASET_CHARS = 8
_MAX_ERROR_REASON_CHARS = 4000
_MAX_NEPTUNE_ERRORS = 5
_MAX_NEPTUNE_ERROR_CHARS = 300
_LABEL_WIDTH = 24
_DEFAULT_RDFOX_PORT = 12110  # the jobspec's rdfox.port default


@dataclass(frozen=True)
class Notification:
    subject: str
    body: str
    attributes: dict[str, str] = field(default_factory=dict)
    outcome: Outcome = "success"


# -- small text helpers ----------------------------------------------------------------------------


def _ascii_line(text: str) -> str:
    """One printable ASCII line: accents folded, anything else replaced, whitespace runs collapsed."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    printable = "".join(c if " " <= c <= "~" else " " for c in folded)
    return " ".join(printable.split())


def _clean_text(text: str) -> str:
    """Free text for the body: no control characters except newlines, trimmed lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if c == "\n" or c == "\t" or unicodedata.category(c)[0] != "C")
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _count_label(name: str) -> str:
    """``partialChainCount`` -> ``Partial chains found``; ``answerCount`` -> ``Answers found``."""
    stem = re.sub(r"Count$", "", name.lstrip("?")) or name
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|_", " ", stem).split()
    if not words:
        return name
    words = [w.lower() for w in words]
    if not words[-1].endswith("s"):
        words[-1] += "s"
    label = " ".join(words)
    return label[0].upper() + label[1:] + " found"


def _line(label: str, value: str, indent: int = 2) -> str:
    # Values line up in one column whatever the indent.
    return f"{' ' * indent}{(label + ':').ljust(_LABEL_WIDTH + 2 - indent)} {value}"


# -- outcome and subject ---------------------------------------------------------------------------


def infer_outcome(record: Mapping[str, Any]) -> Outcome:
    """Failure when the status is a failure one (or the error notification), success otherwise."""
    status = str(record.get("job_status") or "")
    failures = {s.value for s in FAILURE_STATUSES} | {JobStatus.ERROR_NOTIFICATION_SENT.value}
    return "failure" if status in failures else "success"


def _short_job_id(job_id: str, dataset: str, max_len: int) -> str:
    """The job id within ``max_len``: the dataset is shortened first (date and NNN identify the run)."""
    if len(job_id) <= max_len:
        return job_id
    if dataset and job_id.startswith(dataset):
        rest = job_id[len(dataset) :]
        keep = max_len - len(rest) - 3
        if keep >= 1:
            return dataset[:keep] + "..." + rest
    return _truncate(job_id, max_len)


def render_subject(
    job_id: str, dataset: str, status: str, outcome: Outcome, template: str | None = None
) -> str:
    """``RDFox job succeeded: <job id>`` / ``RDFox job failed (<STATUS>): <job id>``, or ``template`` (setting
    NOTIFICATION_SUBJECT_TEMPLATE) filled in; <= 100 printable ASCII characters either way."""
    job_id, dataset, status = _ascii_line(job_id), _ascii_line(dataset), _ascii_line(status)
    if template:
        values = {"job_id": job_id, "dataset": dataset, "status": status, "outcome": outcome}
        try:
            text = format_subject_template(template, values)
        except ValueError as exc:
            raise SettingsError("NOTIFICATION_SUBJECT_TEMPLATE", str(exc)) from None
        # Cut at the end: mail rules match the template's start.
        return _truncate(_ascii_line(text), SUBJECT_LIMIT)
    heads = (
        [f"{_PREFIX} succeeded: "]
        if outcome == "success"
        else [
            f"{_PREFIX} failed ({status}): ",
            f"{_PREFIX} failed: ",  # a long status gives way to the job id
        ]
    )
    for head in heads:
        room = SUBJECT_LIMIT - len(head)
        dataset_kept = room - (len(job_id) - len(dataset)) - len("...")
        # Keep the status unless that would leave less than a recognisable start of the dataset name.
        if len(job_id) <= room or dataset_kept >= _MIN_DATASET_CHARS or head == heads[-1]:
            return _truncate(head + _short_job_id(job_id, dataset, room), SUBJECT_LIMIT)
    raise AssertionError("unreachable")  # pragma: no cover


# -- body sections ---------------------------------------------------------------------------------


def _job_section(
    record: Mapping[str, Any], job_id: str, dataset: str, status: str, secrets: Iterable[str | None]
) -> list[str]:
    lines = ["Job", _line("Job id", job_id), _line("Dataset", dataset), _line("Status", status)]
    for label, key in (
        ("Created", "created_at"),
        ("Updated", "updated_at"),
        ("Airflow dag run", "dag_run_id"),
        ("Pod", "pod_name"),
        ("Worker node type", "worker_node_type"),
    ):
        if record.get(key):
            # A dag run id can be chosen by whoever triggers the run: free text like any other.
            lines.append(_line(label, _ascii_line(redact(str(record[key]), secrets))))
    return lines


def _rdfox_section(stats: Mapping[str, Any]) -> list[str]:
    lines = ["Reasoning (RDFox)"]
    for label, key in (
        ("Load time", "time_to_load"),
        ("Inference time", "time_to_infer"),
        ("Query time", "time_query"),
        ("Total time", "time_total"),
    ):
        if _int(stats.get(key)) is not None:
            lines.append(_line(label, humanize.duration(_int(stats.get(key)))))
    for label, key in (
        ("Input facts", "triples_input_amount"),
        ("Facts after reasoning", "triples_total_amount"),
        ("Facts derived", "triples_materialised_amount"),
    ):
        if _int(stats.get(key)) is not None:
            lines.append(_line(label, humanize.count(_int(stats.get(key)))))
    if _int(stats.get("memory_usage")) is not None:
        lines.append(_line("Memory (estimate)", humanize.size_bytes(_int(stats.get("memory_usage")))))
    counts = stats.get("counts") or {}
    if isinstance(counts, Mapping) and counts:
        lines.append("  Counts from the log:")
        for name in sorted(counts):
            lines.append(_line(_count_label(_ascii_line(str(name))), humanize.count(_int(counts[name])), 4))
    answers = stats.get("query_answers") or {}
    if isinstance(answers, Mapping) and answers:
        lines.append("  Query answers:")
        for name in sorted(answers):
            lines.append(_line(_ascii_line(str(name)), humanize.count(_int(answers[name])), 4))
    return lines if len(lines) > 1 else []


def _neptune_section(
    stats: Mapping[str, Any], load_id: str | None, secrets: Iterable[str | None]
) -> list[str]:
    lines = ["Neptune bulk load"]
    load_id = stats.get("load_id") or load_id
    if load_id:
        lines.append(_line("Load id", _ascii_line(str(load_id))))
    if stats.get("status"):
        lines.append(_line("Loader status", _ascii_line(str(stats["status"]))))
    if _int(stats.get("total_time_spent")) is not None:
        lines.append(_line("Load time", humanize.duration(_int(stats.get("total_time_spent")))))
    records, duplicates = _int(stats.get("total_records")), _int(stats.get("total_duplicates"))
    if records is not None:
        loaded = humanize.count(records)
        if duplicates:
            loaded += f" ({humanize.count(duplicates)} already present)"
        lines.append(_line("Triples loaded", loaded))
    kinds = {
        "parsing": _int(stats.get("parsing_errors")),
        "datatype mismatch": _int(stats.get("datatype_mismatch_errors")),
        "insert": _int(stats.get("insert_errors")),
    }
    if any(v is not None for v in kinds.values()):
        total = sum(v or 0 for v in kinds.values())
        detail = ", ".join(f"{k} {humanize.count(v or 0)}" for k, v in kinds.items())
        lines.append(_line("Errors", f"{humanize.count(total)} ({detail})"))
    errors = stats.get("error_logs") or []
    if isinstance(errors, list) and errors:
        lines.append(f"  First errors ({min(len(errors), _MAX_NEPTUNE_ERRORS)} of {len(errors)} listed):")
        for entry in errors[:_MAX_NEPTUNE_ERRORS]:
            if not isinstance(entry, Mapping):
                continue
            where = ", ".join(
                part
                for part in (
                    str(entry.get("file_name") or ""),
                    f"record {entry['record_num']}" if entry.get("record_num") is not None else "",
                )
                if part
            )
            text = f"{entry.get('error_code') or 'ERROR'}: {entry.get('error_message') or ''}".strip()
            text = _truncate(_ascii_line(redact(text, secrets)), _MAX_NEPTUNE_ERROR_CHARS)
            where = _ascii_line(redact(where, secrets))
            lines.append(f"    - {text}" + (f" ({where})" if where else ""))
    return lines if len(lines) > 1 else []


def _output_prefix(record: Mapping[str, Any], job_id: str, dataset: str) -> str | None:
    spec = record.get("jobspec")
    bucket = spec.get("output_bucket") if isinstance(spec, Mapping) else None
    if bucket:
        return f"s3://{bucket}/{dataset}/{job_id}/"
    log_uri = record.get("rdfox_log_uri")
    if isinstance(log_uri, str) and log_uri.startswith("s3://") and "/" in log_uri[5:]:
        return log_uri.rsplit("/", 1)[0] + "/"
    return None


def _outputs_section(record: Mapping[str, Any], job_id: str, dataset: str) -> list[str]:
    lines = ["Outputs"]
    prefix = _output_prefix(record, job_id, dataset)
    if prefix:
        lines.append(_line("Query answers", prefix + "data/"))
    if record.get("rdfox_log_uri"):
        lines.append(_line("RDFox log", _ascii_line(str(record["rdfox_log_uri"]))))
    elif prefix:
        lines.append(_line("RDFox log", prefix + "rdfox.log"))
    if record.get("jobspec_uri"):
        lines.append(_line("Jobspec", _ascii_line(str(record["jobspec_uri"]))))
    # Fields the job table kept in S3 because they were too large for the record.
    for key in sorted(record):
        if key.endswith("_uri") and key not in ("rdfox_log_uri", "jobspec_uri"):
            value = record[key]
            if isinstance(value, str) and value.startswith("s3://"):
                lines.append(_line("Full " + key[: -len("_uri")].replace("_", " "), _ascii_line(value)))
    return lines if len(lines) > 1 else []


def _error_section(record: Mapping[str, Any], secrets: Iterable[str | None]) -> list[str]:
    reason = record.get("error_reason")
    lines = ["Error"]
    if reason:
        text = _truncate(_clean_text(redact(str(reason), secrets)), _MAX_ERROR_REASON_CHARS)
        lines += ["  " + line for line in text.splitlines()]
    else:
        run = record.get("dag_run_id")
        where = f" of dag run {_ascii_line(str(run))}" if run else ""
        lines.append(f"  No error reason was recorded; see the Airflow task logs{where}.")
    return lines


def _endpoint_section(
    record: Mapping[str, Any], job_id: str, outcome: Outcome, namespace: str | None
) -> list[str]:
    """Whether the RDFox endpoint stays up (the old message said so), until when and how to reach it."""
    spec = record.get("jobspec") if isinstance(record.get("jobspec"), Mapping) else {}
    kube = spec.get("kubernetes") if isinstance(spec.get("kubernetes"), Mapping) else {}
    rdfox = spec.get("rdfox") if isinstance(spec.get("rdfox"), Mapping) else {}
    namespace = _ascii_line(str(kube.get("namespace") or namespace or ""))
    port = _int(rdfox.get("port")) or _DEFAULT_RDFOX_PORT
    pod = _ascii_line(str(record.get("rdfox_endpoint_pod") or ""))
    lines = ["RDFox endpoint"]
    if not pod:
        not_kept = _ascii_line(str(record.get("rdfox_endpoint_not_kept") or ""))
        why = (
            f"asked for, but not started: {not_kept}"
            if not_kept
            else "no RDFox endpoint is active for this job"
        )
        lines.append(_line("Kept up", f"no: {why}"))
        if outcome == "success":
            lines.append(_line("Start one", f"rdfox-pipeline endpoint start JOBSPEC_FILE --job-id {job_id}"))
        return lines
    expires = _ascii_line(str(record.get("rdfox_endpoint_expires_at") or ""))
    ns_kubectl = f" -n {namespace}" if namespace else ""
    ns_cli = f" --namespace {namespace}" if namespace else ""
    lines.append(_line("Kept up", f"yes, until {expires}" if expires else "yes"))
    lines.append(_line("Pod", pod + (f" (namespace {namespace})" if namespace else "")))
    lines.append(_line("Connect", f"kubectl port-forward{ns_kubectl} pod/{pod} {port}:{port}"))
    # A continuation line in the value column.
    then = f"then http://localhost:{port}/ with the role and password of its Secret"
    lines.append(" " * (_LABEL_WIDTH + 3) + then)
    # The endpoint's own Secret has the pod's name (pod/endpoint.py); the password itself is never sent.
    secret = f"kubectl get secret{ns_kubectl} {pod} -o jsonpath='{{.data.password}}' | base64 -d"
    lines.append(_line("Password", secret))
    lines.append(_line("End it now", f"rdfox-pipeline endpoint delete {job_id}{ns_cli}"))
    return lines


# -- the notification ------------------------------------------------------------------------------


def render_notification(
    record: Mapping[str, Any],
    *,
    outcome: Outcome | None = None,
    secrets: Iterable[str | None] = (),
    subject_template: str | None = None,
    namespace: str | None = None,
) -> Notification:
    """The success or failure notification of a job record (``outcome`` default: from its status).

    ``subject_template``: the NOTIFICATION_SUBJECT_TEMPLATE setting (None: the built-in subject).
    ``namespace``: the KUBERNETES_NAMESPACE setting, for a kept endpoint whose jobspec names none.

    ``secrets``: values that must not appear in the message (e.g. the credentials in use); they and anything
    credential-shaped are replaced by ``[REDACTED]`` in free text.
    """
    job_id = str(record.get("job_id") or "")
    if not job_id:
        raise ValueError("job record has no job_id: cannot render a notification")
    secrets = tuple(secrets)
    dataset = str(record.get("dataset") or "")
    status = str(record.get("job_status") or "UNKNOWN")
    outcome = outcome or infer_outcome(record)
    if outcome not in ("success", "failure"):
        raise ValueError(f"outcome must be 'success' or 'failure', got {outcome!r}")

    job_id_text, dataset_text = _ascii_line(job_id), _ascii_line(dataset)
    headline = (
        f"RDFox pipeline job {job_id_text} succeeded: its results are loaded into Neptune."
        if outcome == "success"
        else f"RDFox pipeline job {job_id_text} failed in status {_ascii_line(status)}."
    )
    sections: list[list[str]] = [[headline], _job_section(record, job_id_text, dataset_text, status, secrets)]
    if outcome == "failure":
        sections.append(_error_section(record, secrets))
    rdfox = record.get("rdfox_stats")
    if isinstance(rdfox, Mapping):
        sections.append(_rdfox_section(rdfox))
    neptune = record.get("neptune_stats")
    load_id = record.get("neptune_load_id")
    if isinstance(neptune, Mapping) or load_id:
        sections.append(_neptune_section(neptune if isinstance(neptune, Mapping) else {}, load_id, secrets))
    sections.append(_outputs_section(record, job_id_text, dataset_text))
    sections.append(_endpoint_section(record, job_id_text, outcome, namespace))
    body = "\n\n".join("\n".join(s) for s in sections if s) + "\n"
    attributes = {
        "job_id": job_id_text,
        "status": _ascii_line(status),
        "outcome": outcome,
        "dataset": dataset_text,
    }
    # Secrets out before the subject is shortened: a cut must not leave half a secret behind.
    subject = render_subject(
        remove_values(job_id, secrets), remove_values(dataset, secrets), remove_values(status, secrets),
        outcome, subject_template,
    )  # fmt: skip

    # Last line of defence: a known secret value never leaves, wherever it turned up in the record (ids
    # and names included); only free text is pattern-redacted above, so the rest of the layout stays exact.
    return Notification(
        subject=_truncate(remove_values(subject, secrets), SUBJECT_LIMIT),
        body=remove_values(body, secrets),
        attributes={k: remove_values(v, secrets) for k, v in attributes.items()},
        outcome=outcome,
    )
