"""The HTTP side: routes of the Kubernetes REST API onto the store and the pod runners."""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from rdfox_local.k8s_emulator import logs as container_logs
from rdfox_local.k8s_emulator import openapi, tables
from rdfox_local.k8s_emulator.clock import rfc3339
from rdfox_local.k8s_emulator.images import ImageMap
from rdfox_local.k8s_emulator.kubelet import NODE_IP, NODE_NAME, PodRunner
from rdfox_local.k8s_emulator.patch import apply_patch
from rdfox_local.k8s_emulator.scheduling import NodeCapacity
from rdfox_local.k8s_emulator.selectors import SelectorError, field_selector, label_selector
from rdfox_local.k8s_emulator.store import Conflict, NotFound, Store

WATCH_DEFAULT_SECONDS = 300
POLL_SECONDS = 0.2
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# (api prefix, plural, kind, apiVersion): what the emulator stores.
RESOURCES = {
    ("api/v1", "pods"): ("Pod", "v1"),
    ("api/v1", "events"): ("Event", "v1"),
    ("api/v1", "services"): ("Service", "v1"),
    ("api/v1", "secrets"): ("Secret", "v1"),
    ("apis/apps/v1", "deployments"): ("Deployment", "apps/v1"),
    ("apis/networking.k8s.io/v1", "networkpolicies"): ("NetworkPolicy", "networking.k8s.io/v1"),
}
API_GROUPS = {"apps": "apps/v1", "networking.k8s.io": "networking.k8s.io/v1"}
SHORT_NAMES = {"pods": ["po"], "services": ["svc"], "deployments": ["deploy"], "networkpolicies": ["netpol"],
               "events": ["ev"], "namespaces": ["ns"], "nodes": ["no"]}  # fmt: skip
# Namespaces every cluster has; others exist once something was created in them (or the namespace itself).
BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def _normalise_secret(body: dict[str, Any]) -> None:
    """As the API server stores a Secret: ``stringData`` merged into base64 ``data``, type Opaque."""
    data = dict(body.get("data") or {})
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, "Invalid", f"Secret is invalid: data[{key}]: not base64") from None
    for key, value in (body.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    body["data"] = data
    body.setdefault("type", "Opaque")


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


class Cluster:
    """The emulated cluster: the store, the node, and one runner per live pod."""

    def __init__(
        self,
        *,
        images: ImageMap,
        secrets_dir: Path,
        state_dir: Path,
        environ: Mapping[str, str],
        instance_type: str = "emulated.local",
        capacity: NodeCapacity | None = None,
    ) -> None:
        self.store = Store()
        self.capacity = capacity or NodeCapacity.of_this_machine()
        self.images = images
        self.secrets_dir = secrets_dir
        self.state_dir = state_dir
        self.environ = dict(environ)
        self.instance_type = instance_type
        self.runners: dict[tuple[str, str], PodRunner] = {}
        self._lock = threading.Lock()
        self._audit_lock = threading.Lock()
        self.started_at = rfc3339()
        self.created_namespaces: dict[str, str] = {}  # name -> creationTimestamp (POST /api/v1/namespaces)

    def namespaces(self) -> list[dict[str, Any]]:
        """The built-in namespaces, those created, and those that hold objects: all Active."""
        names = dict.fromkeys(BUILTIN_NAMESPACES, self.started_at)
        for plural in {plural for _prefix, plural in RESOURCES}:
            for obj in self.store.list(plural, None):
                names.setdefault(obj["metadata"]["namespace"], obj["metadata"].get("creationTimestamp", ""))
        names.update(self.created_namespaces)
        return [self.namespace(name, created) for name, created in sorted(names.items())]

    @staticmethod
    def namespace(name: str, created: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "uid": f"namespace-{name}", "creationTimestamp": created,
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }  # fmt: skip

    def node(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "uid": "emulated-node",
                "resourceVersion": "1",
                "creationTimestamp": self.started_at,
                "labels": {
                    "kubernetes.io/hostname": NODE_NAME,
                    "kubernetes.io/os": "linux",
                    "node.kubernetes.io/instance-type": self.instance_type,
                    "beta.kubernetes.io/instance-type": self.instance_type,
                },
            },
            "status": {
                "capacity": self.capacity.as_quantities(),
                "allocatable": self.capacity.as_quantities(),
                "addresses": [{"type": "InternalIP", "address": NODE_IP}],
                "conditions": [{"type": "Ready", "status": "True"}],
                # Every field the API marks required: the Kubernetes Python client refuses a Node without
                # them (the pod operator reads the node for its instance type).
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": "emulated-node",
                    "containerRuntimeVersion": "rdfox-emulator://1",
                    "kernelVersion": "emulated",
                    "kubeProxyVersion": "v1.31.0-rdfox-emulator",
                    "kubeletVersion": "v1.31.0-rdfox-emulator",
                    "machineID": "emulated-node",
                    "operatingSystem": "linux",
                    "osImage": "rdfox-pipeline Kubernetes emulator",
                    "systemUUID": "emulated-node",
                },
            },
        }

    def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("spec") or {}
        if not spec.get("containers"):
            raise ApiError(422, "Invalid", "Pod is invalid: spec.containers: Required value")
        names = [c.get("name") for c in [*(spec.get("initContainers") or []), *spec["containers"]]]
        if len(set(names)) != len(names) or not all(names):
            raise ApiError(422, "Invalid", "Pod is invalid: container names must be unique and non-empty")
        body.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
        created = self.create("pods", namespace, body)
        runner = PodRunner(
            self.store,
            namespace,
            created["metadata"]["name"],
            images=self.images,
            secrets_dir=self.secrets_dir,
            state_dir=self.state_dir,
            environ=self.environ,
            capacity=self.capacity,
        )
        with self._lock:
            self.runners[(namespace, created["metadata"]["name"])] = runner
        runner.start()
        return created

    def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name") or ""
        if plural == "secrets":
            _normalise_secret(body)
        if len(name) > 253 or not _NAME_RE.match(name):
            raise ApiError(
                422, "Invalid", f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain"
            )
        try:
            return self.store.create(plural, namespace, body)
        except Conflict:
            raise ApiError(409, "AlreadyExists", f'{plural} "{name}" already exists') from None

    def delete(self, plural: str, namespace: str, name: str, grace: float | None) -> dict[str, Any]:
        with self._lock:
            runner = self.runners.pop((namespace, name), None) if plural == "pods" else None
        if runner is not None:
            runner.stop(min(grace if grace is not None else 30.0, 5.0))
        try:
            obj = self.store.delete(plural, namespace, name)
        except NotFound:
            raise ApiError(404, "NotFound", f'{plural} "{name}" not found') from None
        obj["metadata"]["deletionTimestamp"] = rfc3339()
        self._collect_dependents(namespace, obj["metadata"].get("uid"))
        return obj

    def _collect_dependents(self, namespace: str, owner_uid: str | None) -> None:
        """The garbage collector's background deletion: objects owned by the deleted one go too."""
        if not owner_uid:
            return

        def owned(obj: Mapping[str, Any]) -> bool:
            refs = (obj.get("metadata") or {}).get("ownerReferences") or []
            return any(ref.get("uid") == owner_uid for ref in refs)

        for _prefix, plural in RESOURCES:
            for dependent in self.store.list(plural, namespace, owned):
                with contextlib.suppress(ApiError):  # deleted meanwhile: what the collector wanted anyway
                    self.delete(plural, namespace, dependent["metadata"]["name"], None)

    def audit(self, method: str, path: str, code: int, body: Any) -> None:
        """One JSON line per API answer in <state-dir>/audit.jsonl (tests check call order with it)."""
        entry: dict[str, Any] = {"time": time.time(), "method": method, "path": path, "code": code}
        if (isinstance(body, dict) and body.get("kind") == "Pod") or (
            isinstance(body, dict) and "spec" in body and "containers" in (body.get("spec") or {})
        ):
            entry["phase"] = (body.get("status") or {}).get("phase")
            entry["name"] = (body.get("metadata") or {}).get("name")
        line = json.dumps(entry) + "\n"
        with self._audit_lock, open(self.state_dir / "audit.jsonl", "a", encoding="utf-8") as handle:
            handle.write(line)

    def stop_all(self) -> None:
        with self._lock:
            runners = list(self.runners.values())
            self.runners.clear()
        for runner in runners:
            runner.stop(1.0)


def _flag(query: Mapping[str, str], name: str) -> bool:
    # Python clients send booleans as "True"; Go clients as "true".
    return query.get(name, "").lower() in ("true", "1")


def _query(path: str) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(path)
    return [p for p in parts.path.split("/") if p], dict(parse_qsl(parts.query, keep_blank_values=True))


def make_handler(cluster: Cluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "rdfox-k8s-emulator/1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: one line per poll would drown the emulator's log

        # --- plumbing -------------------------------------------------------------------------------------
        def _send_json(self, code: int, body: Any, warnings: tuple[str, ...] | list[str] = ()) -> None:
            cluster.audit(self.command, self.path, code, body)
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for warning in warnings:
                self.send_header("Warning", f"299 - {json.dumps(warning)}")
            self.end_headers()
            self.wfile.write(data)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # http.server's own answers (a request line it cannot parse, a method without do_*) as a
            # Kubernetes Status, not an HTML page. It could not read the request, so the connection closes.
            try:
                reason = HTTPStatus(code).phrase.replace(" ", "")
            except ValueError:
                reason = "Unknown"
            body = ApiError(code, reason, message or explain or reason).body()
            data = json.dumps(body).encode()
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _stream(self, chunks: Iterator[bytes], content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in chunks:
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _read_body(self) -> bytes:
            """The whole request body, read before any answer: bytes left unread on a keep-alive
            connection would be parsed as the next request (an error page nobody asked for)."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _body(self) -> Any:
            if not self._raw_body:
                return None
            try:
                return json.loads(self._raw_body)
            except ValueError:
                raise ApiError(400, "BadRequest", "request body is not JSON") from None

        def _dispatch(self, method: str) -> None:
            try:
                self._raw_body = self._read_body()
            except ValueError:
                self.close_connection = True
                return self._send_json(400, ApiError(400, "BadRequest", "malformed chunked body").body())
            try:
                parts, query = _query(self.path)
                self._route(method, parts, query)
            except ApiError as exc:
                self._send_json(exc.code, exc.body())
            except SelectorError as exc:
                self._send_json(400, ApiError(400, "BadRequest", str(exc)).body())
            except openapi.FieldValidationError as exc:
                self._send_json(400, ApiError(400, "BadRequest", str(exc)).body())

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        # --- routes ---------------------------------------------------------------------------------------
        def _route(self, method: str, parts: list[str], query: dict[str, str]) -> None:
            if method == "GET" and self._discovery(parts):
                return
            if parts[:2] == ["api", "v1"]:
                prefix, rest = "api/v1", parts[2:]
            elif parts[:1] == ["apis"] and "/".join(parts[1:3]) in API_GROUPS.values():
                prefix, rest = "/".join(parts[:3]), parts[3:]
            else:
                raise ApiError(
                    404, "NotFound", f"the server could not find the requested resource {self.path}"
                )
            if prefix == "api/v1" and rest[:1] == ["nodes"]:
                return self._nodes(rest[1:])
            if prefix == "api/v1" and (
                rest == ["namespaces"] or (len(rest) == 2 and rest[0] == "namespaces")
            ):
                return self._namespaces(method, rest[1:], query)
            namespace: str | None = None
            if rest[:1] == ["namespaces"] and len(rest) >= 2:
                namespace, rest = rest[1], rest[2:]
            if not rest or (prefix, rest[0]) not in RESOURCES:
                raise ApiError(
                    404, "NotFound", f"the server could not find the requested resource {self.path}"
                )
            plural = rest[0]
            if len(rest) == 1:
                if method == "GET":
                    return self._list(prefix, plural, namespace, query)
                if method == "POST" and namespace:
                    body = self._body() or {}
                    warnings = self._check_fields(prefix, plural, body, query)
                    created = (
                        cluster.create_pod(namespace, body)
                        if plural == "pods"
                        else cluster.create(plural, namespace, body)
                    )
                    return self._send_json(201, created, warnings)
            elif namespace and len(rest) in (2, 3):
                name, sub = rest[1], (rest[2] if len(rest) == 3 else None)
                if sub == "log" and plural == "pods" and method == "GET":
                    return self._log(namespace, name, query)
                if sub in (None, "status"):
                    return self._object(method, prefix, plural, namespace, name, query)
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {self.path}")

        def _discovery(self, parts: list[str]) -> bool:
            if parts == ["version"]:
                self._send_json(
                    200,
                    {
                        "major": "1",
                        "minor": "31",
                        "gitVersion": "v1.31.0-rdfox-emulator",
                        "platform": "linux/amd64",
                    },
                )
            elif parts in (["healthz"], ["readyz"], ["livez"]):
                data = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(data)
            elif parts == ["api"]:
                self._send_json(
                    200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
                )
            elif parts == ["apis"]:
                self._send_json(
                    200,
                    {
                        "kind": "APIGroupList",
                        "apiVersion": "v1",
                        "groups": [
                            {
                                "name": group,
                                "versions": [{"groupVersion": version, "version": "v1"}],
                                "preferredVersion": {"groupVersion": version, "version": "v1"},
                            }
                            for group, version in API_GROUPS.items()
                        ],
                    },
                )
            elif parts == ["api", "v1"] or (
                parts[:1] == ["apis"] and "/".join(parts[1:]) in API_GROUPS.values()
            ):
                group = "/".join(parts[1:]) if parts[0] == "apis" else "v1"
                self._send_json(
                    200,
                    {
                        "kind": "APIResourceList",
                        "groupVersion": group,
                        "resources": _api_resources("/".join(parts)),
                    },
                )
            elif parts == ["openapi", "v3"]:
                self._send_json(200, openapi.discovery())
            elif parts[:2] == ["openapi", "v3"] and "/".join(parts[2:]) in openapi.documents():
                self._send_json(200, openapi.documents()["/".join(parts[2:])])
            else:
                return False
            return True

        def _nodes(self, rest: list[str]) -> None:
            query = _query(self.path)[1]
            if not rest:
                return self._send_objects("Node", "v1", [cluster.node()], query)
            if rest[0] != NODE_NAME:
                raise ApiError(404, "NotFound", f'nodes "{rest[0]}" not found')
            return self._send_objects("Node", "v1", [cluster.node()], query, single=True)

        def _list(self, prefix: str, plural: str, namespace: str | None, query: dict[str, str]) -> None:
            kind, version = RESOURCES[(prefix, plural)]
            labels = label_selector(query.get("labelSelector"))
            fields = field_selector(query.get("fieldSelector"))

            def matches(obj: Mapping[str, Any]) -> bool:
                return labels(obj) and fields(obj)

            if _flag(query, "watch"):
                return self._watch(plural, namespace, matches, query)
            items = cluster.store.list(plural, namespace, matches)
            self._send_objects(kind, version, items, query)

        def _send_objects(
            self,
            kind: str,
            version: str,
            items: list[dict[str, Any]],
            query: dict[str, str],
            single: bool = False,
        ) -> None:
            """A list (or one object) as JSON, or as the Table that `kubectl get` asks for."""
            for item in items:
                item.setdefault("apiVersion", version)
                item.setdefault("kind", kind)
            if tables.wants_table(self.headers.get("Accept")):
                include = query.get("includeObject") or "Metadata"
                version_now = str(cluster.store.version)
                return self._send_json(
                    200, tables.table(kind, items, resource_version=version_now, include_object=include)
                )
            if single:
                return self._send_json(200, items[0])
            self._send_json(
                200,
                {
                    "apiVersion": version,
                    "kind": f"{kind}List",
                    "metadata": {"resourceVersion": str(cluster.store.version)},
                    "items": items,
                },
            )

        def _check_fields(self, prefix: str, plural: str, body: Any, query: dict[str, str]) -> list[str]:
            # Only when the client asks (kubectl does): the Python client never does, and loading the
            # schemas costs seconds once.
            directive = query.get("fieldValidation")
            if not directive:
                return []
            kind, version = RESOURCES[(prefix, plural)]
            return openapi.check_fields(kind, version, body, directive)

        def _namespaces(self, method: str, rest: list[str], query: dict[str, str]) -> None:
            if method == "GET" and not rest:
                return self._send_objects("Namespace", "v1", cluster.namespaces(), query)
            if method == "GET":
                found = [ns for ns in cluster.namespaces() if ns["metadata"]["name"] == rest[0]]
                if not found:
                    raise ApiError(404, "NotFound", f'namespaces "{rest[0]}" not found')
                return self._send_objects("Namespace", "v1", found, query, single=True)
            if method == "POST" and not rest:
                body = self._body() or {}
                name = (body.get("metadata") or {}).get("name") or ""
                if not _NAME_RE.match(name) or len(name) > 63:
                    raise ApiError(
                        422, "Invalid", f"metadata.name: Invalid value: {name!r}: a DNS-1123 label"
                    )
                if any(ns["metadata"]["name"] == name for ns in cluster.namespaces()):
                    raise ApiError(409, "AlreadyExists", f'namespaces "{name}" already exists')
                cluster.created_namespaces[name] = rfc3339()
                return self._send_json(201, cluster.namespace(name, cluster.created_namespaces[name]))
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {self.path}")

        def _watch(
            self,
            plural: str,
            namespace: str | None,
            matches: Callable[[Mapping[str, Any]], bool],
            query: dict[str, str],
        ) -> None:
            timeout = float(query.get("timeoutSeconds") or WATCH_DEFAULT_SECONDS)
            since = int(query.get("resourceVersion") or 0)

            def events() -> Iterator[bytes]:
                # Objects changed after `since`: ADDED for the first sighting, MODIFIED after. (Deletions of
                # watched kinds are not reported: nothing the operator uses needs them.)
                seen: dict[str, int] = {}
                last = since
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    for obj in cluster.store.list(plural, namespace, matches):
                        rv = int(obj["metadata"]["resourceVersion"])
                        if rv <= last:
                            continue
                        uid = obj["metadata"]["uid"]
                        kind = "MODIFIED" if uid in seen else "ADDED"
                        seen[uid] = rv
                        yield json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                        last = max(last, rv)
                    with cluster.store.changed:
                        cluster.store.changed.wait(
                            min(POLL_SECONDS * 5, max(0.0, deadline - time.monotonic()))
                        )
                    yield b""

            self._stream(events(), "application/json")

        def _object(
            self, method: str, prefix: str, plural: str, namespace: str, name: str, query: dict[str, str]
        ) -> None:
            if method == "GET":
                try:
                    obj = cluster.store.get(plural, namespace, name)
                except NotFound:
                    raise ApiError(404, "NotFound", f'{plural} "{name}" not found') from None
                kind, version = RESOURCES[(prefix, plural)]
                return self._send_objects(kind, version, [obj], query, single=True)
            if method == "DELETE":
                body = self._body() or {}
                grace = body.get("gracePeriodSeconds")
                return self._send_json(200, cluster.delete(plural, namespace, name, grace))
            if method == "PATCH":
                patch = self._body()
                warnings = self._check_fields(prefix, plural, patch, query)
                content_type = self.headers.get("Content-Type", "application/merge-patch+json")
                try:
                    updated = cluster.store.update(
                        plural, namespace, name, lambda obj: apply_patch(obj, patch, content_type)
                    )
                except NotFound:
                    raise ApiError(404, "NotFound", f'{plural} "{name}" not found') from None
                except ValueError as exc:
                    raise ApiError(422, "Invalid", str(exc)) from None
                return self._send_json(200, updated, warnings)
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {self.path}")

        def _log(self, namespace: str, name: str, query: dict[str, str]) -> None:
            try:
                pod = cluster.store.get("pods", namespace, name)
            except NotFound:
                raise ApiError(404, "NotFound", f'pods "{name}" not found') from None
            spec = pod.get("spec") or {}
            inits = [c["name"] for c in spec.get("initContainers") or []]
            mains = [c["name"] for c in spec.get("containers") or []]
            container = query.get("container")
            if not container:
                if len(mains) != 1:
                    raise ApiError(
                        400,
                        "BadRequest",
                        f"a container name must be specified for pod {name}, "
                        f"choose one of: {mains} or one of the init containers: {inits}",
                    )
                container = mains[0]
            if container not in inits + mains:
                raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
            state = _container_state(pod, container)
            if "waiting" in state or not state:
                reason = (state.get("waiting") or {}).get("reason", "ContainerCreating")
                raise ApiError(
                    400,
                    "BadRequest",
                    f'container "{container}" in pod "{name}" is waiting to start: {reason}',
                )
            with cluster._lock:
                runner = cluster.runners.get((namespace, name))
            if runner is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found')
            path = runner.log_path(container)
            timestamps = _flag(query, "timestamps")
            follow = _flag(query, "follow")
            lines, offset = container_logs.read_lines(path)
            selected = container_logs.select(lines, query)
            if not follow:
                data = b"".join(container_logs.render(selected, timestamps))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return

            def follow_lines() -> Iterator[bytes]:
                nonlocal offset
                yield b"".join(container_logs.render(selected, timestamps))
                while True:
                    running = _is_running(namespace, name, container)
                    more, offset = container_logs.read_lines(path, offset)
                    yield b"".join(container_logs.render(more, timestamps))
                    if not running:
                        return  # the container ended and everything it wrote has been sent
                    with cluster.store.changed:
                        cluster.store.changed.wait(POLL_SECONDS)

            self._stream(follow_lines(), "text/plain")

    def _is_running(namespace: str, name: str, container: str) -> bool:
        try:
            pod = cluster.store.get("pods", namespace, name)
        except NotFound:
            return False
        return "running" in _container_state(pod, container)

    return Handler


def _api_resources(prefix: str) -> list[dict[str, Any]]:
    """The APIResourceList entries of one group version: what kubectl resolves `get <name>` with."""
    served = [
        (plural, kind, True, ["create", "delete", "get", "list", "patch", "watch"])
        for (group_version, plural), (kind, _v) in RESOURCES.items()
        if group_version == prefix
    ]
    if prefix == "api/v1":
        served += [
            ("namespaces", "Namespace", False, ["create", "get", "list"]),
            ("nodes", "Node", False, ["get", "list"]),
        ]
    return [
        {
            "name": plural,
            "singularName": kind.lower(),
            "namespaced": namespaced,
            "kind": kind,
            "verbs": verbs,
            **({"shortNames": SHORT_NAMES[plural]} if plural in SHORT_NAMES else {}),
        }
        for plural, kind, namespaced, verbs in served
    ]


def _container_state(pod: Mapping[str, Any], container: str) -> dict[str, Any]:
    status = pod.get("status") or {}
    for entry in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        if entry.get("name") == container:
            return copy.deepcopy(entry.get("state") or {})
    return {}


def serve(cluster: Cluster, host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(cluster))
    server.daemon_threads = True
    return server
