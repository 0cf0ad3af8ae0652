"""Run the real RDFox instead of the local engine when a license and an RDFox executable are present.

License: ``RDFOX_LICENSE_CONTENT`` (the license text, as the pod gets it from a Secret), or
``RDFOX_LICENSE_FILE`` (a path), or ``~/.RDFox/RDFox.lic``. Executable: ``RDFOX_EXECUTABLE``, ``RDFox`` on
PATH, or one shipped inside the optional ``rdfox`` PyPI package (``pip install 'rdfox-pipeline[rdfox]'``).
The arguments are passed unchanged; with ``RDFOX_LOCAL_PATH_MAP`` set, the root and the script's quoted
absolute paths are rewritten to the local directories first (RDFox knows nothing of the map).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess  # nosec B404
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from .pathmap import PathMap

_QUOTED_PATH_RE = re.compile(r'"(/[^"]*)"')


def find_license(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``("content", text)`` or ``("file", path)`` for the first license found, else None."""
    env = os.environ if environ is None else environ
    if env.get("RDFOX_LICENSE_CONTENT", "").strip():
        return ("content", env["RDFOX_LICENSE_CONTENT"])
    path = env.get("RDFOX_LICENSE_FILE", "").strip()
    if path and Path(path).is_file():
        return ("file", path)
    default = Path(env.get("HOME", str(Path.home()))) / ".RDFox" / "RDFox.lic"
    if default.is_file():
        return ("file", str(default))
    return None


def _is_emulator_shim(path: str) -> bool:
    """The Kubernetes emulator's ``RDFox`` shim (it runs this reasoner): not a real RDFox. Without this check
    a pod given a license ran the shim as "real RDFox" and failed (found by the issue-9 fault tests)."""
    try:
        with open(path, "rb") as handle:
            return b"rdfox_launcher" in handle.read(4096)
    except OSError:
        return False


def find_executable(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    explicit = env.get("RDFOX_EXECUTABLE", "").strip()
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    on_path = shutil.which("RDFox")
    if on_path and not _is_emulator_shim(on_path):
        return on_path
    try:
        files = importlib.metadata.files("rdfox") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name in ("RDFox", "RDFox.exe"):
            candidate = Path(str(entry.locate()))
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def real_rdfox_available(environ: Mapping[str, str] | None = None) -> bool:
    return find_license(environ) is not None and find_executable(environ) is not None


def rewrite_paths(script: str, path_map: PathMap) -> str:
    """The script with every quoted absolute path and ``exec`` target mapped to its local place."""
    text = _QUOTED_PATH_RE.sub(lambda m: '"' + path_map.map(m.group(1)) + '"', script)
    return re.sub(r"(?m)^(\s*exec\s+)(/\S+)", lambda m: m.group(1) + path_map.map(m.group(2)), text)


def run_real_rdfox(
    args: Sequence[str], environ: Mapping[str, str] | None = None, stdout: IO | None = None
) -> int:
    """Run RDFox with the reasoner's command line (``sandbox ROOT COMMAND...``); returns its exit status.

    ``stdout``: where RDFox's output goes (default: inherited), e.g. the job's rdfox.log.
    """
    env = dict(os.environ if environ is None else environ)
    executable = find_executable(env)
    license_found = find_license(env)
    if executable is None or license_found is None:
        raise RuntimeError("real RDFox needs a license and an RDFox executable")
    kind, value = license_found
    if kind == "file":
        env.setdefault("RDFOX_LICENSE_FILE", value)
    path_map = PathMap.from_env(env)
    argv = list(args)
    with tempfile.TemporaryDirectory(prefix="rdfox-local-") as scratch:
        if path_map and len(argv) >= 2 and argv[0] == "sandbox":
            argv[1] = path_map.map(argv[1])
            argv[2:] = [_map_command(cmd, path_map, Path(scratch), i) for i, cmd in enumerate(argv[2:])]
        # Our own argv: the RDFox executable found above and the reasoner's command line.
        completed = subprocess.run(  # noqa: S603  # nosec B603
            [executable, *argv],
            env=env,
            check=False,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout else None,
        )
    return completed.returncode


def _map_command(command: str, path_map: PathMap, scratch: Path, index: int) -> str:
    words = command.split(None, 1)
    if len(words) == 2 and words[0] == "exec":
        local_script = Path(path_map.map(words[1].strip().strip('"')))
        rewritten = scratch / f"script-{index}.rdfox"
        rewritten.write_text(
            rewrite_paths(local_script.read_text(encoding="utf-8"), path_map), encoding="utf-8"
        )
        return f"exec {rewritten}"
    return rewrite_paths(command, path_map)
