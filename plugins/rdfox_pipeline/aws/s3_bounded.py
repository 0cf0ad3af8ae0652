"""Read an S3 object of bounded size (a jobspec, an rdfox.log): never more than the cap plus one byte.

A HEAD and then a plain GET would read a whole object that was replaced in between, and a plain GET sends
the whole object even when we stop reading early. A ranged GET of ``bytes=0-<cap>`` makes S3 send at most
``cap + 1`` bytes; getting that extra byte means the object is too large, and its real size comes from the
answer's Content-Range, not from reading it.
"""

from __future__ import annotations

from typing import Any


class ObjectTooLarge(ValueError):
    """The object holds more than ``limit`` bytes; ``size`` is its size (None when S3 did not say)."""

    def __init__(self, uri: str, size: int | None, limit: int) -> None:
        shown = "more than" if size is None else f"{size} bytes,"
        super().__init__(f"{uri} is {shown} larger than the {limit} bytes it may be")
        self.uri, self.size, self.limit = uri, size, limit


def _total_size(content_range: str | None) -> int | None:
    # "bytes 0-1000/5242880": the object's size is after the slash ("*" when unknown).
    total = (content_range or "").rpartition("/")[2]
    return int(total) if total.isdigit() else None


def read_at_most(client: Any, bucket: str, key: str, limit: int) -> bytes:
    """The object's bytes with a boto3 S3 ``client``; ObjectTooLarge (nothing more read) past ``limit``."""
    from botocore.exceptions import ClientError

    uri = f"s3://{bucket}/{key}"
    try:
        response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{limit}")
    except ClientError as exc:
        # S3 answers 416 to any range of an empty object.
        if exc.response.get("Error", {}).get("Code") == "InvalidRange":
            return b""
        raise
    body = response["Body"]
    try:
        data = body.read(limit + 1)
    finally:
        body.close()
    if len(data) > limit:
        raise ObjectTooLarge(uri, _total_size(response.get("ContentRange")), limit)
    return data
