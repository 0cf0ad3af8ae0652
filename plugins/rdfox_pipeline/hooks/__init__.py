"""Airflow hooks of the pipeline; imported lazily so that ``import rdfox_pipeline.hooks`` stays cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdfox_pipeline.hooks.job_metadata import (
        JobAlreadyFinished as JobAlreadyFinished,
    )
    from rdfox_pipeline.hooks.job_metadata import (
        JobMetadataError as JobMetadataError,
    )
    from rdfox_pipeline.hooks.job_metadata import (
        JobMetadataHook as JobMetadataHook,
    )
    from rdfox_pipeline.hooks.job_metadata import (
        JobNotFound as JobNotFound,
    )
    from rdfox_pipeline.hooks.job_metadata import (
        UnexpectedJobStatus as UnexpectedJobStatus,
    )

_LAZY = {
    "JobMetadataHook": "rdfox_pipeline.hooks.job_metadata",
    # The errors live with the table code (no Airflow import needed to catch them).
    "JobMetadataError": "rdfox_pipeline.aws.job_table",
    "JobNotFound": "rdfox_pipeline.aws.job_table",
    "JobAlreadyFinished": "rdfox_pipeline.aws.job_table",
    "UnexpectedJobStatus": "rdfox_pipeline.aws.job_table",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
