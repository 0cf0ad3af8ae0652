"""Container logs as the API serves them: one timestamped line per output line, with the kubelet's filters."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path

from rdfox_local.k8s_emulator.clock import now, parse


def read_lines(path: Path, offset: int = 0) -> tuple[list[bytes], int]:
    """Complete lines from ``offset``; returns them and the offset after the last complete line."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    return data[:end].splitlines(keepends=True), offset + end


def select(lines: list[bytes], query: Mapping[str, str]) -> list[bytes]:
    """Apply sinceSeconds / sinceTime / tailLines (the stored lines carry their timestamps)."""
    since = None
    if query.get("sinceSeconds"):
        since = now() - timedelta(seconds=int(query["sinceSeconds"]))
    elif query.get("sinceTime"):
        since = parse(query["sinceTime"])
    if since is not None:
        lines = [line for line in lines if parse(line.split(b" ", 1)[0].decode()) >= since]
    if query.get("tailLines"):
        lines = lines[-int(query["tailLines"]) :] if int(query["tailLines"]) > 0 else []
    return lines


def render(lines: list[bytes], timestamps: bool) -> Iterator[bytes]:
    for line in lines:
        yield line if timestamps else line.split(b" ", 1)[1]
