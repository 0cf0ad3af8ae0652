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


def _is_launcher_shim(path: str) -> bool:
    """The emulator's own ``RDFox`` shim (it runs this launcher): never the real binary. Without this check a
    license made the launcher exec its own shim forever (found by the issue-9 fault tests)."""
    try:
        with open(path, "rb") as handle:
            return b"rdfox_launcher" in handle.read(4096)
    except OSError:
        return False


def real_rdfox_binary() -> str | None:
    """The RDFox executable: on PATH, or inside the ``rdfox`` PyPI package."""
    found = shutil.which("RDFox")
    if found and not _is_launcher_shim(found):
        return found
    spec = importlib.util.find_spec("rdfox")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for candidate in Path(location).rglob("RDFox"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def without_server_options(args: list[str]) -> list[str]:
    """Drop RDFox's leading ``-<parameter> <value>`` pairs (``-port 12110``): the local reasoner has no
    server or endpoint to configure, and takes the mode first."""
    rest = list(args)
    while len(rest) >= 2 and rest[0].startswith("-"):
        rest = rest[2:]
    return rest


def choose_command(args: list[str], env: Mapping[str, str]) -> list[str]:
    binary = real_rdfox_binary() if _license_present(env) else None
    if binary:
        return [binary, *args]
    return [sys.executable, "-m", "rdfox_local.reasoner", *without_server_options(args)]


def main() -> None:
    command = choose_command(sys.argv[1:], os.environ)
    os.execv(command[0], command)  # noqa: S606 - replaces this process, like the entrypoint  # nosec B606


if __name__ == "__main__":
    main()
