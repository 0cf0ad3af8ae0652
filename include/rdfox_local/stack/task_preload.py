"""What the local Airflow's task processes import, imported once before they are forked.

Under the LocalExecutor every task runs in a process forked by an executor worker; it parses the DAG file
and imports the operators, the Amazon and Kubernetes providers, boto3 and the Kubernetes client: about 4 to
5 s of CPU per task, so a job of ten tasks spends most of its CPU importing. Airflow 3.3's
``[scheduler] mp_start_method = forkserver`` with ``mp_forkserver_preload`` starts the workers from a
process that has imported the modules named there, and the task processes inherit them copy-on-write.
The local stack names there (``stack.environment()``) what the tasks use: every module the DAG file imports
(at any depth, read from its source, so the list follows the DAG) and the hooks the operators import only
when they run. Airflow 3.0 has neither option and imports per task, as before.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

# Imported inside the operators' execute() (so that parsing the DAG stays light): named here.
RUN_TIME_MODULES = (
    "airflow.sdk.execution_time.task_runner",
    "airflow.providers.standard.operators.empty",
    "airflow.providers.amazon.aws.hooks.s3",
    "airflow.providers.amazon.aws.hooks.sns",
    "airflow.providers.amazon.aws.utils",
    "airflow.providers.cncf.kubernetes.hooks.kubernetes",
    "botocore.auth",
    "botocore.awsrequest",
    "kubernetes.client",
    "rdfox_pipeline.aws.settings_loader",
    "rdfox_pipeline.hooks.job_metadata",
    "rdfox_pipeline.hooks.neptune_loader",
)


def dag_file_imports(path: Path) -> Iterator[str]:
    """The absolute module names ``path`` imports, in any scope (``import x`` and ``from x import y``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def task_modules(dag_file: Path) -> list[str]:
    """Every module to preload: the DAG file's imports, then the run-time ones, without repeats (and without
    the standard library's, which every Python process has imported or imports in no time)."""
    names = [*dag_file_imports(dag_file), *RUN_TIME_MODULES]
    return list(dict.fromkeys(n for n in names if n.split(".")[0] not in sys.stdlib_module_names))

