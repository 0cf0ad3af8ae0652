"""Answer a SPARQL query over a data store and write it in the shell's ``query.answer-format``.

CONSTRUCT/DESCRIBE give triples (``application/n-triples``, ``text/turtle``); SELECT gives
``text/csv`` (header line with the variable names, then one line per answer), ``text/tab-separated-values``
or the SPARQL results JSON/XML formats. A SELECT of exactly three variables under a triples format (the old
pod's ``SELECT ?S ?P ?O`` queries) gives one triple per answer, in projection order, as the equivalent
CONSTRUCT would: answers that are no RDF triple (a literal subject, an unbound variable...) are left out
with a note naming the first, and each triple is written once. Any other SELECT under a triples format is
answered as CSV.
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
    if answer_format in TRIPLE_FORMATS and len(variables) == 3:
        return _select_as_triples(rows, variables, TRIPLE_FORMATS[answer_format], prefixes)
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


def _not_a_triple(row: ox.QuerySolution, variables: list[str]) -> str | None:
    """Why an answer cannot be a triple, or None."""
    subject, predicate, obj = (row[v] for v in variables)
    for name, term in zip(variables, (subject, predicate, obj), strict=True):
        if term is None:
            return f"?{name} is unbound"
    if not isinstance(subject, ox.NamedNode | ox.BlankNode):
        return f"subject ?{variables[0]} is {subject}, not an IRI or blank node"
    if not isinstance(predicate, ox.NamedNode):
        return f"predicate ?{variables[1]} is {predicate}, not an IRI"
    return None


def _select_as_triples(
    rows: list[ox.QuerySolution], variables: list[str], fmt: ox.RdfFormat, prefixes: dict[str, str]
) -> Answer:
    triples: dict[ox.Triple, None] = {}
    skipped, first_reason = 0, ""
    for row in rows:
        reason = _not_a_triple(row, variables)
        if reason:
            skipped, first_reason = skipped + 1, first_reason or reason
            continue
        triples[ox.Triple(*(row[v] for v in variables))] = None
    note = None
    if skipped:
        note = (
            f"Note: {skipped} of {len(rows)} answers are not RDF triples and were left out "
            f"(the first: {first_reason})."
        )
    if fmt == ox.RdfFormat.N_TRIPLES:
        text = "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in triples)
    else:
        text = ox.serialize(list(triples), format=fmt, prefixes=prefixes).decode("utf-8")
    return Answer(text, len(triples), note)
