"""Neptune's /sparql endpoint over the pyoxigraph store (queries see the union of all graphs, as Neptune)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pyoxigraph as ox

from rdfox_local.neptune_emulator.errors import NeptuneApiError
from rdfox_local.neptune_emulator.params import DEFAULT_NAMED_GRAPH

_RESULT_FORMATS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
_GRAPH_FORMATS = {
    "application/n-quads": ox.RdfFormat.N_QUADS,  # first: Neptune's default for CONSTRUCT and DESCRIBE
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "text/plain": ox.RdfFormat.N_TRIPLES,
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}
_UPDATE_LOCK = threading.Lock()


@dataclass(frozen=True)
class SparqlResponse:
    content_type: str
    body: bytes


def _pick(accept: str, choices: dict[str, object], default: str) -> str:
    """The supported type the Accept header prefers (q-values, ``type/*``, ``*/*``); ``default`` when it
    names none of them or is absent."""
    best, best_q = default, 0.0
    for part in accept.split(","):
        media, *params = (piece.strip().lower() for piece in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q <= 0 or not media:
            continue
        if media in choices:
            found = media
        elif media == "*/*":
            found = default
        elif media.endswith("/*"):
            found = next((c for c in choices if c.startswith(media[:-1])), "")
        else:
            found = ""
        if found and q > best_q:  # at equal q the earlier entry wins
            best, best_q = found, q
    return best


def malformed(message: str) -> NeptuneApiError:
    return NeptuneApiError(400, "MalformedQueryException", message)


def run_query(store: ox.Store, query: str, accept: str) -> SparqlResponse:
    try:
        result = store.query(query, use_default_graph_as_union=True)
    except SyntaxError as exc:
        raise malformed(f"Malformed query: {exc}") from None
    if isinstance(result, ox.QueryTriples):
        media = _pick(accept, _GRAPH_FORMATS, "application/n-quads")
        return SparqlResponse(media, result.serialize(format=_GRAPH_FORMATS[media]) or b"")
    media = _pick(accept, _RESULT_FORMATS, "application/sparql-results+json")
    body = result.serialize(format=_RESULT_FORMATS[media]) or b""
    return SparqlResponse(media, body)


def _move_graph(store: ox.Store, source: ox.NamedNode | ox.DefaultGraph, target: object) -> None:
    quads = list(store.quads_for_pattern(None, None, None, source))
    for quad in quads:
        store.remove(quad)
    store.extend(ox.Quad(q.subject, q.predicate, q.object, target) for q in quads)


def run_update(store: ox.Store, update: str) -> list[dict[str, object]]:
    """Run an update as Neptune does: without a GRAPH, it reads and writes Neptune's default named graph.

    pyoxigraph has no such option, so for the update that graph is the store's default graph (moved there
    and back, under a lock); its cost grows with that graph, which the pipeline never updates."""
    began = time.monotonic()
    graph = ox.NamedNode(DEFAULT_NAMED_GRAPH)
    with _UPDATE_LOCK:
        _move_graph(store, graph, ox.DefaultGraph())
        try:
            store.update(update)
        except SyntaxError as exc:
            raise malformed(f"Malformed update: {exc}") from None
        finally:
            _move_graph(store, ox.DefaultGraph(), graph)
    elapsed = int((time.monotonic() - began) * 1000)
    # Neptune answers an update with its update and commit events.
    return [
        {"type": "UpdateEvent", "totalElapsedMillis": elapsed, "elapsedMillis": elapsed},
        {"type": "Commit", "totalElapsedMillis": elapsed},
    ]
