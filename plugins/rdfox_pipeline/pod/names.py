"""Kubernetes-safe names and label values derived from job ids and dataset names (pure)."""

from __future__ import annotations

import hashlib
import re

# The KubernetesPodOperator appends "-<8 random chars>" to a given pod name and cuts at 63: leaving room
# for it keeps our hash suffix (the part that keeps truncated names unique) intact.
POD_NAME_MAX = 53
LABEL_VALUE_MAX = 63
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._-]+")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _shorten(candidate: str, original: str, limit: int, strip: str) -> str:
    # Lossy: a hash of the original keeps two long names that share a prefix apart.
    head = candidate[: limit - 9].strip(strip)
    return f"{head}-{_digest(original)}" if head else _digest(original)


def pod_name_for(job_id: str) -> str:
    """A DNS-1123 label for the job's pod: lowercase, ``_`` and others -> ``-``, hashed if cut or changed."""
    if not job_id:
        raise ValueError("job id must not be empty")
    name = _NOT_DNS.sub("-", job_id.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if len(name) <= POD_NAME_MAX and name:
        return name
    return _shorten(name, job_id, POD_NAME_MAX, "-")


def label_value(text: str) -> str:
    """A valid label value (<= 63 of ``[A-Za-z0-9._-]``, alphanumeric at both ends) for any text."""
    value = _NOT_LABEL.sub("-", text).strip("._-")
    if value == text and len(value) <= LABEL_VALUE_MAX:
        return value
    return _shorten(value, text, LABEL_VALUE_MAX, "._-")


ENDPOINT_SUFFIX = "-endpoint"


def endpoint_pod_name_for(job_id: str) -> str:
    """The kept endpoint's pod name: ``<job id as DNS>-<hash of the exact job id>-endpoint``, <= 63.

    The endpoint pod gets no random suffix (it is found again by name), and lowercasing plus mapping other
    characters to ``-`` sends different datasets to one name (``A.B`` and ``a-b``): the hash of the exact job
    id, which holds the exact dataset, keeps them apart.
    """
    if not job_id:
        raise ValueError("job id must not be empty")
    head = re.sub(r"-{2,}", "-", _NOT_DNS.sub("-", job_id.lower()))
    head = head[: LABEL_VALUE_MAX - len(ENDPOINT_SUFFIX) - 9].strip("-")
    return f"{head}-{_digest(job_id)}{ENDPOINT_SUFFIX}" if head else f"{_digest(job_id)}{ENDPOINT_SUFFIX}"
