"""Issue 18 item 6: what the Neptune loader answers is bounded (hook and CLI), against the emulator over HTTP.

The emulator echoes a bad ``source`` in its 400 message, so a long source makes a long error text; a small
MAX_RESPONSE_BYTES makes its ordinary answers "too large" on both the sync and the async side.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from rdfox_pipeline.cli.main import main
from rdfox_pipeline.hooks import neptune_loader
from rdfox_pipeline.hooks.neptune_loader import MAX_ERROR_CHARS, NeptuneLoaderError, NeptuneLoaderHook

from tests.conftest import TEST_REGION
from tests.integration.conftest import TEST_ROLE_ARN, NeptuneEmulator
from tests.integration.ssm_fixtures import isolated_settings_fixture  # noqa: F401 - fixture

pytestmark = [pytest.mark.timeout(120)]
LONG = 200_000


def test_a_long_error_text_is_cut(neptune_connection: str, neptune_emulator: NeptuneEmulator) -> None:
    hook = NeptuneLoaderHook(max_attempts=1)
    with pytest.raises(NeptuneLoaderError) as caught:
        hook.start_load(source="x" * LONG, format="ntriples", iamRoleArn=TEST_ROLE_ARN, region=TEST_REGION)
    assert caught.value.status_code == 400 and caught.value.code == "BadRequestException"
    message = caught.value.detailed_message
    assert message.startswith("Invalid source: 'xxx")
    assert len(message) < MAX_ERROR_CHARS + 50 and "more characters" in message
    assert len(str(caught.value)) < MAX_ERROR_CHARS + 150


def test_an_answer_over_the_bound_is_refused_sync_and_async(
    neptune_connection: str, neptune_emulator: NeptuneEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = NeptuneLoaderHook(max_attempts=1)
    assert isinstance(hook.list_loads(), list)  # the same call answers under the default bound
    monkeypatch.setattr(neptune_loader, "MAX_RESPONSE_BYTES", 10)
    with pytest.raises(NeptuneLoaderError, match=r"ResponseTooLarge.*larger than 10 bytes"):
        hook.list_loads()
    with pytest.raises(NeptuneLoaderError, match=r"ResponseTooLarge.*larger than 10 bytes"):
        asyncio.run(hook.aget_load_status("no-such-load"))


def test_the_cli_prints_one_bounded_line(
    neptune_emulator: NeptuneEmulator,
    isolated_settings: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_stdout_only: None,
) -> None:
    conn = {"conn_type": "neptune", "extra": {"use_https": False, "max_attempts": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_NEPTUNE_DEFAULT", json.dumps(conn))
    isolated_settings("NEPTUNE_IAM_ROLE_ARN", TEST_ROLE_ARN)
    monkeypatch.setenv("NEPTUNE_SOURCE_FORMAT", "ntriples")
    endpoint = f"127.0.0.1:{neptune_emulator.port}"
    code = main(["neptune", "load", "s3://bucket/data/", "--endpoint", endpoint, "--region", "x" * LONG])
    err = capsys.readouterr().err
    assert code == 2
    assert "Invalid region: 'xxx" in err and len(err) < MAX_ERROR_CHARS + 300 and err.count("\n") == 1
