"""``RDFOX_LOCAL_PATH_MAP``: run a pod's script as a local process by remapping its absolute paths.

The variable holds a JSON object from pod path prefixes to local directories, e.g.
``{"/data": "/tmp/job/data", "/output": "/tmp/job/output"}``. The longest matching prefix wins, and only at a
path-component boundary (``/data`` maps ``/data/x`` but not ``/database``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

ENV_VAR = "RDFOX_LOCAL_PATH_MAP"


class PathMap:
    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        items = {k.rstrip("/") or "/": v for k, v in (mapping or {}).items()}
        self._items = sorted(items.items(), key=lambda kv: len(kv[0]), reverse=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PathMap:
        raw = (environ if environ is not None else os.environ).get(ENV_VAR, "").strip()
        if not raw:
            return cls()
        try:
            mapping = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{ENV_VAR}: not valid JSON ({exc})") from exc
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k.startswith("/") for k, v in mapping.items()
        ):
            raise ValueError(
                f"{ENV_VAR}: expected a JSON object of absolute pod paths to local paths, "
                '(e.g. {"/data": "/tmp/d"})'
            )
        return cls(mapping)

    def __bool__(self) -> bool:
        return bool(self._items)

    def map(self, path: str) -> str:
        # A path already inside one of the local directories was rewritten before (the Kubernetes emulator
        # rewrites command lines, and the prepare step writes local paths into the script): mapping it again
        # would turn /tmp/state/volumes/scripts/x into <tmp volume>/state/volumes/scripts/x.
        if any(_inside(path, local) for _, local in self._items):
            return path
        for prefix, local in self._items:
            if path == prefix or path.startswith(prefix + "/") or prefix == "/":
                rest = path[len(prefix) :] if prefix != "/" else path
                return local.rstrip("/") + ("/" + rest.lstrip("/") if rest.strip("/") else "")
        return path

    def as_dict(self) -> dict[str, str]:
        return dict(self._items)


def _inside(path: str, directory: str) -> bool:
    directory = directory.rstrip("/")
    return bool(directory) and (path == directory or path.startswith(directory + "/"))
