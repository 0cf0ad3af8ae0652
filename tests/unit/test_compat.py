"""rdfox_pipeline.compat: what differs between Airflow 3.0.6 (MWAA) and the latest 3.x, in one place."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync

pytestmark = pytest.mark.compat  # also run under MWAA's Airflow (make test-compat)


def test_task_exceptions_are_the_ones_the_running_task_runner_catches() -> None:
    """3.0.x defines them in airflow.exceptions only; later versions in airflow.sdk.exceptions, aliased from
    airflow.exceptions. Ours must be the very classes, or a skip or a fail would be an ordinary error."""
    import warnings

    import airflow.sdk.exceptions
    from rdfox_pipeline import compat

    names = ("AirflowException", "AirflowFailException", "AirflowSkipException", "AirflowSensorTimeout")
    for name in (*names, "TaskDeferred"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # newer versions warn on the airflow.exceptions path
            import airflow.exceptions

            assert getattr(compat, name) is getattr(airflow.exceptions, name), name
        if hasattr(airflow.sdk.exceptions, name):
            assert getattr(compat, name) is getattr(airflow.sdk.exceptions, name), name


def test_run_blocking_calls_back_into_the_triggers_loop() -> None:
    """Before Airflow 3.3.2 a trigger's connection lookups and secret masking go to the supervisor through
    asgiref's async_to_sync, which must find the triggerer's own loop: from the loop thread it refuses (the
    error Airflow 3.0.6's triggerer logged at every poll), from asyncio.to_thread it runs on a loop of its
    own; from run_blocking's thread it reaches the caller's loop."""
    from rdfox_pipeline.compat import run_blocking

    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        async def current_loop() -> asyncio.AbstractEventLoop:
            return asyncio.get_running_loop()

        def blocking_supervisor_call() -> asyncio.AbstractEventLoop:
            return async_to_sync(current_loop)()

        with pytest.raises(RuntimeError, match="same thread as an async event loop"):
            blocking_supervisor_call()
        assert await asyncio.to_thread(blocking_supervisor_call) is not loop
        assert await run_blocking(blocking_supervisor_call) is loop

    asyncio.run(scenario())


def test_dag_bag_and_plugins_of_the_running_airflow() -> None:
    from rdfox_pipeline.compat import dag_bag_class, loaded_plugins

    assert dag_bag_class().__name__ == "DagBag"
    plugins, errors = loaded_plugins()
    assert errors == {}
    assert "rdfox_pipeline" in {p.name for p in plugins}
