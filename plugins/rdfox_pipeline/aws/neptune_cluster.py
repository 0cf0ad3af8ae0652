"""The Neptune writer instance a load went to, for the job record's ``neptune_writer_instance``.

One ``DescribeDBClusters`` call (boto3 ``neptune`` client, IAM action ``rds:DescribeDBClusters``). The field
is informative: whatever goes wrong (no cluster id known, no permission, no writer listed) the job goes on
and the record gets the endpoint host instead, with the reason in the task log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rdfox_pipeline.domain.neptune_cluster import cluster_id_from_endpoint, endpoint_host, writer_instance


def find_writer_instance(
    neptune_client: Callable[[], Any],
    endpoint: str,
    *,
    cluster_id: str | None = None,
    log: logging.Logger | logging.LoggerAdapter | None = None,
) -> str:
    """The writer's instance id of ``cluster_id`` (default: the cluster ``endpoint`` names), else the host.

    :param neptune_client: makes a boto3 ``neptune`` client (called only when a cluster id is known).
    :param endpoint: the endpoint the load was sent to (URL or host).
    """
    log = log or logging.getLogger(__name__)
    host = endpoint_host(endpoint)
    cluster = cluster_id or cluster_id_from_endpoint(endpoint)
    if not cluster:
        log.info(
            "Neptune writer instance: %s is not a cluster endpoint and NEPTUNE_CLUSTER_ID is not set; "
            "recording the host",
            host,
        )
        return host
    try:
        description = neptune_client().describe_db_clusters(DBClusterIdentifier=cluster)
    except Exception as exc:  # no permission, no such cluster, no network: the load itself succeeded
        log.warning(
            "Neptune writer instance: cannot describe cluster %s (%s: %s); recording the host %s",
            cluster,
            type(exc).__name__,
            exc,
            host,
        )
        return host
    writer = writer_instance(description)
    if writer is None:
        log.warning("Neptune cluster %s lists no writer instance; recording the host %s", cluster, host)
        return host
    return writer
