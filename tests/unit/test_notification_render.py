"""Rendering of job notifications: golden files, the SNS subject limit, and no secrets in the message."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rdfox_pipeline.domain.neptune_stats import parse_neptune_status
from rdfox_pipeline.domain.rdfox_log import parse_rdfox_log
from rdfox_pipeline.notifications import SUBJECT_LIMIT, Notification, redact, render_notification
from rdfox_pipeline.notifications.render import render_subject

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "data" / "notifications"
# UPDATE_GOLDEN=1 rewrites the golden files (then review the diff before keeping it).
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

FAKE_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def success_record(reference_dir: Path) -> dict:
    rdfox = parse_rdfox_log((reference_dir / "rdfox-5-reference-run.log").read_text()).to_dict()
    payload = json.loads((reference_dir / "neptune-loader-status-completed.json").read_text())
    neptune = parse_neptune_status(payload)
    return {
        "dataset": "100MT1MP3DAY",
        "job_key": "2021-08-03_001",
        "job_id": "100MT1MP3DAY_2021-08-03_001",
        "job_status": "NEPTUNE_LOAD_COMPLETED",
        "created_at": "2021-08-03T11:00:00.000000+00:00",
        "updated_at": "2021-08-03T14:29:20.000000+00:00",
        "dag_run_id": "manual__2021-08-03T11:00:00+00:00",
        "pod_name": "rdfox-100mt1mp3day-2021-08-03-001",
        "worker_node_type": "r5.24xlarge",
        "neptune_load_id": "a1cac8fa-ad02-4e28-9dc6-12f3e7b57ff8",
        "rdfox_stats": rdfox,
        "neptune_stats": neptune.to_dict(),
        "neptune_stats_raw": {"payload": "not rendered"},
        "rdfox_log_uri": "s3://TEST_BUCKET/100MT1MP3DAY/100MT1MP3DAY_2021-08-03_001/rdfox.log",
        "jobspec": {"output_bucket": "TEST_BUCKET", "rdfox": {"password_secret_name": "rdfox-password"}},
    }


def failure_record() -> dict:
    neptune = parse_neptune_status(
        {
            "status": "200 OK",
            "payload": {
                "feedCount": [{"LOAD_FAILED": 1}],
                "overallStatus": {
                    "fullUri": "s3://out/TXNS/TXNS_2021-08-01_002/data/",
                    "runNumber": 1,
                    "retryNumber": 0,
                    "status": "LOAD_FAILED",
                    "totalTimeSpent": 75,
                    "startTime": 1627820000,
                    "totalRecords": 1200,
                    "totalDuplicates": 0,
                    "parsingErrors": 7,
                    "datatypeMismatchErrors": 0,
                    "insertErrors": 0,
                },
                "errors": {
                    "startIndex": 1,
                    "endIndex": 7,
                    "loadId": "0b7c2f55-1111-2222-3333-444455556666",
                    "errorLogs": [
                        {
                            "errorCode": "PARSING_ERROR",
                            "errorMessage": f"Expected '.' at token {n}",
                            "fileName": "s3://out/TXNS/TXNS_2021-08-01_002/data/extract1.rq.nt",
                            "recordNum": 100 + n,
                        }
                        for n in range(7)
                    ],
                },
            },
        }
    )
    return {
        "dataset": "TXNS",
        "job_key": "2021-08-01_002",
        "job_id": "TXNS_2021-08-01_002",
        "job_status": "NEPTUNE_LOAD_FAILED",
        "created_at": "2021-08-01T12:00:00.000000+00:00",
        "updated_at": "2021-08-01T12:40:00.000000+00:00",
        "dag_run_id": "scheduled__2021-08-01T12:00:00+00:00",
        "neptune_load_id": "0b7c2f55-1111-2222-3333-444455556666",
        "neptune_stats": neptune.to_dict(),
        "error_reason": (
            "Neptune load failed: LOAD_FAILED; loader called with "
            f"aws_access_key_id={FAKE_ACCESS_KEY} and secret {FAKE_SECRET_KEY}, password=hunter22\n"
            "see https://admin:letmein@neptune.example:8182/loader"
        ),
        "rdfox_log_uri": "s3://out/TXNS/TXNS_2021-08-01_002/rdfox.log",
        "rdfox_log_text_uri": "s3://out/TXNS/TXNS_2021-08-01_002/metadata/rdfox_log_text.json",
        "jobspec": {"output_bucket": "out"},
    }


def as_golden_text(note: Notification) -> str:
    return (
        f"Subject: {note.subject}\n"
        f"Attributes: {json.dumps(note.attributes, sort_keys=True)}\n"
        f"\n{note.body}"
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"golden file {path} missing: run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text()


def test_success_golden(reference_dir: Path) -> None:
    note = render_notification(success_record(reference_dir))
    assert note.outcome == "success"
    check_golden("success.txt", as_golden_text(note))
    # the facts people look for, whatever the layout
    assert re.search(r"Partial chains found: +1,337\n", note.body)
    assert "extract3.rq:" in note.body and "1,659,850,615" in note.body
    assert "27 min 1 s" in note.body and "50 min 14 s" in note.body
    assert "41,220,091" in note.body
    assert "s3://TEST_BUCKET/100MT1MP3DAY/100MT1MP3DAY_2021-08-03_001/data/" in note.body
    assert "rdfox-password" not in note.body and "not rendered" not in note.body  # whitelist only
    assert note.attributes["job_id"] == "100MT1MP3DAY_2021-08-03_001"
    assert note.attributes["status"] == "NEPTUNE_LOAD_COMPLETED"


def test_failure_golden_has_no_secrets() -> None:
    note = render_notification(failure_record(), secrets=["hunter22"])
    assert note.outcome == "failure"
    check_golden("failure.txt", as_golden_text(note))
    text = as_golden_text(note)
    for secret in (FAKE_ACCESS_KEY, FAKE_SECRET_KEY, "hunter22", "letmein"):
        assert secret not in text
    assert note.subject == "RDFox job failed (NEPTUNE_LOAD_FAILED): TXNS_2021-08-01_002"
    assert re.search(r"Errors: +7 \(parsing 7, datatype mismatch 0, insert 0\)", note.body)
    assert "First errors (5 of 7 listed)" in note.body
    assert "Expected '.' at token 4" in note.body and "token 5" not in note.body
    assert "s3://out/TXNS/TXNS_2021-08-01_002/metadata/rdfox_log_text.json" in note.body
    assert note.attributes == {
        "job_id": "TXNS_2021-08-01_002",
        "status": "NEPTUNE_LOAD_FAILED",
        "outcome": "failure",
        "dataset": "TXNS",
    }


def test_failure_without_reason_points_at_the_logs() -> None:
    record = {"job_id": "DS_2021-08-01_000", "dataset": "DS", "job_status": "SCHEDULED", "dag_run_id": "r1"}
    note = render_notification(record, outcome="failure")
    assert "No error reason was recorded; see the Airflow task logs of dag run r1." in note.body
    assert note.subject == "RDFox job failed (SCHEDULED): DS_2021-08-01_000"


def test_outcome_inferred_from_status() -> None:
    base = {"job_id": "DS_2021-08-01_000", "dataset": "DS"}
    assert render_notification({**base, "job_status": "INFERENCE_FAILED"}).outcome == "failure"
    assert render_notification({**base, "job_status": "NEPTUNE_LOAD_COMPLETED"}).outcome == "success"
    with pytest.raises(ValueError, match="job_id"):
        render_notification({"dataset": "DS"})
    with pytest.raises(ValueError, match="outcome"):
        render_notification(base, outcome="maybe")  # type: ignore[arg-type]


def test_long_dataset_is_shortened_in_subject_keeping_date_and_sequence() -> None:
    dataset = "A" * 120
    job_id = f"{dataset}_2021-08-01_017"
    long_status = "NEPTUNE_LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED"
    subject = render_subject(job_id, dataset, long_status, "failure")
    assert len(subject) <= SUBJECT_LIMIT
    assert subject.endswith("..._2021-08-01_017")
    assert subject.startswith("RDFox job failed: AAAAAAAA")  # the long status gave way
    # the status stays while a recognisable part of the dataset name fits beside it
    subject = render_subject(job_id, dataset, "INFERENCE_FAILED", "failure")
    assert subject == "RDFox job failed (INFERENCE_FAILED): " + "A" * 45 + "..._2021-08-01_017"
    assert len(subject) == SUBJECT_LIMIT
    subject = render_subject("MEDIUM-DATASET-NAME_2021-08-01_017", "MEDIUM-DATASET-NAME",
                             "NEPTUNE_LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED", "failure")
    assert subject == "RDFox job failed: MEDIUM-DATASET-NAME_2021-08-01_017"
    assert render_subject("Ünïcódé\nDS_2021-08-01_000", "Ünïcódé\nDS", "X", "success") == (
        "RDFox job succeeded: Unicode DS_2021-08-01_000"
    )


@given(
    dataset=st.text(min_size=1, max_size=300),
    status=st.text(max_size=120),
    outcome=st.sampled_from(["success", "failure"]),
)
def test_subject_is_always_valid_for_sns(dataset: str, status: str, outcome: str) -> None:
    subject = render_subject(f"{dataset}_2021-08-01_000", dataset, status, outcome)  # type: ignore[arg-type]
    assert 0 < len(subject) <= SUBJECT_LIMIT
    assert subject.isascii() and subject.isprintable() and "\n" not in subject


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"key {FAKE_ACCESS_KEY} used", FAKE_ACCESS_KEY),
        (f"AWS_SECRET_ACCESS_KEY={FAKE_SECRET_KEY}", FAKE_SECRET_KEY),
        (f"the secret {FAKE_SECRET_KEY} leaked", FAKE_SECRET_KEY),
        ('{"password": "s3cr3t!"}', "s3cr3t!"),
        ("RDFOX_PASSWORD=topsecret ./run", "topsecret"),
        ("https://user:pa55word@host/path", "pa55word"),
        ("GET /x?X-Amz-Signature=deadbeef01&X-Amz-Security-Token=FQoGZX", "FQoGZX"),
        ("Authorization: Bearer eyJhbGciOi.payload", "eyJhbGciOi"),
    ],
)
def test_redact_removes_credentials(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "[REDACTED]" in redact(text)


def test_redact_keeps_ordinary_text_and_removes_given_values() -> None:
    plain = "File with name '/data/part-0001.nt' cannot be found; sha 0123456789abcdef0123456789abcdef012345"
    assert redact(plain) == plain
    redacted = redact("license xyz-LICENSE-123 expired", ["xyz-LICENSE-123", None, ""])
    assert redacted == "license [REDACTED] expired"


@pytest.mark.parametrize(
    "field", ["job_id", "dataset", "job_status", "dag_run_id", "pod_name", "worker_node_type", "error_reason"]
)
def test_a_known_secret_never_leaves_whatever_field_holds_it(field: str) -> None:
    """The credentials in use are removed from the subject, body and attributes, ids and names included."""
    secret = "Tok3nValue-9f8e7d"  # a made-up value
    record = {
        "job_id": "DS_2021-08-01_000",
        "dataset": "DS",
        "job_status": "INFERENCE_FAILED",
        "dag_run_id": "manual__1",
        "pod_name": "rdfox-ds",
        "worker_node_type": "r5.large",
        "error_reason": "failed",
        "jobspec": {"output_bucket": "out"},
    }
    record[field] = f"x-{secret}-y"
    note = render_notification(record, secrets=[secret])
    assert secret not in as_golden_text(note)
    assert "[REDACTED]" in as_golden_text(note)
    assert len(note.subject) <= SUBJECT_LIMIT


def test_credentials_in_a_dag_run_id_or_error_file_name_are_redacted() -> None:
    """Who triggers a run chooses its id; Neptune error file names are URLs: both are free text."""
    record = failure_record()
    record["dag_run_id"] = "manual__token=abc123def456"
    record["neptune_stats"]["error_logs"][0]["file_name"] = "https://bucket/x.nt?X-Amz-Signature=cafe0123beef"
    note = render_notification(record)
    assert "abc123def456" not in note.body and "cafe0123beef" not in note.body
    assert "manual__token=[REDACTED]" in note.body
