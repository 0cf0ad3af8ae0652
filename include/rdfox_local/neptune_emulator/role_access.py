"""The IAM role of a load: attached to the cluster or not, and what it may read in S3.

Neptune assumes the load's ``iamRoleArn`` (a role attached to the cluster, trusted by
``rds.amazonaws.com``) and lists and reads the source as that role. The emulator reads the role's trust and
permission policies from IAM (moto's server locally) and evaluates them for ``s3:ListBucket`` on the bucket
and ``s3:GetObject`` on each object: an explicit Deny wins, else any Allow, else denied. A statement with a
``Condition`` is not evaluated: an Allow with one does not count, a Deny with one does (never kinder than
IAM). moto's own enforcement is not used: in server mode it is switched on for the whole server and would
refuse every other client of a shared moto.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from rdfox_local.neptune_emulator.errors import NeptuneApiError, bad_request

NEPTUNE_SERVICE_PRINCIPAL = "rds.amazonaws.com"  # the principal Neptune assumes load roles as
NO_CREDENTIAL = "Couldn't find the AWS credential for iam_role_arn"  # Neptune's message (Loader Errors)
# IAM is eventually consistent: a role's policies are read again at most this often (a burst of 65 requests
# must not cost 300 IAM calls).
GRANTS_TTL_SECONDS = 2.0


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _matches(pattern: str, value: str, *, ignore_case: bool) -> bool:
    # IAM wildcards: * any run of characters, ? one character; nothing else is special.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _statement_applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if "NotAction" in statement:
        action_hit = not any(_matches(p, action, ignore_case=True) for p in _as_list(statement["NotAction"]))
    else:
        action_hit = any(_matches(p, action, ignore_case=True) for p in _as_list(statement.get("Action")))
    if "NotResource" in statement:
        resource_hit = not any(
            _matches(p, resource, ignore_case=False) for p in _as_list(statement["NotResource"])
        )
    else:
        resource_hit = any(
            _matches(p, resource, ignore_case=False) for p in _as_list(statement.get("Resource"))
        )
    return action_hit and resource_hit


@dataclass(frozen=True)
class RoleGrants:
    """A role's permission statements, evaluated as IAM does for one principal without boundaries."""

    role_arn: str
    statements: tuple[Mapping[str, Any], ...]

    def allows(self, action: str, resource: str) -> bool:
        allowed = False
        for statement in self.statements:
            if not _statement_applies(statement, action, resource):
                continue
            effect = str(statement.get("Effect", "")).capitalize()
            if effect == "Deny":
                return False  # conditional or not: never kinder than IAM
            if effect == "Allow" and not statement.get("Condition"):
                allowed = True
        return allowed


def _document(raw: Any) -> Mapping[str, Any]:
    """A policy document as IAM's API returns it: a dict (boto3 decodes it) or URL-encoded JSON text."""
    if isinstance(raw, Mapping):
        return raw
    text = str(raw)
    return json.loads(unquote(text) if text.lstrip().startswith("%") else text)


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _trusts_neptune(document: Mapping[str, Any]) -> bool:
    for statement in _statements(document):
        if str(statement.get("Effect")) != "Allow":
            continue
        if not any(
            _matches(p, "sts:AssumeRole", ignore_case=True) for p in _as_list(statement.get("Action"))
        ):
            continue
        principal = statement.get("Principal")
        services = _as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
        if principal == "*" or NEPTUNE_SERVICE_PRINCIPAL in services:
            return True
    return False


def role_name(role_arn: str) -> str:
    """The name of ``arn:aws:iam::123456789012:role/[path/]name``."""
    return role_arn.rsplit("/", 1)[-1]


class RoleAccess:
    """The cluster's attached roles and an IAM client to read their policies (built on first use)."""

    def __init__(self, attached: Sequence[str], iam_client: Callable[[], Any]) -> None:
        self.attached = tuple(attached)
        self._iam_factory = iam_client
        self._iam: Any = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, RoleGrants]] = {}

    def _client(self) -> Any:
        if self._iam is None:
            self._iam = self._iam_factory()
        return self._iam

    def grants_for(self, iam_role_arn: str) -> RoleGrants:
        """The grants a load's role chain ends with; 400 as Neptune answers when the first role is not
        attached to the cluster, does not exist, or does not trust Neptune."""
        with self._lock:
            cached = self._cache.get(iam_role_arn)
        if cached is not None and time.monotonic() - cached[0] < GRANTS_TTL_SECONDS:
            return cached[1]
        grants = self._read_grants(iam_role_arn)
        with self._lock:
            self._cache[iam_role_arn] = (time.monotonic(), grants)
        return grants

    def _read_grants(self, iam_role_arn: str) -> RoleGrants:
        chain = [arn.strip() for arn in iam_role_arn.split(",")]
        first, last = chain[0], chain[-1]
        if first not in self.attached:
            raise bad_request(
                f"{NO_CREDENTIAL}: {first} is not attached to this cluster "
                f"(attached: {', '.join(self.attached) or 'none'})"
            )
        try:
            role = self._client().get_role(RoleName=role_name(first))["Role"]
            if role.get("Arn") != first or not _trusts_neptune(_document(role["AssumeRolePolicyDocument"])):
                raise bad_request(
                    f"{NO_CREDENTIAL}: {first} cannot be assumed by {NEPTUNE_SERVICE_PRINCIPAL}"
                )
            return RoleGrants(last, tuple(self._permission_statements(role_name(last))))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
                missing = first if first == last else f"{first} or {last}"
                raise bad_request(f"{NO_CREDENTIAL}: no such role in IAM: {missing}") from None
            raise _iam_unavailable(exc) from None
        except BotoCoreError as exc:
            raise _iam_unavailable(exc) from None

    def _permission_statements(self, name: str) -> Iterable[Mapping[str, Any]]:
        iam = self._client()
        for policy_name in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            yield from _statements(
                _document(iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
            )
        for attached in iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(
                PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
            )
            yield from _statements(_document(version["PolicyVersion"]["Document"]))


def _iam_unavailable(exc: BaseException) -> NeptuneApiError:
    return NeptuneApiError(
        500, "InternalFailureException", f"Failed to assume the load's IAM role: {type(exc).__name__}"
    )


def s3_read_policy(buckets: Sequence[str] = ("*",)) -> dict[str, Any]:
    """The permission policy the Neptune user guide gives a load role: list and read the source buckets."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": [f"arn:aws:s3:::{b}" for b in buckets],
            },
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"arn:aws:s3:::{b}/*" for b in buckets],
            },
        ],
    }


def neptune_trust_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": NEPTUNE_SERVICE_PRINCIPAL},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def ensure_loader_role(iam: Any, role_arn: str, policy: Mapping[str, Any] | None = None) -> str:
    """Create (or update) a Neptune load role in IAM: trusted by Neptune, with ``policy`` (default: read any
    bucket) as its inline policy. For local stacks and tests; returns the role's ARN."""
    name = role_name(role_arn)
    path = "/" + role_arn.split(":role/", 1)[1].rsplit("/", 1)[0] + "/" if role_arn.count("/") > 1 else "/"
    try:
        arn = iam.create_role(
            RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(neptune_trust_policy())
        )["Role"]["Arn"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "EntityAlreadyExists":
            raise
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="neptune-load-from-s3",
        PolicyDocument=json.dumps(policy or s3_read_policy()),
    )
    return arn
