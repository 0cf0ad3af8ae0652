"""Runs one pod as local processes, the way a kubelet would, and keeps its status in the store.

Init containers run one after the other, then the containers (in parallel). restartPolicy is treated as
Never. Failures show up as Kubernetes shows them: an unmapped image leaves the container waiting with
ErrImagePull / ImagePullBackOff (the pod stays Pending); a missing secret gives CreateContainerConfigError;
a non-zero exit is ``terminated`` with reason Error; going over the memory limit kills the container's
processes (cgroup v2 group kill) with reason OOMKilled and exit code 137.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import signal
import subprocess  # the emulated kubelet runs containers as processes  # nosec B404
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil
from rdfox_pipeline.domain.validators import quantity_bytes

from rdfox_local.k8s_emulator.clock import rfc3339, rfc3339_nano
from rdfox_local.k8s_emulator.images import ImageMap, ImageSpec
from rdfox_local.k8s_emulator.paths import PathMap
from rdfox_local.k8s_emulator.scheduling import NodeCapacity, unschedulable_reason
from rdfox_local.k8s_emulator.store import NotFound, Store

_SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")

NODE_NAME = "emulated-node"
NODE_IP = "127.0.0.1"
MEMORY_POLL_SECONDS = 0.2
PULL_BACKOFF_SECONDS = 1.0
CONFIG_RETRY_SECONDS = 1.0
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


class ContainerConfigError(Exception):
    """The container cannot be configured (missing secret, unsupported source)."""


def _expand_refs(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in command, args and env values; ``$$`` escapes."""
    return _VAR_REF.sub(lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), text)


class PodRunner:
    """The lifecycle of one pod; ``start()`` runs it on a thread, ``stop()`` kills it (pod deletion)."""

    def __init__(
        self,
        store: Store,
        namespace: str,
        name: str,
        *,
        images: ImageMap,
        secrets_dir: Path,
        state_dir: Path,
        environ: Mapping[str, str],
        capacity: NodeCapacity | None = None,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.namespace = namespace
        self.name = name
        self.images = images
        self.secrets_dir = secrets_dir
        self.environ = environ
        pod = store.get("pods", namespace, name)
        self.uid = pod["metadata"]["uid"]
        self.spec: dict[str, Any] = pod.get("spec") or {}
        self.pod_dir = state_dir / "pods" / namespace / f"{name}-{self.uid[:8]}"
        self.stopping = threading.Event()
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"pod-{name}", daemon=True)

    # --- status bookkeeping -------------------------------------------------------------------------------
    def log_path(self, container: str) -> Path:
        return self.pod_dir / "logs" / f"{container}.log"

    def _update(self, change: Any) -> None:
        try:
            self.store.update("pods", self.namespace, self.name, change)
        except NotFound:
            self.stopping.set()  # deleted under us

    def _event(
        self,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        field_path: str | None = None,
        component: str = "kubelet",
    ) -> None:
        stamp = rfc3339()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{self.name}.{uuid.uuid4().hex[:16]}"},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                **({"fieldPath": field_path} if field_path else {}),
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": component, **({"host": NODE_NAME} if component == "kubelet" else {})},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": NODE_NAME if component == "kubelet" else "",
        }
        self.store.create("events", self.namespace, event)

    def _set_container(self, init: bool, cname: str, state: dict[str, Any], **extra: Any) -> None:
        key = "initContainerStatuses" if init else "containerStatuses"

        def change(pod: dict[str, Any]) -> None:
            for status in pod["status"][key]:
                if status["name"] == cname:
                    status["state"] = state
                    status.update(extra)

        self._update(change)

    def _set_pod(self, **fields: Any) -> None:
        conditions = fields.pop("conditions", None)

        def change(pod: dict[str, Any]) -> None:
            pod["status"].update(fields)
            for ctype, value in (conditions or {}).items():
                for cond in pod["status"]["conditions"]:
                    if cond["type"] == ctype and cond["status"] != value[0]:
                        cond.update(status=value[0], lastTransitionTime=rfc3339())
                        cond.pop("reason", None)
                        if value[1]:
                            cond["reason"] = value[1]

        self._update(change)

    def _initial_status(self) -> None:
        stamp = rfc3339()

        def status_of(c: dict[str, Any], init: bool) -> dict[str, Any]:
            return {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": "PodInitializing"}},
                "lastState": {},
            }

        has_init = bool(self.spec.get("initContainers"))

        def change(pod: dict[str, Any]) -> None:
            pod["spec"]["nodeName"] = NODE_NAME
            pod["status"] = {
                "phase": "Pending",
                "hostIP": NODE_IP,
                "hostIPs": [{"ip": NODE_IP}],
                "podIP": NODE_IP,
                "podIPs": [{"ip": NODE_IP}],
                "startTime": stamp,
                "qosClass": self._qos_class(),
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
                    {
                        "type": "Initialized",
                        "status": "False" if has_init else "True",
                        "lastTransitionTime": stamp,
                        **({"reason": "ContainersNotInitialized"} if has_init else {}),
                    },
                    {
                        "type": "ContainersReady",
                        "status": "False",
                        "lastTransitionTime": stamp,
                        "reason": "ContainersNotReady",
                    },
                    {
                        "type": "Ready",
                        "status": "False",
                        "lastTransitionTime": stamp,
                        "reason": "ContainersNotReady",
                    },
                ],
                "initContainerStatuses": [status_of(c, True) for c in self.spec.get("initContainers") or []],
                "containerStatuses": [status_of(c, False) for c in self.spec.get("containers") or []],
            }

        self._update(change)
        self._event(
            "Scheduled",
            f"Successfully assigned {self.namespace}/{self.name} to {NODE_NAME}",
            component="default-scheduler",
        )

    def _qos_class(self) -> str:
        containers = [*(self.spec.get("initContainers") or []), *(self.spec.get("containers") or [])]
        resources = [c.get("resources") or {} for c in containers]
        if not any(r.get("requests") or r.get("limits") for r in resources):
            return "BestEffort"
        guaranteed = all(
            (r.get("limits") or {}).get(k)
            and (r.get("requests") or {}).get(k, (r.get("limits") or {})[k]) == (r.get("limits") or {})[k]
            for r in resources
            for k in ("cpu", "memory")
        )
        return "Guaranteed" if guaranteed else "Burstable"

    # --- running ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Pod deletion: TERM every running container's processes, KILL what is left after the grace."""
        self.stopping.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()

    def _unschedulable(self, message: str) -> None:
        """Stay Pending, unscheduled, as kube-scheduler leaves a pod that fits no node."""
        stamp = rfc3339()

        def change(pod: dict[str, Any]) -> None:
            pod["status"] = {
                "phase": "Pending",
                "qosClass": self._qos_class(),
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": message,
                        "lastProbeTime": None,
                        "lastTransitionTime": stamp,
                    }
                ],
            }

        self._update(change)
        self._event("FailedScheduling", message, warning=True, component="default-scheduler")
        self.stopping.wait()

    def _run(self) -> None:
        reason = unschedulable_reason(self.spec, self.capacity) if self.capacity else None
        if reason:
            self._unschedulable(reason)
            return
        self._prepare_volumes()
        self._initial_status()
        deadline = self.spec.get("activeDeadlineSeconds")
        if deadline:
            threading.Thread(target=self._enforce_deadline, args=(float(deadline),), daemon=True).start()
        for container in self.spec.get("initContainers") or []:
            result = self._run_container(container, init=True)
            if result is None:
                return  # stuck waiting (image pull / config) or deleted: the pod stays Pending
            if result != 0:
                self._set_pod(
                    phase="Failed",
                    conditions={
                        "Initialized": ("False", "PodFailed"),
                        "Ready": ("False", "PodFailed"),
                        "ContainersReady": ("False", "PodFailed"),
                    },
                )
                return
        self._set_pod(conditions={"Initialized": ("True", None)})
        results: dict[str, int | None] = {}
        threads = [
            threading.Thread(
                target=lambda c=c: results.__setitem__(c["name"], self._run_container(c, init=False)),
                daemon=True,
            )
            for c in self.spec.get("containers") or []
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.stopping.is_set() or any(code is None for code in results.values()):
            return
        failed = any(code != 0 for code in results.values())
        self._set_pod(
            phase="Failed" if failed else "Succeeded",
            conditions={
                "Ready": ("False", "PodFailed" if failed else "PodCompleted"),
                "ContainersReady": ("False", "PodFailed" if failed else "PodCompleted"),
            },
        )

    def _enforce_deadline(self, seconds: float) -> None:
        """activeDeadlineSeconds: a pod still active after it is killed and Failed/DeadlineExceeded."""
        if self.stopping.wait(seconds):
            return
        try:
            phase = (self.store.get("pods", self.namespace, self.name).get("status") or {}).get("phase")
        except NotFound:
            return
        if phase in ("Succeeded", "Failed"):
            return
        self.stopping.set()  # the runner threads now leave the statuses to us
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            _signal_group(proc, signal.SIGKILL)
        message = "Pod was active on the node longer than the specified deadline"
        self._set_pod(
            phase="Failed",
            reason="DeadlineExceeded",
            message=message,
            conditions={"Ready": ("False", "PodFailed"), "ContainersReady": ("False", "PodFailed")},
        )
        self._event("DeadlineExceeded", message, warning=True)

    def _prepare_volumes(self) -> dict[str, Path]:
        self.volume_dirs: dict[str, Path] = {}
        for volume in self.spec.get("volumes") or []:
            path = self.pod_dir / "volumes" / volume["name"]
            path.mkdir(parents=True, exist_ok=True)
            secret = volume.get("secret")
            if secret:  # a Secret volume: its keys become files
                for key, value in (self._secret(secret.get("secretName", "")) or {}).items():
                    (path / key).write_bytes(value)
            self.volume_dirs[volume["name"]] = path
        (self.pod_dir / "logs").mkdir(parents=True, exist_ok=True)
        return self.volume_dirs

    def _wait_for_image(self, init: bool, container: dict[str, Any]) -> None:
        cname, image = container["name"], container.get("image", "")
        field_path = f"spec.{'initContainers' if init else 'containers'}{{{cname}}}"
        detail = (
            f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
            f"{image}: not found (no entry in the emulator's image map)"
        )
        self._event("Pulling", f'Pulling image "{image}"', field_path=field_path)
        message = f'Failed to pull image "{image}": rpc error: code = NotFound desc = {detail}'
        self._event("Failed", message, warning=True, field_path=field_path)
        self._event("Failed", "Error: ErrImagePull", warning=True, field_path=field_path)
        self._set_container(init, cname, {"waiting": {"reason": "ErrImagePull", "message": message}})
        if self.stopping.wait(PULL_BACKOFF_SECONDS):
            return
        backoff = f'Back-off pulling image "{image}": ErrImagePull: {detail}'
        self._event("BackOff", backoff, field_path=field_path)
        self._event("Failed", "Error: ImagePullBackOff", warning=True, field_path=field_path)
        self._set_container(init, cname, {"waiting": {"reason": "ImagePullBackOff", "message": backoff}})
        self.stopping.wait()

    def _secret(self, name: str) -> dict[str, bytes] | None:
        """A Secret's keys: one created through the API in the pod's namespace, else the secrets dir's
        ``<dir>/<name>/<key>`` files (what the local stack provisions); None when neither exists."""
        try:
            stored = self.store.get("secrets", self.namespace, name)
        except NotFound:
            stored = None
        if stored is not None:
            return {key: base64.b64decode(value) for key, value in (stored.get("data") or {}).items()}
        if not _SECRET_NAME.fullmatch(name):  # as the API validates it; never a path out of the dir
            return None
        directory = self.secrets_dir / name
        if not directory.is_dir():
            return None
        return {item.name: item.read_bytes() for item in directory.iterdir() if item.is_file()}

    def _container_env(self, container: dict[str, Any], path_map: PathMap) -> dict[str, str]:
        env: dict[str, str] = {"PATH": self.environ.get("PATH", "/usr/bin:/bin"), "HOSTNAME": self.name}
        env.update(self.images.injected_env(self.environ))
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef")
            if not ref:
                raise ContainerConfigError("envFrom: only secretRef is supported by the emulator")
            values = self._secret(ref["name"])
            if values is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'secret "{ref["name"]}" not found')
            for key in sorted(values):
                env[source.get("prefix", "") + key] = values[key].decode("utf-8")
        for var in container.get("env") or []:
            name = var["name"]
            if "value" in var or "valueFrom" not in var:
                env[name] = path_map.rewrite(_expand_refs(str(var.get("value") or ""), env))
                continue
            value = self._value_from(var["valueFrom"], name)
            if value is not None:
                env[name] = value
        env["RDFOX_LOCAL_PATH_MAP"] = path_map.to_json()
        return env

    def _value_from(self, source: Mapping[str, Any], name: str) -> str | None:
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            values = self._secret(ref.get("name", ""))
            if values is not None and ref.get("key", "") in values:
                return values[ref["key"]].decode("utf-8")
            if ref.get("optional"):
                return None
            if values is None:
                raise ContainerConfigError(f'secret "{ref.get("name")}" not found')
            raise ContainerConfigError(
                f"couldn't find key {ref.get('key')} in Secret {self.namespace}/{ref.get('name')}"
            )
        if "fieldRef" in source:
            pod = self.store.get("pods", self.namespace, self.name)
            path = source["fieldRef"].get("fieldPath", "")
            node: Any = pod
            for part in path.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            return "" if node is None else str(node)
        raise ContainerConfigError(f"env {name}: only value, secretKeyRef and fieldRef are supported")

    def _run_container(self, container: dict[str, Any], *, init: bool) -> int | None:
        """Run one container to its end; its exit code, or None if it never ran (waiting) or was deleted."""
        if self.stopping.is_set():
            return None
        cname, image = container["name"], container.get("image", "")
        field_path = f"spec.{'initContainers' if init else 'containers'}{{{cname}}}"
        spec = self.images.resolve(image)
        if spec is None:
            self._wait_for_image(init, container)
            return None
        mounts = {
            m["mountPath"]: str(self.volume_dirs[m["name"]])
            for m in container.get("volumeMounts") or []
            if m.get("name") in self.volume_dirs
        }
        container_dir = self.pod_dir / "containers" / cname
        shims = spec.write_shims(container_dir / "bin")
        path_map = PathMap({**mounts, **{p: s for p, s in shims.items() if p.startswith("/")}})
        failed_before = False
        while True:  # as a kubelet does, retry: a Secret created after the pod is picked up
            try:
                env = self._container_env(container, path_map)
                break
            except ContainerConfigError as exc:
                if not failed_before:
                    self._event("Failed", f"Error: {exc}", warning=True, field_path=field_path)
                    self._set_container(
                        init,
                        cname,
                        {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}},
                    )
                    failed_before = True
                if self.stopping.wait(CONFIG_RETRY_SECONDS):
                    return None
        env["PATH"] = f"{container_dir / 'bin'}{os.pathsep}{env['PATH']}"
        image_id = "emulated://sha256:" + hashlib.sha256(image.encode()).hexdigest()
        container_id = f"emulated://{uuid.uuid4().hex}"
        self._event("Pulled", f'Container image "{image}" already present on machine', field_path=field_path)
        self._event("Created", f"Created container {cname}", field_path=field_path)
        (container_dir / "work").mkdir(parents=True, exist_ok=True)
        started = rfc3339()
        try:
            argv = self._argv(container, spec, env, path_map, shims)
            proc = subprocess.Popen(  # noqa: S603 - argv: the pod spec + image map, like a kubelet  # nosec B603
                argv,
                env=env,
                cwd=container_dir / "work",
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # stdin: true keeps the container's stdin open (nothing is ever written to it).
                stdin=subprocess.PIPE if container.get("stdin") else subprocess.DEVNULL,
                start_new_session=True,
            )
        except (OSError, ContainerConfigError) as exc:
            message = f"failed to create containerd task: {getattr(exc, 'strerror', None) or exc}"
            self._event("Failed", f"Error: {message}", warning=True, field_path=field_path)
            self._set_container(
                init,
                cname,
                {
                    "terminated": {
                        "exitCode": 128,
                        "reason": "StartError",
                        "message": message,
                        "startedAt": started,
                        "finishedAt": rfc3339(),
                        "containerID": container_id,
                    }
                },
                imageID=image_id,
                containerID=container_id,
            )
            return 128
        with self._lock:
            self._procs[cname] = proc
        self._set_container(
            init,
            cname,
            {"running": {"startedAt": started}},
            imageID=image_id,
            containerID=container_id,
            started=True,
            ready=not init,
        )
        self._event("Started", f"Started container {cname}", field_path=field_path)
        if not init:
            self._set_pod(
                phase="Running", conditions={"Ready": ("True", None), "ContainersReady": ("True", None)}
            )
        reader = threading.Thread(target=self._pump_logs, args=(proc, cname), daemon=True)
        reader.start()
        limit = _memory_limit(container)
        oom = self._watch_memory(proc, limit)
        code, peak_rss = _reap(proc)
        if not oom and limit is not None and peak_rss > limit:
            # Went over between two polls and finished: a cgroup would have killed it, so report that.
            oom, code = True, 128 + signal.SIGKILL
        reader.join()
        with self._lock:
            self._procs.pop(cname, None)
        if self.stopping.is_set():
            return None
        exit_code = code if code >= 0 else 128 - code
        reason = "OOMKilled" if oom else ("Completed" if exit_code == 0 else "Error")
        terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": rfc3339(),
            "containerID": container_id,
        }
        if exit_code != 0 and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            terminated["message"] = self._log_tail(cname)
        self._set_container(
            init,
            cname,
            {"terminated": terminated},
            ready=False,
            started=False,
        )
        return exit_code

    def _argv(
        self,
        container: dict[str, Any],
        spec: ImageSpec,
        env: Mapping[str, str],
        path_map: PathMap,
        shims: Mapping[str, str],
    ) -> list[str]:
        command = list(container.get("command") or spec.entrypoint)
        args = list(container.get("args") or [])
        argv = [path_map.rewrite(_expand_refs(part, env)) for part in command + args]
        if not argv:
            raise ContainerConfigError("no command given and the image map has no entrypoint for the image")
        # The program is looked up in the image, not on this machine: only mapped programs exist.
        program = shims.get(argv[0]) or (argv[0] if argv[0] in shims.values() else None)
        if program is None:
            raise ContainerConfigError(
                f'exec: "{argv[0]}": executable file not found in $PATH (not in the image map)'
            )
        argv[0] = program
        return argv

    def _log_tail(self, cname: str) -> str:
        """The log tail a kubelet keeps under FallbackToLogsOnError: last 80 lines, at most 2048 bytes."""
        try:
            lines = self.log_path(cname).read_bytes().splitlines()[-80:]
        except FileNotFoundError:
            return ""
        text = b"\n".join(line.split(b" ", 1)[-1] for line in lines)  # without the stored timestamps
        return text[-2048:].decode("utf-8", errors="replace")

    def _pump_logs(self, proc: subprocess.Popen, cname: str) -> None:
        assert proc.stdout is not None
        with open(self.log_path(cname), "ab") as log:
            for raw in iter(proc.stdout.readline, b""):
                line = raw.rstrip(b"\n")
                log.write(rfc3339_nano().encode() + b" " + line + b"\n")
                log.flush()
                with self.store.changed:
                    self.store.changed.notify_all()  # wake log followers

    def _watch_memory(self, proc: subprocess.Popen, limit: int | None) -> bool:
        """Kill the container's processes when their RSS passes the memory limit; True if it did.

        Leaves an exited process unreaped, so that ``_reap`` can still read its peak memory."""
        if limit is None:
            return False
        while _running(proc):
            if _group_rss(proc.pid) > limit:
                _signal_group(proc, signal.SIGKILL)
                return True
            time.sleep(MEMORY_POLL_SECONDS)
        return False


def _memory_limit(container: Mapping[str, Any]) -> int | None:
    limit_text = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return int(quantity_bytes(str(limit_text))) if limit_text else None


def _running(proc: subprocess.Popen) -> bool:
    """Whether the process is still running, without reaping it (``Popen.poll`` would)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:  # already reaped (the pod is being stopped)
        return False


def _reap(proc: subprocess.Popen) -> tuple[int, int]:
    """Wait for the process; return its exit status and the peak RSS in bytes of the largest process in it.

    The kernel keeps that peak for the process and its waited-for descendants: a container that went over
    its limit between two polls of ``_watch_memory`` is still caught."""
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:  # reaped by the stopping thread
        return proc.wait(), 0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def _group_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
