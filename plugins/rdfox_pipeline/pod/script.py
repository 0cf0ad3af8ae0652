"""The RDFox script the prepare step writes and RDFox (or the local reasoner) executes.

The format is fixed in docs/ARCHITECTURE.md ("The RDFox script"); the rdfox.log parser relies on the
markers it echoes. Pure: the same inputs give the same script, whatever order S3 listed the files in.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from rdfox_pipeline.domain.prefixes import LEGACY_BASE, check_prefixes

RULE_EXTENSIONS = (".dlog",)
DATA_EXTENSIONS = (".nt", ".ttl", ".nq", ".trig", ".owl", ".rdf", ".n3")
COUNT_QUERY_EXTENSION = ".count.rq"
QUERY_EXTENSION = ".rq"
JOBSPEC_SUFFIX = ".rdfoxjob.json"

# RDFox's shell expands $(var) inside commands and ends a quoted string at '"'; control characters would
# split one command into two. A file name carrying any of these could inject shell commands.
# Unicode line separators (NEL, U+2028/9) and C1 controls too: a reader that splits lines on them would
# see two commands.
_UNSAFE_PATH_RE = re.compile(r'["\\$\x00-\x1f\x7f-\x9f\u2028\u2029]')

# The old pod's running counts, run when a dataset brings no *.count.rq (full IRIs: they must not depend
# on which prefixes are declared).
_CLASSES = f"{LEGACY_BASE}classes#"
DEFAULT_COUNT_QUERIES = (
    "SELECT (COUNT(DISTINCT ?chain) AS ?partialChainCount) WHERE { "
    f"{{ ?chain a <{_CLASSES}ForwardChain> }} UNION {{ ?chain a <{_CLASSES}BackwardChain> }} }}",
    f"SELECT (COUNT(DISTINCT ?chain) AS ?fullChainCount) WHERE {{ ?chain a <{_CLASSES}FullChain> }}",
)

# An old-style triples query: a prologue (comments, PREFIX/BASE), then SELECT [DISTINCT|REDUCED] and
# exactly three variables, then FROM, WHERE or '{'.
_PROLOGUE_RE = re.compile(
    r"(?:\s+|\#[^\n]*(?:\n|$)|(?i:PREFIX)\s+[A-Za-z0-9_.-]*:\s*<[^<>]*>|(?i:BASE)\s*<[^<>]*>)*"
)
_VAR = r"[?$][A-Za-z0-9_]+"
_TRIPLE_SELECT_RE = re.compile(
    rf"(?i:SELECT)(?:\s+(?i:DISTINCT|REDUCED))?\s+({_VAR})\s+({_VAR})\s+({_VAR})\s*(?=(?i:FROM|WHERE)\b|\{{)"
)


class DatasetFiles(NamedTuple):
    """The dataset's files by role (relative keys, sorted). Unpacks as ``rules, data, queries, counts``."""

    rules: tuple[str, ...]
    data: tuple[str, ...]
    queries: tuple[str, ...]
    count_queries: tuple[str, ...]


class ClassifiedFiles(DatasetFiles):
    """``DatasetFiles`` plus the keys that were ignored and why (``ignored``: ``(key, reason)`` pairs)."""

    ignored: tuple[tuple[str, str], ...]

    def __new__(cls, rules, data, queries, count_queries, ignored=()):  # type: ignore[no-untyped-def]
        obj = super().__new__(cls, rules, data, queries, count_queries)
        obj.ignored = tuple(ignored)
        return obj


def _is_data_file(name: str) -> bool:
    base = name[: -len(".gz")] if name.endswith(".gz") else name
    return base.endswith(DATA_EXTENSIONS)


def classify_dataset_files(keys: Iterable[str]) -> ClassifiedFiles:
    """Sort dataset keys (relative to the dataset prefix) into rules, data, queries and count queries.

    Unrecognised files, folder markers and jobspecs are ignored; ``.ignored`` says why for each one.
    """
    rules: list[str] = []
    data: list[str] = []
    queries: list[str] = []
    counts: list[str] = []
    ignored: list[tuple[str, str]] = []
    for key in keys:
        name = key.lower()
        if not key or key.endswith("/"):
            ignored.append((key, "folder marker"))
        elif name.endswith(JOBSPEC_SUFFIX):
            ignored.append((key, "jobspec"))
        elif name.endswith(RULE_EXTENSIONS):
            rules.append(key)
        elif name.endswith(COUNT_QUERY_EXTENSION):
            counts.append(key)
        elif name.endswith(QUERY_EXTENSION):
            queries.append(key)
        elif _is_data_file(name):
            data.append(key)
        else:
            ignored.append((key, "unrecognised file type"))
    return ClassifiedFiles(
        tuple(sorted(rules)),
        tuple(sorted(data)),
        tuple(sorted(queries)),
        tuple(sorted(counts)),
        sorted(ignored),
    )


def _checked_path(path: str, what: str) -> str:
    if not path:
        raise ValueError(f"{what}: empty file name")
    bad = _UNSAFE_PATH_RE.search(path)
    if bad:
        raise ValueError(
            f"{what} {path!r}: file names must not contain quotes, backslashes, '$', line breaks "
            "or control characters"
        )
    return path


def _quote(path: str) -> str:
    return f'"{path}"'


def _join(directory: str, key: str) -> str:
    # Keys are relative to the directory; a leading '/' or '..' would escape it.
    if key.startswith("/") or ".." in key.split("/"):
        raise ValueError(f"file {key!r}: must be a relative path inside the dataset (no leading '/' or '..')")
    return posixpath.join(directory, key)


def _dir(path: str, what: str) -> str:
    _checked_path(path, what)
    if not path.startswith("/"):
        raise ValueError(f"{what} {path!r}: must be an absolute path")
    return path.rstrip("/") or "/"


def _prefix_lines(prefixes: Mapping[str, str] | None) -> list[str]:
    checked = check_prefixes(prefixes or {})  # they reach the shell script verbatim
    return [f"prefix {name}: <{iri}>" for name, iri in sorted(checked.items())]


def triple_select_as_construct(query: str) -> str | None:
    """An old ``SELECT ?S ?P ?O WHERE {...}`` query as the equivalent ``CONSTRUCT { ?S ?P ?O } WHERE {...}``.

    None when the query is not of that form (then it is answered as written). The old system answered such
    SELECTs under ``application/n-triples``; a CONSTRUCT gives the same N-Triples on any RDFox version
    (answers that cannot be triples, e.g. a literal subject, are left out; duplicates are answered once).
    """
    prologue = _PROLOGUE_RE.match(query)
    start = prologue.end() if prologue else 0
    match = _TRIPLE_SELECT_RE.match(query, start)
    if not match:
        return None
    template = " ".join(match.groups())
    return f"{query[:start]}CONSTRUCT {{ {template} }}\n{query[match.end() :]}"


def query_output_name(query_key: str) -> str:
    """The output file of a query: ``<query file name>.nt`` (``extract1.rq`` -> ``extract1.rq.nt``)."""
    return f"{posixpath.basename(query_key)}.nt"


def generate_rdfox_script(
    *,
    rule_files: Iterable[str],
    data_files: Iterable[str],
    query_files: Iterable[str],
    count_query_files: Iterable[str] | None = None,
    prefixes: Mapping[str, str] | None = None,
    data_dir: str = "/data",
    output_dir: str = "/output",
    scripts_dir: str = "/scripts",
) -> str:
    """The RDFox script for one job; file arguments are keys relative to ``data_dir``. Pure."""
    data_dir = _dir(data_dir, "data_dir")
    output_dir = _dir(output_dir, "output_dir")
    scripts_dir = _dir(scripts_dir, "scripts_dir")
    rules = sorted(_checked_path(f, "rule file") for f in rule_files)
    data = sorted(_checked_path(f, "data file") for f in data_files)
    queries = sorted(_checked_path(f, "query file") for f in query_files)
    counts = sorted(_checked_path(f, "count query file") for f in (count_query_files or ()))
    if not data:
        raise ValueError("data files: at least one data file is needed")

    outputs: dict[str, str] = {}
    for query in queries:
        out = query_output_name(query)
        if out in outputs:
            raise ValueError(f"query files {outputs[out]!r} and {query!r} would both write {out!r}")
        outputs[out] = query

    lines = [
        "set on-error stop",
        "dstore create transactions type parallel-nw",
        "active transactions",
        *_prefix_lines(prefixes),
        f"set dir.output {_quote(output_dir.rstrip('/') + '/')}",
        f"set dir.queries {_quote(data_dir.rstrip('/') + '/')}",
        f"set dir.scripts {_quote(scripts_dir.rstrip('/') + '/')}",
        "tstamp loadStart",
        "begin",
        *(f"import {_quote(_join(data_dir, f))}" for f in rules),
        *(f"import {_quote(_join(data_dir, f))}" for f in data),
        "tstamp loadEnd",
        "echo LOADTIME-$(loadStart)|$(loadEnd)",
        "mat",
        "commit",
        "tstamp inferEnd",
        "echo INFERENCETIME-$(loadEnd)|$(inferEnd)",
        'set query.answer-format "application/n-triples"',
    ]
    for out, query in outputs.items():
        lines.append(f"set output {_quote(posixpath.join(output_dir, 'data', out))}")
        lines.append(f"answer {_quote(_join(data_dir, query))}")
    lines += [
        "set output out",
        "tstamp queryEnd",
        "echo QUERYTIME-$(inferEnd)|$(queryEnd)",
        "echo ---info---",
        "info",
        "echo ---endinfo---",
        # SELECT answers need a SPARQL results format; N-Triples is for the CONSTRUCT answers above.
        'set query.answer-format "text/csv"',
        "echo ---factcounts---",
        "set query.fact-domain explicit",
        "SELECT (COUNT(*) AS ?explicitFactCount) WHERE { ?s ?p ?o }",
        "set query.fact-domain all",
        "SELECT (COUNT(*) AS ?allFactCount) WHERE { ?s ?p ?o }",
        "echo ---endfactcounts---",
        "tstamp totalEnd",
        "echo TOTALTIME-$(loadStart)|$(totalEnd)",
        "echo running-counts",
        *(f"answer {_quote(_join(data_dir, f))}" for f in counts),
        *(() if counts else DEFAULT_COUNT_QUERIES),
        "echo end-running-counts",
    ]
    lines.append("quit")
    return "\n".join(lines) + "\n"


def generate_endpoint_script(*, data_files: Iterable[str], data_dir: str = "/data") -> str:
    """The script of a kept-up endpoint: load the published answers, then start RDFox's endpoint. Pure.

    It does not ``quit``: the RDFox shell then waits on its (kept open) stdin and the endpoint stays up
    until the pod is deleted or its TTL (``activeDeadlineSeconds``) ends it.
    """
    data_dir = _dir(data_dir, "data_dir")
    data = sorted(_checked_path(f, "data file") for f in data_files)
    if not data:
        raise ValueError("data files: the job published no answers to serve")
    return (
        "\n".join(
            [
                "set on-error stop",
                "dstore create published type parallel-nw",
                "active published",
                "begin",
                *(f"import {_quote(_join(data_dir, f))}" for f in data),
                "commit",
                "endpoint start",
                "echo ENDPOINT-READY",
            ]
        )
        + "\n"
    )
