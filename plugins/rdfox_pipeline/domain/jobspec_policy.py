"""What a jobspec may choose: its data and resources, nothing more (the trust boundary; docs/security.md).

Whoever can put an object in the input bucket or trigger a run writes a jobspec, so by default a jobspec
chooses only ``dataset``, ``name``, ``resources`` and the kept endpoint (``rdfox.keep_endpoint``,
``rdfox.endpoint_ttl_hours``), each within the operator's caps (``JOBSPEC_MAX_*``). Every other field
(namespace, service account, Secret names, images, buckets, Neptune options, per-job ``settings``) is
*closed*: the operator's setting decides it. A closed field given with the operator's own value is accepted
as that value (so the old submitter's jobspecs, which repeat the deployment's values, run unchanged); with
another value it is refused naming the key the user wrote, unless the operator opened the field with
``JOBSPEC_ALLOWED_FIELDS`` (``{"<field.path>": [exact values]}``) and the value is one of those.

``parse_jobspec_for_run`` is the one entry point: register_job, ``rdfox-pipeline jobspec validate`` and
``rdfox-pipeline pod render`` all call it, so a check before uploading gives the answer the run will give.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rdfox_pipeline.domain import validators as v
from rdfox_pipeline.domain.jobspec import (
    DEFAULT_RDFOX_PORT,
    FIELD_SETTINGS,
    JobSpec,
    JobSpecError,
    ParsedJobSpec,
    given_fields,
    load_jobspec_document,
    parse_jobspec,
    parse_jobspec_with_notes,
)
from rdfox_pipeline.domain.settings import SETTINGS, Settings, SettingsError, check_overrides

ALLOWED_FIELDS_SETTING = "JOBSPEC_ALLOWED_FIELDS"
OPEN_FIELDS = frozenset(
    {
        ("dataset",),
        ("name",),
        ("resources", "cores"),
        ("resources", "memory"),
        ("rdfox", "keep_endpoint"),
        ("rdfox", "endpoint_ttl_hours"),
        ("settings", "RDFOX_ENDPOINT_TTL_HOURS"),  # the same choice as rdfox.endpoint_ttl_hours
    }
)
# Closed fields that no setting backs: the operator's value is the model's default.
_MODEL_DEFAULTS: Mapping[tuple[str, ...], Any] = {
    ("kubernetes", "restart_policy"): "Never",
    ("rdfox", "port"): DEFAULT_RDFOX_PORT,
}
_PREFIXES = ("rdfox", "prefixes")
_IMAGES = frozenset({("images", "prepare"), ("images", "rdfox"), ("images", "publish")})
CLOSED_FIELDS = frozenset(
    {path for path in FIELD_SETTINGS if path not in OPEN_FIELDS} | set(_MODEL_DEFAULTS) | {_PREFIXES}
)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _closed_path(name: str) -> tuple[str, ...]:
    """The path of a closed field named in JOBSPEC_ALLOWED_FIELDS; ValueError says why it cannot be."""
    path = tuple(name.split("."))
    if path in OPEN_FIELDS:
        raise ValueError(f"{name!r} is open to every jobspec (within its cap): nothing to allow")
    if len(path) == 2 and path[0] == "settings":
        definition = SETTINGS.get(path[1])
        if definition is None:
            raise ValueError(f"{name!r}: {path[1]!r} is not a known setting name")
        if not definition.job_overridable:
            raise ValueError(f"{name!r}: {path[1]} cannot be overridden per job")
        return path
    if path not in CLOSED_FIELDS:
        raise ValueError(
            f"{name!r} is not a field a jobspec sets (e.g. 'images.rdfox', 'kubernetes.namespace')"
        )
    return path


def _value(spec: JobSpec, path: tuple[str, ...]) -> Any:
    if path[0] == "settings":
        return check_overrides({path[1]: spec.settings[path[1]]}).get(path[1])
    node: Any = spec
    for part in path:
        node = getattr(node, part)
    return node


def _document(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """The smallest jobspec setting ``path`` to ``value`` (to validate an allowed value as a jobspec is)."""
    doc: dict[str, Any] = {"dataset": "ALLOWED"}
    node = doc
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return doc


def parse_allowed_fields(value: Mapping[str, Any]) -> dict[str, list[Any]]:
    """JOBSPEC_ALLOWED_FIELDS: each key a closed field, each value a non-empty list of values a jobspec may
    give it, validated as the jobspec field is. Matching is exact (an image is best pinned by digest: a tag
    can be moved to other content)."""
    out: dict[str, list[Any]] = {}
    for name, values in value.items():
        path = _closed_path(str(name))
        if not isinstance(values, list) or not values:
            raise ValueError(f"{name!r}: expected a non-empty list of allowed values")
        allowed: list[Any] = []
        for item in values:
            try:
                allowed.append(_value(parse_jobspec(_document(path, item)), path))
            except (JobSpecError, SettingsError) as exc:
                raise ValueError(f"{name!r}: allowed value {item!r} is not valid there ({exc})") from None
        out[_dotted(path)] = allowed
    return out


def _operator_value(path: tuple[str, ...], settings: Settings) -> tuple[Any, str]:
    """The value the operator's settings give a closed field, and the name to quote for it."""
    if path[0] == "settings":
        return getattr(settings, path[1].lower()), path[1]
    if path in FIELD_SETTINGS:
        name = FIELD_SETTINGS[path]
        return getattr(settings, name.lower()), name
    if path == _PREFIXES:
        return settings.rdfox_prefixes, "RDFOX_PREFIXES"
    return _MODEL_DEFAULTS[path], f"the default {_MODEL_DEFAULTS[path]!r}"


def _same(path: tuple[str, ...], given: Any, operator: Any) -> bool:
    if path in _IMAGES:
        # "oxfordsemantic/rdfox:7" and "docker.io/oxfordsemantic/rdfox:7" are one image.
        return isinstance(operator, str) and v.normalised_image(given) == v.normalised_image(operator)
    if path == _PREFIXES:
        return all(operator.get(name) == iri for name, iri in given.items())
    return bool(given == operator)


def _replace(spec: JobSpec, path: tuple[str, ...], value: Any) -> JobSpec:
    if len(path) == 1:
        return spec.model_copy(update={path[0]: value})
    section = getattr(spec, path[0])
    return spec.model_copy(update={path[0]: section.model_copy(update={path[1]: value})})


def check_trust_boundary(spec: JobSpec, given: Mapping[tuple[str, ...], str], settings: Settings) -> JobSpec:
    """Refuse closed fields the operator did not open; closed fields with the operator's value become it."""
    allowed = settings.jobspec_allowed_fields
    for path, key in sorted(given.items()):
        if path in OPEN_FIELDS:
            continue
        value = _value(spec, path)
        operator, setting = _operator_value(path, settings)
        if _same(path, value, operator):
            if path[0] != "settings" and path != _PREFIXES:
                spec = _replace(spec, path, operator)  # run exactly what the operator wrote
            continue
        if _dotted(path) in allowed:
            if value not in allowed[_dotted(path)]:
                raise JobSpecError(
                    key, f"not one of the values {ALLOWED_FIELDS_SETTING} allows for {_dotted(path)}"
                )
            continue
        raise JobSpecError(
            key,
            f"closed to jobspecs: the operator's setting ({setting}) decides it and this value differs; "
            f"leave it out, or an operator opens the field with {ALLOWED_FIELDS_SETTING}",
        )
    return spec


def check_caps(spec: JobSpec, given: Mapping[tuple[str, ...], str], settings: Settings) -> None:
    """Refuse resources, endpoint TTL and startup timeout over the operator's caps, naming field and cap."""

    def key(path: tuple[str, ...]) -> str:
        return given.get(path, _dotted(path))

    def over(path: tuple[str, ...], shown: Any, cap_name: str) -> JobSpecError:
        cap = getattr(settings, cap_name.lower())
        return JobSpecError(key(path), f"{shown} is over the operator's cap {cap_name} ({cap})")

    if spec.resources.cores > settings.jobspec_max_cores:
        raise over(("resources", "cores"), spec.resources.cores, "JOBSPEC_MAX_CORES")
    if v.quantity_bytes(spec.resources.memory) > v.quantity_bytes(settings.jobspec_max_memory):
        raise over(("resources", "memory"), repr(spec.resources.memory), "JOBSPEC_MAX_MEMORY")
    for path in (("rdfox", "endpoint_ttl_hours"), ("settings", "RDFOX_ENDPOINT_TTL_HOURS")):
        if path in given and _value(spec, path) > settings.jobspec_max_endpoint_ttl_hours:
            raise over(path, f"{_value(spec, path)} h", "JOBSPEC_MAX_ENDPOINT_TTL_HOURS")
    path = ("settings", "POD_STARTUP_TIMEOUT_SECONDS")
    if path in given and _value(spec, path) > settings.jobspec_max_pod_startup_timeout_seconds:
        raise over(path, f"{_value(spec, path)} s", "JOBSPEC_MAX_POD_STARTUP_TIMEOUT_SECONDS")


def check_pod_start(settings: Settings) -> None:
    """No pod starts with an empty registry allow-list, except on the local stack (``LOCAL_STACK``)."""
    if not settings.image_registry_allowlist and not settings.local_stack:
        raise SettingsError(
            "IMAGE_REGISTRY_ALLOWLIST",
            "is empty, so any registry could serve the pods' images; set it to the registries the images "
            "come from (e.g. 123456789012.dkr.ecr.eu-west-2.amazonaws.com/). Only the local stack, which "
            "sets LOCAL_STACK=true, runs without it",
        )


def parse_jobspec_for_run(raw: bytes | str | Mapping[str, Any], settings: Settings) -> ParsedJobSpec:
    """Validate a jobspec as a run does: well-formed, inside the trust boundary and under the caps.

    ``settings`` are the operator's (SSM/environment/defaults, no jobspec overrides). The returned spec has
    the operator's value in every closed field the jobspec repeated.
    """
    data = raw if isinstance(raw, Mapping) else load_jobspec_document(raw)
    if not isinstance(data, Mapping):
        raise JobSpecError("jobspec", f"expected a JSON object, got {v.json_type_name(data)}")
    parsed = parse_jobspec_with_notes(
        data,
        allowed_registries=settings.image_registry_allowlist,
        delimiter=settings.job_id_delimeter,
        aws_region=settings.aws_default_region,
        endpoint_ttl_hours=settings.rdfox_endpoint_ttl_hours,
    )
    given = given_fields(data)
    spec = check_trust_boundary(parsed.spec, given, settings)
    check_caps(spec, given, settings)
    return ParsedJobSpec(spec, parsed.notes)


__all__ = [
    "ALLOWED_FIELDS_SETTING",
    "CLOSED_FIELDS",
    "OPEN_FIELDS",
    "check_caps",
    "check_pod_start",
    "check_trust_boundary",
    "parse_allowed_fields",
    "parse_jobspec_for_run",
]
