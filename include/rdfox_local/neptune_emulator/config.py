"""The emulator's start-up configuration (one place, passed to every part)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8182
    region: str = "us-east-1"
    s3_endpoint: str | None = None  # None: boto3's default (honours AWS_ENDPOINT_URL)
    store_dir: str | None = None  # None: in-memory pyoxigraph store
    sigv4_access_key: str | None = None
    sigv4_secret_key: str | None = None
    sigv4_session_token: str | None = None  # temporary credentials: requests must carry this token
    # The IAM roles attached to the cluster ("Manage IAM roles"): a load names one of these or fails.
    attached_roles: tuple[str, ...] = ()
    iam_endpoint: str | None = None  # where the roles' policies are read (None: the S3 endpoint)
    max_queue: int = 64  # Neptune queues at most 64 load requests
    max_tracked_loads: int = 1024  # Neptune only tracks the most recent 1,024 loads
    max_errors_per_load: int = 10_000  # ... and the last 10,000 errors of each
    status_shape: str = "full"  # how Get-Status answers are written (status_shapes.STATUS_SHAPES)

    @property
    def sigv4_enabled(self) -> bool:
        return bool(self.sigv4_access_key and self.sigv4_secret_key)
