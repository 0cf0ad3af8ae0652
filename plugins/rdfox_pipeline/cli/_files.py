"""Reading user-named files for CLI verbs: one clear error line instead of a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

from rdfox_pipeline.cli.main import CliError


def read_bytes(name: str, limit: int | None = None) -> bytes:
    """The file's bytes (``-`` = stdin); at most ``limit + 1`` bytes so a huge file is not read whole."""
    try:
        if name == "-":
            return sys.stdin.buffer.read(-1 if limit is None else limit + 1)
        with Path(name).open("rb") as handle:
            return handle.read(-1 if limit is None else limit + 1)
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}") from None
