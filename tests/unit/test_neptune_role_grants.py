"""How the emulator evaluates a load role's policies (rdfox_local.neptune_emulator.role_access)."""

from __future__ import annotations

from typing import Any

import pytest
from rdfox_local.neptune_emulator.role_access import RoleGrants, s3_read_policy

ROLE = "arn:aws:iam::123456789012:role/loader"
BUCKET = "arn:aws:s3:::out-bucket"


def grants(*statements: dict[str, Any]) -> RoleGrants:
    return RoleGrants(ROLE, statements)


def test_the_user_guides_read_policy_allows_listing_and_reading_its_buckets_only() -> None:
    role = grants(*s3_read_policy(["out-bucket"])["Statement"])
    assert role.allows("s3:ListBucket", BUCKET) and role.allows("s3:GetObject", f"{BUCKET}/a/b.nt")
    assert not role.allows("s3:ListBucket", "arn:aws:s3:::other")
    assert not role.allows("s3:GetObject", "arn:aws:s3:::other/a.nt")
    assert not role.allows("s3:GetObject", BUCKET)  # the bucket is not an object
    assert not role.allows("s3:PutObject", f"{BUCKET}/a.nt")


@pytest.mark.parametrize(
    ("statement", "allowed"),
    [
        ({"Effect": "Allow", "Action": "S3:get*", "Resource": "*"}, True),  # actions ignore case
        (
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::OUT-bucket/*"},
            False,
        ),  # ARNs do not
        ({"Effect": "Allow", "Action": "s3:GetObjec?", "Resource": f"{BUCKET}/?.nt"}, True),
        ({"Effect": "Allow", "NotAction": "s3:PutObject", "Resource": "*"}, True),
        ({"Effect": "Allow", "NotAction": ["s3:Get*"], "Resource": "*"}, False),
        ({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::other/*"}, True),
        ({"Effect": "Allow", "Action": "*", "NotResource": f"{BUCKET}/*"}, False),
        # A condition cannot be evaluated here: the Allow does not count.
        (
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            },
            False,
        ),
        ({"Effect": "Allow", "Action": "s3:GetObject"}, False),  # no Resource: matches nothing
    ],
)
def test_one_statement(statement: dict[str, Any], allowed: bool) -> None:
    assert grants(statement).allows("s3:GetObject", f"{BUCKET}/a.nt") is allowed


def test_an_explicit_deny_wins_even_with_a_condition() -> None:
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"{BUCKET}/secret/*"}
    conditional_deny = {**deny, "Resource": f"{BUCKET}/*", "Condition": {"StringEquals": {"aws:x": "y"}}}
    assert grants(allow, deny).allows("s3:GetObject", f"{BUCKET}/public/a.nt")
    assert not grants(allow, deny).allows("s3:GetObject", f"{BUCKET}/secret/a.nt")
    assert not grants(allow, conditional_deny).allows("s3:GetObject", f"{BUCKET}/public/a.nt")


def test_no_statement_denies() -> None:
    assert not grants().allows("s3:ListBucket", BUCKET)
