"""OpenAPI v3 documents for the kinds the emulator serves, and the field validation kubectl relies on.

``kubectl apply -f`` (validation on, the default) reads ``/openapi/v3``: where a kind's PATCH operation
takes the ``fieldValidation`` query parameter, kubectl leaves validation to the server and sends
``fieldValidation=Strict``. So the emulator publishes that, and checks request bodies as the API server does:
an unknown field is refused under Strict, reported in a ``Warning`` header under Warn (the API server's
default), ignored under Ignore.

The schemas come from the Kubernetes Python client's models (``openapi_types`` and ``attribute_map`` of
``kubernetes.client.models``), which are generated from the API server's own OpenAPI document. Only the
structure is checked (field names, objects, lists); scalar types are not, since the API server accepts a
number where the client's models say string (quantities, int-or-string).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

# kind -> (group, version, the Python client's model class)
KINDS: dict[str, tuple[str, str, str]] = {
    "Pod": ("", "v1", "V1Pod"),
    "Event": ("", "v1", "CoreV1Event"),
    "Service": ("", "v1", "V1Service"),
    "Secret": ("", "v1", "V1Secret"),
    "Namespace": ("", "v1", "V1Namespace"),
    "Node": ("", "v1", "V1Node"),
    "Deployment": ("apps", "v1", "V1Deployment"),
    "NetworkPolicy": ("networking.k8s.io", "v1", "V1NetworkPolicy"),
}
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")
_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict[\[(]str, (.+)[\])]$")
_SCALARS = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "object": {},  # int-or-string, quantities, raw JSON: anything
}


class FieldValidationError(ValueError):
    """A body the API server would refuse; the message is the API server's wording."""


def _model(name: str) -> Any:
    from kubernetes.client import models

    return getattr(models, name)


def _type_schema(type_name: str, refs: set[str]) -> dict[str, Any]:
    if type_name in _SCALARS:
        return dict(_SCALARS[type_name])
    if match := _LIST.match(type_name):
        return {"type": "array", "items": _type_schema(match.group(1), refs)}
    if match := _DICT.match(type_name):
        return {"type": "object", "additionalProperties": _type_schema(match.group(1), refs)}
    refs.add(type_name)
    return {"$ref": f"#/components/schemas/{type_name}"}


@functools.cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every model the served kinds reach, as OpenAPI v3 component schemas (by the client's model names)."""
    found: dict[str, dict[str, Any]] = {}
    todo = {model for _g, _v, model in KINDS.values()}
    while todo:
        name = todo.pop()
        if name in found:
            continue
        cls = _model(name)
        refs: set[str] = set()
        properties = {
            cls.attribute_map[attr]: _type_schema(type_name, refs)
            for attr, type_name in cls.openapi_types.items()
        }
        found[name] = {"type": "object", "properties": properties}
        todo |= refs - set(found)
    for kind, (group, version, model) in KINDS.items():
        found[model]["x-kubernetes-group-version-kind"] = [{"group": group, "version": version, "kind": kind}]
    return found


def group_version_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _operation(kind: str, group: str, version: str, model: str, *, patch: bool) -> dict[str, Any]:
    gvk = {"group": group, "version": version, "kind": kind}
    ok = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}}
    operation: dict[str, Any] = {"x-kubernetes-group-version-kind": gvk, "responses": {"200": ok}}
    if patch:
        operation["parameters"] = [
            {
                "name": "fieldValidation",
                "in": "query",
                "description": "Strict, Warn or Ignore: what to do with unknown fields in the body.",
                "schema": {"type": "string", "uniqueItems": True},
            }
        ]
        # No strategic-merge-patch here: kubectl then builds that patch from its own compiled-in types.
        operation["requestBody"] = {
            "content": {t: {"schema": {"type": "object"}} for t in ("application/merge-patch+json",)}
        }
    return operation


@functools.cache
def documents() -> dict[str, dict[str, Any]]:
    """One OpenAPI v3 document per group version ("api/v1", "apis/apps/v1", ...)."""
    docs: dict[str, dict[str, Any]] = {}
    all_schemas = schemas()
    for kind, (group, version, model) in KINDS.items():
        base = group_version_path(group, version)
        plural = plural_of(kind)
        doc = docs.setdefault(
            base,
            {
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes (rdfox-k8s-emulator)", "version": "v1.31.0"},
                "paths": {},
                "components": {"schemas": {}},
            },
        )
        namespaced = kind not in ("Namespace", "Node")
        item = (
            f"/{base}/namespaces/{{namespace}}/{plural}/{{name}}"
            if namespaced
            else f"/{base}/{plural}/{{name}}"
        )
        doc["paths"][item] = {
            "get": _operation(kind, group, version, model, patch=False),
            "patch": _operation(kind, group, version, model, patch=True),
        }
    for doc in docs.values():
        # Each document carries every schema its paths reach (all of them: the graph is small).
        doc["components"]["schemas"] = all_schemas
    return docs


def plural_of(kind: str) -> str:
    return {"NetworkPolicy": "networkpolicies"}.get(kind, kind.lower() + "s")


def discovery() -> dict[str, Any]:
    """The ``/openapi/v3`` answer: where each group version's document is (with a content hash)."""
    paths = {}
    for base, doc in documents().items():
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16].upper()
        paths[base] = {"serverRelativeURL": f"/openapi/v3/{base}?hash={digest}"}
    return {"paths": paths}


def unknown_fields(kind: str, body: Any) -> list[str]:
    """Paths of the fields in ``body`` that ``kind`` does not have (``$``-keys of patches are directives)."""
    if kind not in KINDS or not isinstance(body, Mapping):
        return []
    return list(_walk(schemas(), {"$ref": f"#/components/schemas/{KINDS[kind][2]}"}, body, ""))


def _walk(all_schemas: Mapping[str, Any], schema: Mapping[str, Any], value: Any, path: str) -> Iterator[str]:
    if "$ref" in schema:
        schema = all_schemas[schema["$ref"].rsplit("/", 1)[1]]
    if schema.get("type") == "array" and isinstance(value, list):
        for index, element in enumerate(value):
            yield from _walk(all_schemas, schema["items"], element, f"{path}[{index}]")
    elif schema.get("type") == "object" and isinstance(value, Mapping):
        properties = schema.get("properties")
        for key, child in value.items():
            where = f"{path}.{key}" if path else str(key)
            if properties is None:
                extra = schema.get("additionalProperties")
                if extra:
                    yield from _walk(all_schemas, extra, child, f"{path}[{key}]")
            elif key in properties:
                yield from _walk(all_schemas, properties[key], child, where)
            elif not str(key).startswith("$"):
                yield where


def check_fields(kind: str, version: str, body: Any, directive: str | None) -> list[str]:
    """Warnings to send for ``body`` under ``directive``; FieldValidationError if Strict refuses it."""
    directive = directive or "Warn"
    if directive not in FIELD_VALIDATION:
        raise FieldValidationError(f'fieldValidation: Unsupported value: "{directive}": supported values: '
                                   f'"Ignore", "Strict", "Warn"')  # fmt: skip
    if directive == "Ignore":
        return []
    unknown = [f'unknown field "{path}"' for path in unknown_fields(kind, body)]
    if unknown and directive == "Strict":
        raise FieldValidationError(
            f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: '
            + ", ".join(unknown)
        )
    return unknown
