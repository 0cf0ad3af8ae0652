"""Stands in for ``/opt/RDFox/RDFox`` in the emulator: the real RDFox if licensed and installed, else the
local reasoner (``python -m rdfox_local.reasoner``), with the same command line."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path


def _license_present(env: Mapping[str, str]) -> bool:
    if env.get("RDFOX_LICENSE_CONTENT", "").strip():
        return True
    candidates = [env.get("RDFOX_LICENSE_FILE", ""), str(Path.home() / ".RDFox" / "RDFox.lic")]
    return any(c and Path(c).is_file() for c in candidates)


def real_rdfox_binary() -> str | None:
    """The RDFox executable: on PATH, or inside the ``rdfox`` PyPI package."""
    found = shutil.which("RDFox")
    if found:
        return found
    spec = importlib.util.find_spec("rdfox")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for candidate in Path(location).rglob("RDFox"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def choose_command(args: list[str], env: Mapping[str, str]) -> list[str]:
    binary = real_rdfox_binary() if _license_present(env) else None
    if binary:
        return [binary, *args]
    return [sys.executable, "-m", "rdfox_local.reasoner", *args]


def main() -> None:
    command = choose_command(sys.argv[1:], os.environ)
    os.execv(command[0], command)  # noqa: S606 - replaces this process, as the real entrypoint would be


if __name__ == "__main__":
    main()
