"""The Neptune error-code table (domain) against botocore's ``neptunedata`` model, and the decisions made
from it (issue 14, item 3)."""

from __future__ import annotations

import pytest
from botocore.loaders import create_loader
from rdfox_pipeline.domain.neptune_errors import (
    NEPTUNE_ERROR_CODES,
    is_retryable,
    is_throttling,
    refused_before_work,
)

THROTTLED_BY_BOTOCORE = {"ThrottlingException", "TooManyRequestsException"}  # botocore's standard retry mode


def test_table_is_the_models() -> None:
    shapes = create_loader().load_service_model("neptunedata", "service-2")["shapes"]
    model = {name: shape for name, shape in shapes.items() if shape.get("exception")}
    assert set(NEPTUNE_ERROR_CODES) <= set(model)
    for code, ours in NEPTUNE_ERROR_CODES.items():
        shape = model[code]
        assert ours.http_status == shape["error"]["httpStatusCode"], code
        assert ours.retryable == ("retryable" in shape), code
        assert ours.throttling == (code in THROTTLED_BY_BOTOCORE), code
    loader_ops = ("StartLoaderJob", "GetLoaderJobStatus", "ListLoaderJobs", "CancelLoaderJob")
    operations = create_loader().load_service_model("neptunedata", "service-2")["operations"]
    for op in loader_ops:
        assert {e["shape"] for e in operations[op]["errors"]} <= set(NEPTUNE_ERROR_CODES), op


@pytest.mark.parametrize(
    ("code", "status", "retry", "throttle", "refused"),
    [
        ("ThrottlingException", 500, True, True, False),
        ("TooManyRequestsException", 429, True, True, True),
        ("BadRequestException", 400, False, False, True),
        ("MissingParameterException", 400, False, False, True),
        ("InvalidParameterException", 400, False, False, True),
        ("LoadUrlAccessDeniedException", 400, False, False, True),
        ("S3Exception", 400, True, False, True),
        ("BulkLoadIdNotFoundException", 404, True, False, True),
        ("AccessDeniedException", 403, False, False, True),
        ("InternalFailureException", 500, True, False, False),
        (None, 503, True, False, False),  # a gateway's answer, no Neptune code
        (None, 429, True, True, True),
        ("SomethingNewException", 400, False, False, True),
    ],
)
def test_decisions_follow_the_code(code, status, retry, throttle, refused) -> None:
    assert is_retryable(code, status) is retry
    assert is_throttling(code, status) is throttle
    assert refused_before_work(code, status) is refused
