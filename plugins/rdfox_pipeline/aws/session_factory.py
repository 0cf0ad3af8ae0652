"""A session factory for the Amazon provider's hooks whose boto3 sessions share one botocore data loader.

Every ``AwsBaseHook`` builds a new boto3 session, and each new botocore session parses botocore's JSON data
again (the endpoint rules, the partitions, the service model of every client it makes): 0.1 to 0.3 s of CPU
per hook, several hooks per task. The provider already shares one loader between its async sessions for the
memory this costs (boto/botocore#3078, ``base_aws._loader``); this factory does the same for the sync
sessions the provider creates from a connection. Credentials, region and profile stay per session: only the
parsed, read-only data files are shared.

Enable it with Airflow's documented hook for this, ``[aws] session_factory``
(``AIRFLOW__AWS__SESSION_FACTORY=rdfox_pipeline.aws.session_factory.SharedLoaderSessionFactory``). The local
stack, docker-compose and the tests set it; unset, the provider's own factory is used and nothing changes but
the CPU. Sessions that assume a role (``role_arn`` in the connection) are built by the provider as before.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from airflow.providers.amazon.aws.hooks.base_aws import BaseSessionFactory

SESSION_FACTORY_PATH = "rdfox_pipeline.aws.session_factory.SharedLoaderSessionFactory"

_lock = threading.Lock()
_loader: botocore.loaders.Loader | None = None


def shared_loader() -> botocore.loaders.Loader:
    """The process's one data loader, with the search paths a default session would have (AWS_DATA_PATH)."""
    global _loader
    with _lock:
        if _loader is None:
            _loader = botocore.session.get_session().get_component("data_loader")
        return _loader


def shared_loader_session(**session_kwargs: Any) -> boto3.session.Session:
    """``boto3.session.Session(**session_kwargs)`` on a botocore session that uses the shared loader."""
    loader = shared_loader()
    core = botocore.session.get_session()
    core.register_component("data_loader", loader)
    session = boto3.session.Session(botocore_session=core, **session_kwargs)
    # boto3 appends its own data folder to the loader's search paths at every new session: once is enough.
    with _lock:
        paths = loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session


class SharedLoaderSessionFactory(BaseSessionFactory):
    """``BaseSessionFactory`` whose basic sessions (a connection without ``role_arn``) share the loader."""

    def _create_basic_session(self, session_kwargs: dict[str, Any]) -> boto3.session.Session:
        return shared_loader_session(**session_kwargs)
