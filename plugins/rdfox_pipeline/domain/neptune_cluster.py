"""Which Neptune instance a load went to: the cluster behind an endpoint, and its writer (pure).

A cluster endpoint is ``<cluster-id>.cluster-<hash>.<region>.neptune.amazonaws.com`` (reader endpoints have
``cluster-ro-``); its first label is the cluster identifier that ``DescribeDBClusters`` takes. Instance and
custom endpoints (``cluster-custom-``) do not name the cluster, nor does a local emulator's ``127.0.0.1``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_CLUSTER_ENDPOINT_RE = re.compile(
    r"^(?P<cluster>[a-z][a-z0-9-]{0,62})\.cluster-(?:ro-)?[a-z0-9]+\.[a-z0-9-]+\.neptune\.amazonaws\.com(?:\.cn)?$"
)


def endpoint_host(endpoint: str) -> str:
    """The host of ``https://host:8182/...``, ``host:8182`` or ``host`` (lowercase)."""
    text = endpoint.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    host = text.split("/", 1)[0]
    if host.startswith("["):  # an IPv6 literal keeps its colons
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].lower() if ":" in host else host.lower()


def cluster_id_from_endpoint(endpoint: str) -> str | None:
    """The cluster identifier a cluster (or reader) endpoint names; None for any other host."""
    match = _CLUSTER_ENDPOINT_RE.match(endpoint_host(endpoint))
    return match["cluster"] if match else None


def writer_instance(description: Mapping[str, Any]) -> str | None:
    """The ``DBInstanceIdentifier`` of the member with ``IsClusterWriter`` in a DescribeDBClusters answer."""
    for cluster in description.get("DBClusters") or []:
        for member in cluster.get("DBClusterMembers") or []:
            if member.get("IsClusterWriter") is True and member.get("DBInstanceIdentifier"):
                return str(member["DBInstanceIdentifier"])
    return None
