"""The local stack's ``rdfox_pods`` pool counts deferred tasks (issue 13, scenario 2).

The ``reason`` task defers while its pod runs; a pool without ``include_deferred`` frees the slot then, and
the pool stops limiting pods. Read back from the real (sqlite) database that the stack's own
``airflow pools set`` wrote. Slow: a migrated Airflow database (shared per session), an Airflow CLI process.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rdfox_local.stack.stack import POD_POOL, LocalStack


def _include_deferred() -> bool:
    from airflow.models.pool import Pool

    pool = Pool.get_pool(POD_POOL)
    assert pool is not None, f"no pool {POD_POOL}"
    assert pool.slots == 4
    return bool(pool.include_deferred)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_local_stack_pool_includes_deferred_tasks(airflow_db: Path, tmp_path: Path) -> None:
    from airflow.models.pool import Pool

    # The pool as earlier versions of `local up` left it (no flag), in a state dir already migrated.
    Pool.create_or_update_pool(POD_POOL, 4, "RDFox pods running at once", include_deferred=False)
    assert _include_deferred() is False
    stack = LocalStack(tmp_path / "state")
    stack.airflow_home.mkdir(parents=True)
    (stack.airflow_home / ".migrated").touch()
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_db)}

    stack._prepare_airflow(env, log=lambda _m: None)  # the next `up`: no new migration, the pool fixed

    assert _include_deferred() is True  # read back from the database `airflow pools set` wrote
    assert (stack.airflow_home / ".pod-pool").exists()
