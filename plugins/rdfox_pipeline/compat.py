"""The one place that knows which Airflow 3.x runs us: 3.0.6 (Amazon MWAA's newest) up to the latest 3.x.

Nothing else in the package branches on Airflow's version; it imports what moved from here instead.

- Task exceptions moved to ``airflow.sdk.exceptions`` after 3.0 (3.0.x has them in ``airflow.exceptions``
  only). The common-compat provider, which the Amazon and Kubernetes providers depend on, already resolves
  each name to the class the running task runner catches (1.11+ has all of ours), so we take them from it.
  ``BaseHook`` likewise: ``airflow.sdk`` exports it from 3.1 on, ``airflow.hooks.base`` before; and
  ``get_async_connection`` for triggers (``BaseHook.aget_connection`` only exists from 3.1 on).
- ``KubernetesPodOperator`` reattaches to the job's pod on a retry by default on every version we support:
  below 3.3 through ``reattach_on_restart`` (label search), on 3.3+ through ``durable`` (the task state
  store). Passing ``durable`` below 3.3 only warns at every parse, and ``reattach_on_restart`` is deprecated
  on 3.3+: so we pass neither, and :data:`POD_REATTACH_ARGUMENT` names the one that holds, for logs/tests.
- ``DagBag`` (tests, benchmarks, the MWAA bundle check) moved from ``airflow.models.dagbag`` to
  ``airflow.dag_processing.dagbag``; the old path only warns on newer versions, so :func:`dag_bag_class`
  picks the new one where it exists. Imported when called: the plugin itself never needs it.
- In the triggerer, reading a connection's extra or password masks its secrets through the supervisor, a
  blocking call. Before 3.3.2 that call refuses to run on the event loop ("You cannot use AsyncToSync in the
  same thread as an async event loop") and works only from a thread that asgiref's ``sync_to_async`` made
  (it finds the triggerer's loop from there; ``asyncio.to_thread`` does not). :func:`run_blocking` is that
  thread, right on every version.
- The plugins manager kept loaded plugins in module globals up to 3.0 and behind functions since;
  :func:`loaded_plugins` reads either (tests and the MWAA bundle check). The API server's side of an extra
  link, ``XComOperatorLink``, moved out of ``airflow.serialization.serialized_objects`` likewise
  (:func:`xcom_operator_link_class`, for the links' test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import airflow
from airflow.providers.common.compat.connection import get_async_connection
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseHook,
    TaskDeferred,
)
from packaging.version import Version

AIRFLOW_V_3_3_PLUS = Version(Version(airflow.__version__).base_version) >= Version("3.3")

T = TypeVar("T")

POD_REATTACH_ARGUMENT = "durable" if AIRFLOW_V_3_3_PLUS else "reattach_on_restart"


async def run_blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func`` off a trigger's event loop, in a thread that can still ask the supervisor for things."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(func, thread_sensitive=False)(*args, **kwargs)


def dag_bag_class() -> type:
    """Airflow's ``DagBag``, from where the running version keeps it."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0.x
        from airflow.models.dagbag import DagBag
    return DagBag


def xcom_operator_link_class() -> type:
    """The class the API server resolves a serialized operator link with."""
    try:
        from airflow.serialization.definitions.operatorlink import XComOperatorLink
    except ImportError:  # Airflow 3.0.x
        from airflow.serialization.serialized_objects import XComOperatorLink
    return XComOperatorLink


def loaded_plugins() -> tuple[list[Any], dict[str, str]]:
    """The plugins Airflow loaded from its plugins folder and entry points, and its plugin import errors."""
    from airflow import plugins_manager

    if hasattr(plugins_manager, "_get_plugins"):  # Airflow 3.1+
        plugins, errors = plugins_manager._get_plugins()
        return list(plugins), dict(errors)
    plugins_manager.ensure_plugins_loaded()  # Airflow 3.0.x
    return list(plugins_manager.plugins or []), dict(plugins_manager.import_errors)


__all__ = [
    "AIRFLOW_V_3_3_PLUS",
    "POD_REATTACH_ARGUMENT",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "TaskDeferred",
    "dag_bag_class",
    "get_async_connection",
    "loaded_plugins",
    "run_blocking",
    "xcom_operator_link_class",
]


def asset_events_after(inlet_events: Any, asset: Any, after: Any) -> list[Any]:
    """The asset's events newer than ``after`` (an aware datetime), oldest first.

    Task SDK 1.1+ (Airflow 3.1+) filters on the API server (``after``/``ascending``); 1.0 (Airflow 3.0, MWAA)
    returns every event of the asset, filtered here.
    """
    events = inlet_events[asset]
    if hasattr(events, "after"):
        return list(events.after(after.isoformat()).ascending(True))
    return sorted((e for e in events if e.timestamp > after), key=lambda e: e.timestamp)
