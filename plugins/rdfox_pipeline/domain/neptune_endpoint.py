"""Where Neptune listens: the NEPTUNE_CLUSTER_ENDPOINT value's forms and the base URL they make.

Accepted forms: ``host``, ``host:port``, ``https://host[:port]`` and ``http://host[:port]`` (a trailing ``/``
is tolerated). What a value leaves out is filled in by the caller's defaults (the Neptune connection's scheme
and port), else ``https`` and port 8182: Neptune itself only listens on TLS at 8182; ``http`` is for local
emulators. Paths, queries and ``user:password@`` are refused: the loader API sits at the root, and a
credential in a setting would end up in logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORT = 8182
DEFAULT_SCHEME = "https"
SCHEMES = ("https", "http")

# A DNS name or IPv4 address; IPv6 only in brackets (as in a URL).
# Underscores are not DNS but occur in container service names (local stacks).
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_IPV6_RE = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")


@dataclass(frozen=True)
class EndpointAddress:
    """A parsed endpoint value: ``scheme`` and ``port`` are None when the value does not give them."""

    host: str
    port: int | None = None
    scheme: str | None = None

    def base_url(self, default_scheme: str = DEFAULT_SCHEME, default_port: int = DEFAULT_PORT) -> str:
        """``scheme://host:port`` (host lower-cased: DNS names are case-insensitive)."""
        return f"{self.scheme or default_scheme}://{self.host.lower()}:{self.port or default_port}"


def parse_endpoint(value: str) -> EndpointAddress:
    """Parse one endpoint value; ValueError says what is wrong with it."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValueError("must name a host (host, host:port or https://host:port)")
    if "@" in text:  # checked first, and the value not echoed: it may hold a password
        raise ValueError("must not carry a user name or password (use the connection for credentials)")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ValueError(f"{text!r} must not contain spaces or control characters")
    scheme = None
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in SCHEMES:
            raise ValueError(f"{text!r}: scheme must be https or http, got {scheme!r}")
    try:
        parts = urlsplit(text if scheme else f"//{text}")
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{text!r}: give only scheme, host and port (no path or query)")
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if host.endswith(":"):  # "host:" with an empty port
        raise ValueError(f"{text!r}: the port is empty")
    if not (_HOST_RE.match(host) or _IPV6_RE.match(host)):
        raise ValueError(f"{text!r}: {host!r} is not a host name or IP address")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: port must be between 1 and 65535")
    return EndpointAddress(host=host.rstrip(".") or host, port=port, scheme=scheme)
