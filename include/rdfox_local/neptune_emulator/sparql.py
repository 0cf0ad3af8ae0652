"""Neptune's /sparql endpoint over the pyoxigraph store (queries see the union of all graphs, as Neptune)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyoxigraph as ox

from rdfox_local.neptune_emulator.errors import NeptuneApiError

_RESULT_FORMATS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
_GRAPH_FORMATS = {
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/n-quads": ox.RdfFormat.N_QUADS,
}


@dataclass(frozen=True)
class SparqlResponse:
    content_type: str
    body: bytes


def _pick(accept: str, choices: dict[str, object], default: str) -> str:
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in choices:
            return media
    return default


def malformed(message: str) -> NeptuneApiError:
    return NeptuneApiError(400, "MalformedQueryException", message)


def run_query(store: ox.Store, query: str, accept: str) -> SparqlResponse:
    try:
        result = store.query(query, use_default_graph_as_union=True)
    except SyntaxError as exc:
        raise malformed(f"Malformed query: {exc}") from None
    if isinstance(result, ox.QueryTriples):
        media = _pick(accept, _GRAPH_FORMATS, "application/n-triples")
        return SparqlResponse(media, result.serialize(format=_GRAPH_FORMATS[media]) or b"")
    media = _pick(accept, _RESULT_FORMATS, "application/sparql-results+json")
    body = result.serialize(format=_RESULT_FORMATS[media]) or b""
    return SparqlResponse(media, body)


def run_update(store: ox.Store, update: str) -> list[dict[str, object]]:
    began = time.monotonic()
    try:
        store.update(update)
    except SyntaxError as exc:
        raise malformed(f"Malformed update: {exc}") from None
    elapsed = int((time.monotonic() - began) * 1000)
    # Neptune answers an update with its update and commit events.
    return [
        {"type": "UpdateEvent", "totalElapsedMillis": elapsed, "elapsedMillis": elapsed},
        {"type": "Commit", "totalElapsedMillis": elapsed},
    ]
