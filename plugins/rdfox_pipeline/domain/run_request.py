"""What a run asks for: its params (the trigger form, the REST API's conf, ``airflow dags test -c``) as one
jobspec source, with a fixed precedence.

A run names its jobspec in one of three ways, checked in this order:

1. ``jobspec``: the jobspec itself, inline (advanced field; the old system's users send this);
2. ``jobspec_uri``: where the jobspec is in S3 (advanced field; what an upload's run gets);
3. the form's fields (``FORM_FIELDS``): they *build* a new-form jobspec, as if its JSON had been uploaded.

``jobspec`` wins over ``jobspec_uri`` (both are whole jobspecs). The form's fields never mix with either:
given together, the run is refused naming the form field, rather than one of them silently losing. A field
at its empty value (no text, no number, "keep endpoint" off) counts as not given, so an untouched form adds
nothing to a run that names its jobspec. The built document then goes through the same check as every
jobspec (``jobspec_policy.parse_jobspec_for_run``): a form run builds the normalised jobspec that uploading
the same JSON would, and the trust boundary applies to it alike (the bucket fields are the jobspec's
``job_bucket``/``output_bucket``: closed unless they name the operator's own bucket or
``JOBSPEC_ALLOWED_FIELDS`` opens them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rdfox_pipeline.domain.jobspec import JobSpecError

# Form field -> the new-form jobspec field it sets (in the order the form shows them).
FORM_FIELDS: Mapping[str, tuple[str, ...]] = {
    "dataset": ("dataset",),
    "cores": ("resources", "cores"),
    "memory": ("resources", "memory"),
    "keep_rdfox_endpoint": ("rdfox", "keep_endpoint"),
    "rdfox_endpoint_ttl_hours": ("rdfox", "endpoint_ttl_hours"),
    "input_bucket": ("job_bucket",),
    "output_bucket": ("output_bucket",),
}
ADVANCED_FIELDS = ("jobspec", "jobspec_uri")
_FIELD_OF_PATH = {".".join(path): name for name, path in FORM_FIELDS.items()}

Source = Literal["jobspec", "jobspec_uri", "form"]


class RunRequestError(JobSpecError):
    """The run's params name no usable jobspec; ``str()`` is ``"<param>: <what is wrong>"``."""


@dataclass(frozen=True)
class RunRequest:
    """The run's jobspec source: ``document`` (inline or built from the form) or ``location`` (a URI)."""

    source: Source | None
    document: Mapping[str, Any] | str | None = None
    location: str | None = None


def _given(value: Any) -> bool:
    # The form's empty values; False too: "keep the endpoint" off is the default, not a choice to mix.
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and value is not False


def form_fields_given(params: Mapping[str, Any]) -> dict[str, Any]:
    """The form fields the run sets (strings stripped), in ``FORM_FIELDS`` order."""
    out: dict[str, Any] = {}
    for name in FORM_FIELDS:
        value = params.get(name)
        if _given(value):
            out[name] = value.strip() if isinstance(value, str) else value
    return out


def jobspec_from_form(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The new-form jobspec document the form's (given) fields describe; unchecked beyond its shape."""
    if "dataset" not in fields:
        named = ", ".join(fields)
        raise RunRequestError("dataset", f"is required when the form's fields are used (given: {named})")
    if "rdfox_endpoint_ttl_hours" in fields and fields.get("keep_rdfox_endpoint") is not True:
        raise RunRequestError(
            "rdfox_endpoint_ttl_hours", "applies only to a kept endpoint: switch on keep_rdfox_endpoint"
        )
    document: dict[str, Any] = {}
    for name, value in fields.items():
        node = document
        path = FORM_FIELDS[name]
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return document


def _inline(value: Any) -> Mapping[str, Any] | str | None:
    """The ``jobspec`` param, or None when empty. JSON text (a REST client may send the object as text) is
    kept as text: the jobspec check parses it and names what is wrong in it."""
    if isinstance(value, str):
        return value if value.strip() and value.strip() != "{}" else None
    if isinstance(value, Mapping):
        return value or None
    if value is None:
        return None
    raise RunRequestError("jobspec", f"expected a JSON object, got {type(value).__name__}")


def resolve_run_request(params: Mapping[str, Any]) -> RunRequest:
    """The run's jobspec source by the precedence above; RunRequestError names the param that is wrong."""
    inline = _inline(params.get("jobspec"))
    uri = params.get("jobspec_uri")
    uri = uri.strip() if isinstance(uri, str) else None
    fields = form_fields_given(params)
    advanced = "jobspec" if inline is not None else "jobspec_uri" if uri else None
    if advanced and fields:
        first = next(iter(fields))
        raise RunRequestError(
            first,
            f"given together with {advanced!r}: the form's fields build a jobspec only when neither "
            "jobspec nor jobspec_uri is given; clear the one or the other",
        )
    if inline is not None:
        return RunRequest("jobspec", document=inline)
    if uri:
        return RunRequest("jobspec_uri", location=uri)
    if fields:
        return RunRequest("form", document=jobspec_from_form(fields))
    return RunRequest(None)


def form_error(error: JobSpecError) -> JobSpecError:
    """An error about a form-built jobspec, named by the form's field (``"cores (resources.cores): ..."``)."""
    name = _FIELD_OF_PATH.get(error.path)
    if name is None or name == error.path:
        return error
    return JobSpecError(f"{name} ({error.path})", error.problem)


__all__ = [
    "ADVANCED_FIELDS",
    "FORM_FIELDS",
    "RunRequest",
    "RunRequestError",
    "form_error",
    "form_fields_given",
    "jobspec_from_form",
    "resolve_run_request",
]
