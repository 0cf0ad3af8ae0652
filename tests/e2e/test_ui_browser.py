"""Issue 16 item 4: a person triggers a job from the Airflow UI's form, in a real (headless) Chromium.

Debian's ``chromium``, driven by Playwright for Python through ``executable_path`` (no browser download),
against a real Airflow (api-server, scheduler, dag-processor, triggerer) on the local stack, with the simple
auth manager asking for a password. The browser logs in, opens ``rdfox_neptune_pipeline``, fills the trigger
form's fields (dataset, cores, memory) and triggers; the test waits until the run succeeds and the job
record says SUCCESS_NOTIFICATION_SENT, then looks at what the person sees: the finished run and the notify
task's ``job_summary``. Screenshots go under the test's tmp dir; ``UI_SCREENSHOTS_DIR`` copies them too (how
``docs/ui/`` was made).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DAG_ID, Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
DATASET = "UIFORM"
USER = "admin"  # the user `local up --airflow` creates
RUN_TIMEOUT = 900
SCREENSHOTS_ENV = "UI_SCREENSHOTS_DIR"


@pytest.fixture(scope="module")
def ui_airflow(local_stack: Stack) -> Iterator[Any]:
    """Airflow as ``rdfox-pipeline local up --airflow`` starts it (``start_airflow``): the UI with a login,
    the user ``admin`` and the password it generated into the state directory."""
    from rdfox_local.stack.airflow_services import start_airflow

    # Other e2e modules' uploads queued S3 events: the asset watcher must not start their runs beside ours.
    queue_url = local_stack.stack.state().resources["jobspec_queue_url"]
    local_stack.demo.sqs.purge_queue(QueueUrl=queue_url)
    services = start_airflow(local_stack.stack, auth=True, timeout=420)
    services.password = services.admin_password()
    try:
        yield services
    finally:
        services.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _shot(page: Any, tmp_path: Path, name: str, *, publish: bool = True) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if publish and os.environ.get(SCREENSHOTS_ENV):
        target = Path(os.environ[SCREENSHOTS_ENV])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
    return path


def _field(dialog: Any, name: str) -> Any:
    """A param's input in the trigger form, named ``element_<param>`` (a number field's id is generated)."""
    return dialog.locator(f"input[name='element_{name}'], input[id='element_{name}']").first


def _runs(services: Any) -> dict[str, dict[str, Any]]:
    runs = services.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"]
    return {run["dag_run_id"]: run for run in runs}


def _new_manual_run(services: Any, before: set[str]) -> dict[str, Any] | None:
    new = [r for run_id, r in _runs(services).items() if run_id not in before and r["run_type"] == "manual"]
    return new[0] if new else None


def test_a_job_triggered_from_the_form_runs_to_success(
    local_stack: Stack, ui_airflow: Any, browser: Any, tmp_path: Path
) -> None:
    local_stack.upload_dataset(DATASET)
    before = set(_runs(ui_airflow))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    try:
        _trigger_and_follow(local_stack, ui_airflow, page, before, tmp_path)
    finally:
        # What the browser showed last, also when a step failed (not for the docs).
        _shot(page, tmp_path, "last-page", publish=False)
        (tmp_path / "last-page.html").write_text(page.content())
        page.close()


def _trigger_and_follow(
    local_stack: Stack, ui_airflow: Any, page: Any, before: set[str], tmp_path: Path
) -> None:
    # Log in (simple auth manager), then the DAG's page.
    page.goto(f"{ui_airflow.api_url}/dags/{DAG_ID}")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(ui_airflow.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/dags/{DAG_ID}**")

    # The trigger form: the plain fields, described, the whole jobspec folded away under Advanced.
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    _field(dialog, "dataset").fill(DATASET)
    _field(dialog, "cores").fill("1")
    _field(dialog, "memory").fill("1Gi")
    page.set_viewport_size({"width": 1400, "height": 1900})  # the whole form in one picture
    _shot(page, tmp_path, "trigger-form")
    page.set_viewport_size({"width": 1400, "height": 1000})
    dialog.get_by_role("button", name="Trigger").last.click()

    run = wait_for(lambda: _new_manual_run(ui_airflow, before), 60, what="the triggered run")
    run_id = run["dag_run_id"]

    def finished() -> dict[str, Any] | None:
        ui_airflow.check_running()
        state = ui_airflow.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        return state if state["state"] in ("success", "failed") else None

    final = wait_for(finished, RUN_TIMEOUT, interval=5, what=f"the end of run {run_id}")
    assert final["state"] == "success", final
    assert final["conf"]["dataset"] == DATASET and final["conf"]["cores"] == 1, final["conf"]

    registration = ui_airflow.api(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/register_job/xcomEntries/return_value"
    )["value"]
    job_id = registration["job_id"]
    assert registration["jobspec"]["resources"] == {"cores": 1, "memory": "1Gi"}
    record = local_stack.demo.job_record(job_id, dataset=DATASET)
    assert record["job_status"] == "SUCCESS_NOTIFICATION_SENT", record

    # What a person sees without opening a log: the notify task's job_summary.
    notify = ui_airflow.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/notify")
    summary = notify["rendered_fields"]["job_summary"]
    if isinstance(summary, str):
        summary = json.loads(summary)
    assert summary["job_id"] == job_id and summary["status"] == "SUCCESS_NOTIFICATION_SENT"
    assert summary["inferred_triples"] > 0 and summary["loaded_triples"] > 0

    page.goto(f"{ui_airflow.api_url}/dags/{DAG_ID}/runs/{run_id}")
    page.get_by_text("success").first.wait_for()
    _shot(page, tmp_path, "finished-run")
    page.goto(f"{ui_airflow.api_url}/dags/{DAG_ID}/runs/{run_id}/tasks/notify/rendered_templates")
    page.get_by_text(job_id).first.wait_for()
    _shot(page, tmp_path, "run-summary")
