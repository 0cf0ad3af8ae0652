"""PATCH bodies: JSON merge patch (also used for strategic merge patch, enough for labels and annotations)
and RFC 6902 JSON patch."""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"JSON patch path {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(target: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    for op in operations:
        *parents, last = _pointer(op.get("path", ""))
        node: Any = target
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        kind = op.get("op")
        if kind in ("add", "replace"):
            if isinstance(node, list):
                index = len(node) if last == "-" else int(last)
                node.insert(index, op["value"]) if kind == "add" else node.__setitem__(index, op["value"])
            else:
                node[last] = op["value"]
        elif kind == "remove":
            del node[int(last) if isinstance(node, list) else last]
        else:
            raise ValueError(f"JSON patch op {kind!r} is not supported by the emulator")


def apply_patch(obj: dict[str, Any], patch: Any, content_type: str) -> None:
    """Apply in place; only metadata and spec may change (status belongs to the kubelet)."""
    status = obj.get("status")
    if "json-patch" in content_type:
        if not isinstance(patch, list):
            raise ValueError("a JSON patch must be a list of operations")
        json_patch(obj, patch)
    else:
        if not isinstance(patch, dict):
            raise ValueError("a merge patch must be a JSON object")
        merge_patch(obj, {k: v for k, v in patch.items() if k in ("metadata", "spec")})
    if status is not None:
        obj["status"] = status
