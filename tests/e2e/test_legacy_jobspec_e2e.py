"""The old job-submitter's jobspec, unchanged, through Airflow on the local stack (`local demo --jobspec`):
SUCCESS_NOTIFICATION_SENT, the notes in the job record, and the kept endpoint (auto_shutdown false) ended."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEGACY_SAMPLE = Path(__file__).resolve().parents[2] / "include" / "samples" / "legacy-submitter.rdfoxjob.json"
CLI = str(Path(sys.executable).with_name("rdfox-pipeline"))
JOB_LABEL = "rdfox-pipeline/job-id"


def test_legacy_submitter_jobspec_end_to_end(local_stack, tmp_path) -> None:
    result = local_stack.demo.run(tmp_path, LEGACY_SAMPLE)
    assert result.status == "SUCCESS_NOTIFICATION_SENT", result
    assert result.loaded_triples and result.loaded_triples > 0

    record = local_stack.demo.job_record(result.job_id)
    notes = record["jobspec_notes"]
    assert {n.split(":", 1)[0] for n in notes} == {
        "init_container_image", "publisher_container_image", "rdfox_init_container_image", "auto_shutdown",
    }  # fmt: skip
    # The old key names the operator's RDFOX_IMAGE (by its Docker Hub short name): the operator's runs.
    assert record["jobspec"]["images"]["rdfox"] == "docker.io/oxfordsemantic/rdfox:7.1.1"
    # The reasoning pod succeeded although the old images are in no image map of the emulator (an unmapped
    # image never starts): the pipeline's step images ran. That pod is deleted on success.
    assert record["pod_name"]

    # auto_shutdown false: the endpoint pod is up, bounded by the TTL (24 h default), until the record's time.
    endpoint = next(p for p in local_stack.pods() if p["metadata"]["name"] == record["rdfox_endpoint_pod"])
    assert endpoint["spec"]["activeDeadlineSeconds"] == 24 * 3600
    assert (
        endpoint["metadata"]["annotations"]["rdfox-pipeline/expires-at"]
        == record["rdfox_endpoint_expires_at"]
    )
    images = [c["image"] for c in [*endpoint["spec"]["initContainers"], *endpoint["spec"]["containers"]]]
    assert not [i for i in images if "legacy-registry" in i], images

    def job_pods() -> list[str]:
        return [
            p["metadata"]["name"]
            for p in local_stack.pods()
            if (p["metadata"].get("labels") or {}).get(JOB_LABEL) == result.job_id
        ]

    # Ended through the CLI, as docs/pod.md tells investigators; then no pod of the job is left.
    assert record["rdfox_endpoint_pod"] in job_pods()
    done = subprocess.run(
        [CLI, "endpoint", "delete", result.job_id, "--kubeconfig", str(local_stack.stack.kubeconfig),
         "--namespace", "rdfox"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    wait_for(lambda: not job_pods(), timeout=60, what=f"no pod of {result.job_id} left")
