"""Neptune-style API errors: HTTP status + ``{"code", "requestId", "detailedMessage"}`` JSON."""

from __future__ import annotations

import uuid
from typing import Any


class NeptuneApiError(Exception):
    """An error answered to the client exactly as Neptune shapes it."""

    def __init__(self, http_status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        return {
            "code": self.code,
            "requestId": request_id or str(uuid.uuid4()),
            "detailedMessage": self.message,
        }


def bad_request(message: str) -> NeptuneApiError:
    return NeptuneApiError(400, "BadRequestException", message)


def missing_parameter(message: str) -> NeptuneApiError:
    return NeptuneApiError(400, "MissingParameterException", message)


def access_denied(message: str) -> NeptuneApiError:
    return NeptuneApiError(403, "AccessDeniedException", message)


def load_not_found(load_id: str) -> NeptuneApiError:
    return NeptuneApiError(404, "BulkLoadIdNotFoundException", f"The load with id = {load_id} is not found")


def load_url_access_denied(message: str) -> NeptuneApiError:
    """The load's role may not list the source (botocore's model: LoadUrlAccessDeniedException, 400)."""
    return NeptuneApiError(400, "LoadUrlAccessDeniedException", message)
