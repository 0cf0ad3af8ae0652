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
        f"Subject: {note.subject}\nAttributes: {json.dumps(note.attributes, sort_keys=True)}\n\n{note.body}"
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
    subject = render_subject(
        "MEDIUM-DATASET-NAME_2021-08-01_017",
        "MEDIUM-DATASET-NAME",
        "NEPTUNE_LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED",
        "failure",
    )
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


# -- NOTIFICATION_SUBJECT_TEMPLATE and the endpoint section (issue 19 item 3) --------------------------------

OLD_SUBJECT = "Inference Result Notification for ID - {job_id} - JobStatus.{status}"


def endpoint_record(**extra: object) -> dict:
    return {
        "job_id": "DS_2021-08-01_000",
        "dataset": "DS",
        "job_status": "NEPTUNE_LOAD_COMPLETED",
        "jobspec": {"output_bucket": "out", "rdfox": {"port": 12110}, "kubernetes": {"namespace": None}},
        **extra,
    }


def test_old_subject_template_gives_the_old_subject() -> None:
    note = render_notification(endpoint_record(), subject_template=OLD_SUBJECT)
    assert note.subject == (
        "Inference Result Notification for ID - DS_2021-08-01_000 - JobStatus.NEPTUNE_LOAD_COMPLETED"
    )
    note = render_notification(
        endpoint_record(job_status="INFERENCE_FAILED"),
        subject_template="[{outcome}] {dataset}: {job_id} ({status}) {{literal}}",
    )
    assert note.subject == "[failure] DS: DS_2021-08-01_000 (INFERENCE_FAILED) {literal}"
    # No template: today's subject, unchanged.
    assert render_notification(endpoint_record()).subject == "RDFox job succeeded: DS_2021-08-01_000"


def test_template_subject_is_cut_at_the_end_and_secrets_go_first() -> None:
    dataset = "D" * 90
    record = endpoint_record(
        job_id=f"{dataset}_2021-08-01_000", dataset=dataset,
        job_status="NEPTUNE_LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED",
    )  # fmt: skip
    subject = render_notification(record, subject_template=OLD_SUBJECT).subject
    assert len(subject) == SUBJECT_LIMIT and subject.endswith("...")
    assert subject.startswith("Inference Result Notification for ID - DDDD")  # what mail rules match on
    # A secret in the job id is removed before the cut: no half of it survives at the edge.
    secret = "S3cretTok3n-" + "x" * 40
    record = endpoint_record(job_id=f"{'D' * 40}{secret}_2021-08-01_000", dataset="D" * 40 + secret)
    subject = render_notification(record, subject_template=OLD_SUBJECT, secrets=[secret]).subject
    assert "S3cret" not in subject and "[REDACTED]" in subject and len(subject) <= SUBJECT_LIMIT


@pytest.mark.parametrize("template", ["{job_id.__class__}", "{job_id[0]}", "{nope}", "{}", "{job_id!r}"])
def test_a_bad_template_is_a_settings_error_naming_the_setting(template: str) -> None:
    from rdfox_pipeline.domain.settings import SettingsError

    with pytest.raises(SettingsError, match=r"^NOTIFICATION_SUBJECT_TEMPLATE: "):
        render_notification(endpoint_record(), subject_template=template)


@given(
    template_text=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120),
    dataset=st.text(min_size=1, max_size=150),
)
def test_any_accepted_template_gives_a_valid_sns_subject(template_text: str, dataset: str) -> None:
    from rdfox_pipeline.domain.subject_template import parse_subject_template

    template = template_text + " {job_id} {status}"
    try:
        parse_subject_template(template)
    except ValueError:
        return  # refused at settings time: never reaches rendering
    subject = render_subject(f"{dataset}_2021-08-01_000", dataset, "X", "success", template)
    assert len(subject) <= SUBJECT_LIMIT
    assert subject.isascii() and subject.isprintable() and "\n" not in subject


def test_body_says_the_endpoint_is_kept_until_when_and_how_to_reach_it() -> None:
    record = endpoint_record(
        rdfox_endpoint_pod="rdfox-ds-2021-08-01-000-endpoint",
        rdfox_endpoint_expires_at="2021-08-02T12:00:00+00:00",
    )
    body = render_notification(record, namespace="rdfox").body
    section = body.split("\nRDFox endpoint\n", 1)[1]
    assert section.splitlines() == [
        "  Kept up:                 yes, until 2021-08-02T12:00:00+00:00",
        "  Pod:                     rdfox-ds-2021-08-01-000-endpoint (namespace rdfox)",
        "  Connect:                 kubectl port-forward -n rdfox pod/rdfox-ds-2021-08-01-000-endpoint"
        " 12110:12110",
        "                           then http://localhost:12110/ with the role and password of its Secret",
        "  Password:                kubectl get secret -n rdfox rdfox-ds-2021-08-01-000-endpoint"
        " -o jsonpath='{.data.password}' | base64 -d",
        "  End it now:              rdfox-pipeline endpoint delete DS_2021-08-01_000 --namespace rdfox",
    ]
    # The jobspec's own namespace and port win over the setting.
    record["jobspec"] = {"kubernetes": {"namespace": "team-a"}, "rdfox": {"port": 12111}}
    body = render_notification(record, namespace="rdfox").body
    assert "kubectl port-forward -n team-a pod/rdfox-ds-2021-08-01-000-endpoint 12111:12111" in body
    assert "endpoint delete DS_2021-08-01_000 --namespace team-a" in body


def test_body_says_when_no_endpoint_is_kept() -> None:
    body = render_notification(endpoint_record()).body
    assert "  Kept up:                 no: no RDFox endpoint is active for this job\n" in body
    assert "rdfox-pipeline endpoint start JOBSPEC_FILE --job-id DS_2021-08-01_000" in body
    body = render_notification(endpoint_record(job_status="INFERENCE_FAILED")).body
    assert "no RDFox endpoint is active" in body and "endpoint start" not in body  # nothing was published
