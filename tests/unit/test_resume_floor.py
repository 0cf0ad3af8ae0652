"""The resume floor: 20 s by default (the scheduler race of apache/airflow#72716), settable through the
environment only where no scheduler runs (`airflow dags test`), and held by the trigger without blocking."""

from __future__ import annotations

import asyncio
import time

import pytest
from rdfox_pipeline.triggers import resume_floor
from rdfox_pipeline.triggers.resume_floor import (
    RESUME_FLOOR_ENV,
    resume_floor_seconds,
    resume_not_before,
    wait_for_resume_floor,
)


def test_default_floor_is_twenty_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESUME_FLOOR_ENV, raising=False)
    assert resume_floor_seconds() == 20.0
    before = time.time()
    assert before + 20.0 <= resume_not_before() <= time.time() + 20.0


@pytest.mark.parametrize(("raw", "expected"), [("0", 0.0), ("2.5", 2.5), (" ", 20.0), ("3600", 3600.0)])
def test_environment_sets_the_floor(monkeypatch: pytest.MonkeyPatch, raw: str, expected: float) -> None:
    monkeypatch.setenv(RESUME_FLOOR_ENV, raw)
    assert resume_floor_seconds() == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("soon", "expected a number of seconds"), ("-1", "between 0 and 3600"), ("1e9", "between")],
)
def test_bad_floor_is_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str, problem: str
) -> None:
    monkeypatch.setenv(RESUME_FLOOR_ENV, raw)
    with pytest.raises(ValueError, match=f"^{RESUME_FLOOR_ENV}: .*{problem}"):
        resume_floor_seconds()


def test_trigger_holds_its_event_until_the_floor_while_the_loop_runs_on() -> None:
    ticks: list[float] = []

    async def main() -> float:
        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.02)

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        await wait_for_resume_floor(time.time() + 0.3)
        waited = time.monotonic() - started
        task.cancel()
        return waited

    waited = asyncio.run(main())
    assert waited >= 0.29
    assert len(ticks) >= 5  # the event loop kept running: the hold is an asyncio sleep, not a blocking one
    assert asyncio.run(_immediate()) < 0.1


async def _immediate() -> float:
    started = time.monotonic()
    await wait_for_resume_floor(None)
    await wait_for_resume_floor(time.time() - 5)
    return time.monotonic() - started


def test_module_constant_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # tests' no_resume_floor fixture patches the constant; the environment wins over it when set.
    monkeypatch.setattr(resume_floor, "RESUME_FLOOR_SECONDS", 0.0)
    monkeypatch.delenv(RESUME_FLOOR_ENV, raising=False)
    assert resume_floor_seconds() == 0.0
