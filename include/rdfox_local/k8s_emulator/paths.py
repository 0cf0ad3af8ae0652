"""Mount paths -> host directories: local processes cannot remount ``/data``, so the emulator rewrites
container paths inside command lines and environment values, and exports the map as RDFOX_LOCAL_PATH_MAP."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping


class PathMap:
    def __init__(self, mapping: Mapping[str, str]) -> None:
        # Longest first: /data/x must win over /data when both are mounts.
        self.mapping = dict(sorted(mapping.items(), key=lambda kv: -len(kv[0])))
        alternatives = "|".join(re.escape(p.rstrip("/")) for p in self.mapping)
        # A container path only counts where a path can start and end (not inside /opt/data/x or /database).
        self._pattern = (
            re.compile(rf"(?<![A-Za-z0-9_./])({alternatives})(?![A-Za-z0-9_.-])") if self.mapping else None
        )

    def rewrite(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.mapping.get(m[1], self.mapping.get(m[1] + "/", m[1])), text)

    def to_json(self) -> str:
        return json.dumps(self.mapping, sort_keys=True)
