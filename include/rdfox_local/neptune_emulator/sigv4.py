"""SigV4 verification (service ``neptune-db``): recompute the signature with botocore's signer and compare.

Neptune with IAM auth refuses unsigned or badly signed requests with 403 AccessDeniedException.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from rdfox_local.neptune_emulator.errors import access_denied

SERVICE = "neptune-db"
MAX_SKEW_SECONDS = 300  # AWS refuses signatures more than 5 minutes from the server clock
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;_.-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class SigV4Verifier:
    def __init__(
        self, access_key: str, secret_key: str, region: str, session_token: str | None = None
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._region = region
        # Temporary credentials (an assumed role): every request must carry this token, signed.
        self._session_token = session_token

    def verify(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> None:
        """Raise a 403 NeptuneApiError unless the request carries a valid signature of our credentials."""
        lower = {k.lower(): v for k, v in headers.items()}
        auth = lower.get("authorization")
        if not auth:
            raise access_denied("Missing Authentication Token")
        match = _AUTH.match(auth.strip())
        if not match:
            raise access_denied("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'")
        if not hmac.compare_digest(match["key"], self._access_key):
            raise access_denied("The security token included in the request is invalid")
        if match["service"] != SERVICE:
            raise access_denied(f"Credential should be scoped to correct service: '{SERVICE}'")
        if match["region"] != self._region:
            raise access_denied(f"Credential should be scoped to a valid region, not '{match['region']}'")
        amz_date = lower.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise access_denied("Missing or malformed X-Amz-Date header") from None
        if (
            abs((datetime.now(UTC) - signed_at).total_seconds()) > MAX_SKEW_SECONDS
            or match["date"] != amz_date[:8]
        ):
            raise access_denied("Signature expired: the request time is too far from the server time")
        declared = lower.get("x-amz-content-sha256")
        if declared and declared != "UNSIGNED-PAYLOAD" and declared != hashlib.sha256(body).hexdigest():
            raise access_denied("The provided x-amz-content-sha256 header does not match what was computed")
        signed_names = match["signed"].split(";")
        if "host" not in signed_names or any(name not in lower for name in signed_names):
            raise access_denied("SignedHeaders must include host and only headers present in the request")
        if self._session_token is not None:
            token = lower.get("x-amz-security-token", "")
            if not token or "x-amz-security-token" not in signed_names:
                raise access_denied("Temporary credentials need a signed X-Amz-Security-Token header")
            if not hmac.compare_digest(token, self._session_token):
                raise access_denied("The security token included in the request is invalid")

        parts = urlsplit(raw_path)
        request = AWSRequest(
            method=method.upper(),
            url=f"http://{lower['host']}{parts.path}",
            headers={name: lower[name] for name in signed_names},
            data=body,
        )
        # The canonical query string is the AWS-encoded form of the parameters, whatever the client sent.
        request.params = parse_qsl(parts.query, keep_blank_values=True)
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(
            Credentials(self._access_key, self._secret_key, lower.get("x-amz-security-token")),
            SERVICE,
            self._region,
        )
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, match["signature"]):
            raise access_denied(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method."
            )
