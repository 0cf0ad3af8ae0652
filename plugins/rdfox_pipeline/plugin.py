"""The pipeline's Airflow plugin, found by Airflow in its plugins folder (plugins/, plugins.zip on MWAA).

Only this file is loaded as the plugin (``.airflowignore`` beside it keeps Airflow from importing every other
module of the package a second time under a bare name); no entry point either (it would register it twice).

Airflow 2+ (and so 3.3) plugins no longer carry hooks or operators: those are imported by module path, e.g.
``from rdfox_pipeline.hooks import JobMetadataHook``, which works on MWAA because ``plugins.zip`` is on
``sys.path``. What a plugin still registers, and this one does, is what Airflow looks up *by name*:
template macros (``{{ macros.rdfox_pipeline.job_record(job_id) }}``) and operator extra links.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from rdfox_pipeline.links import ALL_LINKS

PLUGIN_NAME = "rdfox_pipeline"

# Import paths of what the plugin provides, for discovery (DAG authors, `airflow plugins`, docs).
HOOKS = {"JobMetadataHook": "rdfox_pipeline.hooks.job_metadata.JobMetadataHook"}
OPERATORS = {"JobNotificationOperator": "rdfox_pipeline.operators.job_notification.JobNotificationOperator"}


def job_record(job_id: str, aws_conn_id: str | None = "aws_default") -> dict[str, Any]:
    """Template macro: the job's DynamoDB record (raises ``JobNotFound`` for an unknown id).

    Imported lazily: the plugin is loaded by every Airflow component, most of which never touch DynamoDB.
    """
    from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

    return JobMetadataHook(aws_conn_id=aws_conn_id).require_job(job_id)


class RdfoxPipelinePlugin(AirflowPlugin):
    """Registers the pipeline's macros; operator extra links are added here as the operators get them."""

    name = PLUGIN_NAME
    macros = [job_record]
    # The links are attached to their operators (operator_extra_links); listed here so that `airflow plugins`
    # and the UI's plugin page show them. Their `operators` are empty: no second attachment.
    operator_extra_links: list[Any] = list(ALL_LINKS)
    global_operator_extra_links: list[Any] = []
