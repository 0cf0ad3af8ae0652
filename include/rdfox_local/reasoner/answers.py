"""Answer a SPARQL query over a data store and write it in the shell's ``query.answer-format``.

CONSTRUCT/DESCRIBE give triples (``application/n-triples``, ``text/turtle``); SELECT gives
``text/csv`` (header line with the variable names, then one line per answer), ``text/tab-separated-values``
or the SPARQL results JSON/XML formats. A SELECT under a triples format is answered as CSV: the triples
formats do not apply to SELECT.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pyoxigraph as ox

from .datastore import DataStore
from .errors import ReasonerError

TRIPLE_FORMATS = {
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/n-quads": ox.RdfFormat.N_QUADS,
}
RESULT_FORMATS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
}


@dataclass
class Answer:
    text: str
    count: int
    note: str | None = None


def _csv_value(term: object) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        return term.value
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.Literal):
        return term.value
    return str(term)


def answer_query(
    store: DataStore, query: str, answer_format: str, domain: str, prefixes: dict[str, str]
) -> Answer:
    try:
        result = store.sparql_store().query(query, prefixes=prefixes, default_graph=store.graphs(domain))
    except SyntaxError as exc:
        raise ReasonerError(f"query syntax error: {exc}") from exc
    if isinstance(result, ox.QueryBoolean):
        return Answer(("true" if bool(result) else "false") + "\n", 1)
    if isinstance(result, ox.QueryTriples):
        fmt = TRIPLE_FORMATS.get(answer_format)
        if fmt is None:
            raise ReasonerError(
                f"answer format {answer_format!r} does not apply to CONSTRUCT/DESCRIBE queries"
            )
        triples = list(dict.fromkeys(result))  # RDFox answers a CONSTRUCT as a set of triples
        if fmt == ox.RdfFormat.N_TRIPLES:
            text = "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in triples)
        else:
            text = ox.serialize(triples, format=fmt, prefixes=prefixes).decode("utf-8")
        return Answer(text, len(triples))
    variables = [v.value for v in result.variables]
    rows = list(result)
    note = None
    if answer_format in RESULT_FORMATS:
        again = store.sparql_store().query(query, prefixes=prefixes, default_graph=store.graphs(domain))
        text = again.serialize(format=RESULT_FORMATS[answer_format]).decode("utf-8")
        return Answer(text, len(rows))
    if answer_format in TRIPLE_FORMATS:
        note = f"query.answer-format {answer_format!r} does not apply to SELECT; answering as text/csv"
        answer_format = "text/csv"
    if answer_format == "text/csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(variables)
        for row in rows:
            writer.writerow([_csv_value(row[v]) for v in variables])
        return Answer(buffer.getvalue(), len(rows), note)
    if answer_format == "text/tab-separated-values":
        lines = ["\t".join(f"?{v}" for v in variables)]
        lines += ["\t".join("" if row[v] is None else str(row[v]) for v in variables) for row in rows]
        return Answer("\n".join(lines) + "\n", len(rows))
    raise ReasonerError(f"unsupported query.answer-format {answer_format!r}")
