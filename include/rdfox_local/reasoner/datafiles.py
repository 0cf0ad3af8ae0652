"""Read RDF data files (any format pyoxigraph parses, optionally gzipped) into interned term triples."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox

from .errors import ReasonerError
from .factstore import Triple

_EXTRA_FORMATS = {"owl": ox.RdfFormat.RDF_XML, "rdf": ox.RdfFormat.RDF_XML, "xml": ox.RdfFormat.RDF_XML}


def rdf_format(path: str) -> ox.RdfFormat:
    name = path[:-3] if path.endswith(".gz") else path
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    fmt = _EXTRA_FORMATS.get(extension) or ox.RdfFormat.from_extension(extension)
    if fmt is None:
        raise ReasonerError(f"{path}: unknown RDF format for extension '.{extension}'")
    return fmt


def read_triples(path: Path, display: str) -> Iterator[Triple]:
    """Triples of one file; quads must be in the default graph (the engine reasons over one graph)."""
    fmt = rdf_format(display)
    intern = sys.intern
    opener = gzip.open if display.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            for quad in ox.parse(handle, format=fmt, base_iri=path.resolve().as_uri()):
                graph = getattr(quad, "graph_name", None)
                if graph is not None and not isinstance(graph, ox.DefaultGraph):
                    raise ReasonerError(
                        f"{display}: named graphs are not supported by the local reasoner ({graph})"
                    )
                yield (intern(str(quad.subject)), intern(str(quad.predicate)), intern(str(quad.object)))
    except SyntaxError as exc:
        raise ReasonerError(f"{display}: {exc}") from exc
    except OSError as exc:
        raise ReasonerError(f"{display}: {exc.strerror or exc}") from exc
