"""``isolated_settings``: a test's own view of the SSM settings on the session's shared moto server.

The moto server lives for the whole session (per xdist worker) and other tests leave settings under
``/parameter/pipeline_control/`` behind (e.g. the local-setup test writes JOB_TABLE_NAME, BULKLOAD_TOPIC and
OUTPUT_BUCKET there). SSM wins over the environment, so a test that means "the setting is X" or "the
setting is absent" must own the SSM path while it runs: this fixture empties it, lets the test put what it
needs, and restores what was there afterwards (tests of one worker run one at a time).

Import ``isolated_settings_fixture`` into a test module to use the fixture ``isolated_settings`` there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest
from rdfox_pipeline.aws.settings_loader import clear_settings_cache, fetch_ssm_parameters
from rdfox_pipeline.domain.settings import SSM_PATH


def _delete_all(client: object) -> None:
    for name in fetch_ssm_parameters(client):
        client.delete_parameter(Name=SSM_PATH + name)  # type: ignore[attr-defined]


@pytest.fixture(name="isolated_settings")
def isolated_settings_fixture(aws_endpoint: str) -> Iterator[Callable[[str, str], None]]:
    """An empty SSM settings path (and an empty settings cache); yields ``put(NAME, value)``."""
    client = boto3.client("ssm", endpoint_url=aws_endpoint)
    saved = fetch_ssm_parameters(client)
    _delete_all(client)
    clear_settings_cache()

    def put(name: str, value: str) -> None:
        client.put_parameter(Name=SSM_PATH + name, Value=value, Type="String", Overwrite=True)
        clear_settings_cache()

    try:
        yield put
    finally:
        _delete_all(client)
        for name, value in saved.items():
            client.put_parameter(Name=SSM_PATH + name, Value=value, Type="String", Overwrite=True)
        clear_settings_cache()
