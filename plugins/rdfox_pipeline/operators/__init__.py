"""Airflow operators of the pipeline, one concept a module; imported by module path, e.g.
``from rdfox_pipeline.operators.job_notification import JobNotificationOperator``.

``from rdfox_pipeline.operators import JobNotificationOperator`` also works and imports lazily, so that
importing this package costs nothing until an operator is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdfox_pipeline.operators.job_notification import JobNotificationOperator as JobNotificationOperator

_LAZY = {"JobNotificationOperator": "rdfox_pipeline.operators.job_notification"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
