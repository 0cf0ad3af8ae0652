"""The HTTP status of each Neptune error code, read from botocore's ``neptunedata`` service model: the
emulator answers an error exactly as the model (and so the AWS SDK) expects it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache


@cache
def model_error_statuses() -> Mapping[str, int]:
    """``{"ThrottlingException": 500, "TooManyRequestsException": 429, ...}`` from the installed botocore."""
    from botocore.loaders import create_loader

    model = create_loader().load_service_model("neptunedata", "service-2")
    return {
        name: int(shape["error"]["httpStatusCode"])
        for name, shape in model["shapes"].items()
        if shape.get("exception") and "error" in shape
    }


def status_of(code: str) -> int:
    statuses = model_error_statuses()
    if code not in statuses:
        raise ValueError(f"code: not an error code of the neptunedata model: {code!r}")
    return statuses[code]
