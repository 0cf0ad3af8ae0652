"""Validation of POST /loader parameters, with Neptune's defaults and one clear 400 per problem."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rdfox_local.neptune_emulator.errors import bad_request, missing_parameter

RDF_FORMATS = ("ntriples", "nquads", "rdfxml", "turtle")
PROPERTY_GRAPH_FORMATS = ("csv", "opencypher")
MODES = ("RESUME", "NEW", "AUTO")
PARALLELISM = ("LOW", "MEDIUM", "HIGH", "OVERSUBSCRIBE")
DEFAULT_BASE_URI = "http://aws.amazon.com/neptune/default"
# Neptune puts triples of triple formats into this named graph; its SPARQL default graph is the union.
DEFAULT_NAMED_GRAPH = "http://aws.amazon.com/neptune/vocab/v01/DefaultNamedGraph"

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_BUCKET = r"([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])"
# The source forms StartLoaderJob documents: s3://bucket/key, https://s3.amazonaws.com/bucket/key and
# https://s3.<region>.amazonaws.com/bucket/key (path-style); the key part is a prefix.
_S3_URI = re.compile(rf"^(?:s3://|https://s3(?:\.[a-z0-9-]+)?\.amazonaws\.com/){_BUCKET}(/.*)?$")
_KNOWN = frozenset(
    {
        "source", "format", "iamRoleArn", "region", "mode", "failOnError", "parallelism",
        "parserConfiguration", "updateSingleCardinalityProperties", "queueRequest", "dependencies",
        "userProvidedEdgeIds", "edgeOnlyLoad",
    }
)  # fmt: skip
_PARSER_CONFIG_KEYS = frozenset({"baseUri", "namedGraphUri", "allowEmptyStrings"})


@dataclass(frozen=True)
class LoadRequest:
    source: str
    bucket: str
    prefix: str
    format: str
    iam_role_arn: str
    region: str
    mode: str = "AUTO"
    fail_on_error: bool = True
    parallelism: str = "HIGH"
    update_single_cardinality_properties: bool = False
    queue_request: bool = False
    base_uri: str = DEFAULT_BASE_URI
    named_graph_uri: str = DEFAULT_NAMED_GRAPH
    dependencies: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)


def _flag(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().upper()
    if text not in ("TRUE", "FALSE"):
        raise bad_request(f"Invalid value for parameter '{name}': {value!r}. Allowed values: TRUE, FALSE")
    return text == "TRUE"


def _choice(params: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(name)
    if value is None:
        return default
    text = str(value).strip().upper()
    if text not in allowed:
        raise bad_request(
            f"Invalid value for parameter '{name}': {value!r}. Allowed values: {', '.join(allowed)}"
        )
    return text


def _parser_configuration(value: Any) -> tuple[str, str]:
    if value is None:
        return DEFAULT_BASE_URI, DEFAULT_NAMED_GRAPH
    if not isinstance(value, Mapping):
        raise bad_request("Invalid value for parameter 'parserConfiguration': expected a JSON object")
    unknown = sorted(set(value) - _PARSER_CONFIG_KEYS)
    if unknown:
        raise bad_request(f"Invalid parserConfiguration key(s): {', '.join(unknown)}")
    base = str(value.get("baseUri", DEFAULT_BASE_URI))
    graph = str(value.get("namedGraphUri", DEFAULT_NAMED_GRAPH))
    for key, iri in (("baseUri", base), ("namedGraphUri", graph)):
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>\"{}|\\^`]*$", iri):
            raise bad_request(f"Invalid parserConfiguration.{key}: {iri!r} is not an absolute IRI")
    return base, graph


def parse_load_request(params: Mapping[str, Any], *, cluster_region: str) -> LoadRequest:
    """Validate a POST /loader body (JSON object or form fields); raises a 400 NeptuneApiError."""
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise bad_request(f"Unrecognized parameter(s): {', '.join(unknown)}")
    missing = [name for name in ("source", "format", "iamRoleArn", "region") if not params.get(name)]
    if missing:
        raise missing_parameter(f"Missing required parameter(s): {', '.join(missing)}")
    source = str(params["source"]).strip()
    match = _S3_URI.match(source)
    if not match:
        raise bad_request(
            f"Invalid source: {source!r}. Expected s3://bucket/prefix or "
            "https://s3[.region].amazonaws.com/bucket/prefix"
        )
    fmt = str(params["format"]).strip().lower()
    if fmt in PROPERTY_GRAPH_FORMATS:
        raise bad_request(f"Invalid format: {fmt!r} is a property-graph format; this endpoint loads RDF only")
    if fmt not in RDF_FORMATS:
        raise bad_request(
            f"Invalid format: {params['format']!r}. Allowed RDF formats: {', '.join(RDF_FORMATS)}"
        )
    roles = str(params["iamRoleArn"]).split(",")
    if len(roles) > 5 or not all(_ROLE_ARN.match(r.strip()) for r in roles):
        raise bad_request(f"Invalid iamRoleArn: {params['iamRoleArn']!r}")
    region = str(params["region"]).strip()
    if not _REGION.match(region):
        raise bad_request(f"Invalid region: {region!r}")
    if region != cluster_region:
        raise bad_request(f"Bucket is not in provided Region ({region}): the cluster is in {cluster_region}")
    deps = params.get("dependencies") or []
    if isinstance(deps, str):
        deps = [d for d in deps.split(",") if d]
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise bad_request("Invalid value for parameter 'dependencies': expected a list of load ids")
    queue_request = _flag(params, "queueRequest", False)
    if deps and not queue_request:
        raise bad_request("Parameter 'dependencies' requires queueRequest set to TRUE")
    base_uri, graph = _parser_configuration(params.get("parserConfiguration"))
    return LoadRequest(
        source=source,
        bucket=match.group(1),
        prefix=(match.group(2) or "/").lstrip("/"),
        format=fmt,
        iam_role_arn=str(params["iamRoleArn"]),
        region=region,
        mode=_choice(params, "mode", MODES, "AUTO"),
        fail_on_error=_flag(params, "failOnError", True),
        parallelism=_choice(params, "parallelism", PARALLELISM, "HIGH"),
        update_single_cardinality_properties=_flag(params, "updateSingleCardinalityProperties", False),
        queue_request=queue_request,
        base_uri=base_uri,
        named_graph_uri=graph,
        dependencies=tuple(deps),
        raw=dict(params),
    )
