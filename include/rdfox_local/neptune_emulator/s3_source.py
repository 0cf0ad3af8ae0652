"""Reading a load source (every object under an S3 prefix) the way Neptune's loader does."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from rdfox_local.neptune_emulator import statuses as st
from rdfox_local.neptune_emulator.errors import NeptuneApiError, bad_request

_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_GONE = {"NoSuchKey", "404", "PreconditionFailed", "412"}


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    etag: str
    size: int

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class FeedReadError(Exception):
    """Reading one feed failed; ``status`` is the feed's Neptune status."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class S3Source:
    def __init__(self, endpoint_url: str | None, region: str) -> None:
        # Bounded retries: a missing bucket must fail fast, a flaky endpoint gets a few tries.
        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60
            ),
        )
        self._region = region

    def list_source(self, source: str, bucket: str, prefix: str) -> list[S3Object]:
        """Every object under the prefix, in key order; Neptune's 400/500 when the source is unusable."""
        objects: list[S3Object] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if item["Key"].endswith("/"):
                        continue  # "folder" placeholder objects hold no data
                    objects.append(S3Object(bucket, item["Key"], item["ETag"], int(item["Size"])))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                raise bad_request(f"S3 bucket not found for source {source}") from None
            if code in _DENIED:
                raise bad_request(f"Unable to perform S3 list operation on source {source}") from None
            raise NeptuneApiError(
                500,
                "InternalFailureException",
                f"Failed to start load because of unknown error from S3: {code}",
            ) from None
        except (EndpointConnectionError, BotoCoreError):
            raise NeptuneApiError(
                500,
                "InternalFailureException",
                f"Unable to connect to S3 endpoint. Provided source = {source} and region = {self._region}",
            ) from None
        if not objects:
            raise bad_request(f"The source {source} does not exist/not reachable")
        return sorted(objects, key=lambda o: o.key)

    def read(self, obj: S3Object) -> bytes:
        """The object's bytes, as listed (a changed ETag means the feed was modified after the load began)."""
        try:
            response = self._client.get_object(Bucket=obj.bucket, Key=obj.key, IfMatch=obj.etag)
            return response["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _GONE:
                raise FeedReadError(
                    st.LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED,
                    f"{obj.uri} was modified or deleted after the load started",
                ) from None
            if code in _DENIED:
                raise FeedReadError(
                    st.LOAD_S3_ACCESS_DENIED_ERROR, f"Access denied reading {obj.uri}"
                ) from None
            raise FeedReadError(st.LOAD_S3_READ_ERROR, f"S3 error {code} reading {obj.uri}") from None
        except (BotoCoreError, OSError) as exc:
            raise FeedReadError(
                st.LOAD_S3_READ_ERROR, f"S3 read failed for {obj.uri}: {type(exc).__name__}"
            ) from None
