"""The emulated scheduler's one decision: does the pod fit on the single node?

As kube-scheduler computes it: a pod's effective request is the larger of its biggest init container
request and the sum of its containers' requests (a limit stands in for a missing request). A pod that does
not fit stays Pending with ``PodScheduled=False/Unschedulable`` and a FailedScheduling event, forever: that
is what the operator's schedule timeout must catch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psutil
from rdfox_pipeline.domain.validators import quantity_bytes

RESOURCES = ("cpu", "memory")
DEFAULT_CPUS = 64
DEFAULT_MEMORY = 256 * 2**30


@dataclass(frozen=True)
class NodeCapacity:
    cpu: Decimal
    memory: Decimal

    @classmethod
    def of_this_machine(cls, cpu: str | None = None, memory: str | None = None) -> NodeCapacity:
        """A big virtual node by default (at least 64 cores / 256Gi), so that a laptop accepts
        production-sized jobspecs (the pods only *request* it; the memory limit is still enforced).
        Pass explicit values to emulate a real node's size."""
        return cls(
            cpu=quantity_bytes(cpu) if cpu else Decimal(max(DEFAULT_CPUS, os.cpu_count() or 1)),
            memory=quantity_bytes(memory)
            if memory
            else Decimal(max(DEFAULT_MEMORY, psutil.virtual_memory().total)),
        )

    def as_quantities(self) -> dict[str, str]:
        return {"cpu": str(self.cpu), "memory": str(int(self.memory)), "pods": "110"}


def _request(container: Mapping[str, Any], name: str) -> Decimal:
    resources = container.get("resources") or {}
    value = (resources.get("requests") or {}).get(name) or (resources.get("limits") or {}).get(name)
    return quantity_bytes(str(value)) if value else Decimal(0)


def pod_requests(spec: Mapping[str, Any]) -> dict[str, Decimal]:
    inits = spec.get("initContainers") or []
    mains = spec.get("containers") or []
    return {
        name: max([sum((_request(c, name) for c in mains), Decimal(0)), *(_request(c, name) for c in inits)])
        for name in RESOURCES
    }


def unschedulable_reason(spec: Mapping[str, Any], capacity: NodeCapacity) -> str | None:
    """The scheduler's message when the pod cannot fit, else None."""
    requested = pod_requests(spec)
    short = [name for name in RESOURCES if requested[name] > getattr(capacity, name)]
    if not short:
        return None
    reasons = ", ".join(f"1 Insufficient {name}" for name in short)
    return (
        f"0/1 nodes are available: {reasons}. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )
