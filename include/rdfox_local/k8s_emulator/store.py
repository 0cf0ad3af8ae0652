"""The emulator's object store: namespaced objects by kind, one resourceVersion counter, change notification.

Objects are plain JSON dicts, as the API serves them. Every write bumps the global resourceVersion and wakes
watchers (log followers and watch streams wait on the same condition).
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rdfox_local.k8s_emulator.clock import rfc3339

Key = tuple[str, str, str]  # kind (plural), namespace, name


class Conflict(Exception):
    """The object already exists (409)."""


class NotFound(Exception):
    """No such object (404)."""


class Store:
    def __init__(self) -> None:
        self._objects: dict[Key, dict[str, Any]] = {}
        self._version = 0
        self.changed = threading.Condition()

    @property
    def version(self) -> int:
        return self._version

    def _bump(self, obj: dict[str, Any]) -> None:
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store for a read-modify-write; watchers are woken when it ends."""
        with self.changed:
            yield
            self.changed.notify_all()

    def create(self, kind: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.writing():
            meta = obj.setdefault("metadata", {})
            name = meta.get("name")
            key = (kind, namespace, name)
            if key in self._objects:
                raise Conflict(name)
            meta.update(
                namespace=namespace,
                uid=str(uuid.uuid4()),
                creationTimestamp=rfc3339(),
                generation=1,
            )
            self._bump(obj)
            self._objects[key] = obj
            return copy.deepcopy(obj)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with self.changed:
            try:
                return copy.deepcopy(self._objects[(kind, namespace, name)])
            except KeyError:
                raise NotFound(name) from None

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        with self.changed:
            return (kind, namespace, name) in self._objects

    def update(
        self, kind: str, namespace: str, name: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        """Apply ``change`` to the stored object in place (under the lock) and bump its version."""
        with self.writing():
            try:
                obj = self._objects[(kind, namespace, name)]
            except KeyError:
                raise NotFound(name) from None
            change(obj)
            self._bump(obj)
            return copy.deepcopy(obj)

    def delete(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with self.writing():
            try:
                obj = self._objects.pop((kind, namespace, name))
            except KeyError:
                raise NotFound(name) from None
            self._bump(obj)
            return copy.deepcopy(obj)

    def list(
        self, kind: str, namespace: str | None, matches: Callable[[Mapping[str, Any]], bool] = lambda _o: True
    ) -> list[dict[str, Any]]:
        with self.changed:
            found = [
                copy.deepcopy(obj)
                for (k, ns, _name), obj in self._objects.items()
                if k == kind and (namespace is None or ns == namespace) and matches(obj)
            ]
        return sorted(found, key=lambda o: int(o["metadata"]["resourceVersion"]))
