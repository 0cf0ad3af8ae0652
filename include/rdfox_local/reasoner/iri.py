"""Relative IRI resolution (RFC 3986 section 5.2), as SPARQL's IRI() and rule files' ``base`` need it.

``urllib.parse.urljoin`` only resolves against schemes it knows (http, ftp, ...); a base such as
``urn:x:`` or ``tag:...`` must resolve too.
"""

from __future__ import annotations

import re

# RFC 3986 appendix B.
_PARTS = re.compile(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", re.S)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def is_absolute(iri: str) -> bool:
    """Whether ``iri`` starts with a scheme (``http:``, ``urn:`` ...)."""
    return bool(_SCHEME.match(iri))


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith(("./", "/./")):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if out:
                out.pop()
        elif path == "/..":
            path = "/"
            if out:
                out.pop()
        elif path in (".", ".."):
            path = ""
        else:
            cut = path.find("/", 1)
            segment, path = (path, "") if cut < 0 else (path[:cut], path[cut:])
            out.append(segment)
    return "".join(out)


def _merge(base_authority: str | None, base_path: str, path: str) -> str:
    if base_authority is not None and not base_path:
        return "/" + path
    return base_path[: base_path.rfind("/") + 1] + path


def resolve(base: str, reference: str) -> str:
    """``reference`` resolved against the absolute IRI ``base`` (an absolute reference is returned as is)."""
    r_scheme, r_auth, r_path, r_query, r_frag = _PARTS.match(reference).groups()  # type: ignore[union-attr]
    b_scheme, b_auth, b_path, b_query, _ = _PARTS.match(base).groups()  # type: ignore[union-attr]
    if r_scheme is not None:
        scheme, auth, path, query = r_scheme, r_auth, _remove_dot_segments(r_path), r_query
    elif r_auth is not None:
        scheme, auth, path, query = b_scheme, r_auth, _remove_dot_segments(r_path), r_query
    elif not r_path:
        scheme, auth, path = b_scheme, b_auth, b_path
        query = r_query if r_query is not None else b_query
    else:
        path = r_path if r_path.startswith("/") else _merge(b_auth, b_path, r_path)
        scheme, auth, path, query = b_scheme, b_auth, _remove_dot_segments(path), r_query
    text = f"{scheme}:"
    if auth is not None:
        text += f"//{auth}"
    text += path
    if query is not None:
        text += f"?{query}"
    if r_frag is not None:
        text += f"#{r_frag}"
    return text
