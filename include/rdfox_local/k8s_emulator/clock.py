"""Kubernetes timestamps (RFC 3339, UTC)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(tz=UTC)


def rfc3339(moment: datetime | None = None) -> str:
    """Second precision, as the API server stores object timestamps."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(moment: datetime | None = None) -> str:
    """Nanosecond-style precision, as the kubelet prefixes log lines with ``timestamps=true``."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def parse(text: str) -> datetime:
    text = text.strip().replace("Z", "+00:00")
    if "." in text:  # Python's fromisoformat wants at most 6 fraction digits
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text)
