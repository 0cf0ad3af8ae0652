"""Every task of the DAG carries its doc_md, and the docs name the extra links the task really has."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from rdfox_pipeline.task_docs import TASK_DOCS, apply_task_docs

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "rdfox_neptune_pipeline.py"


@pytest.fixture(scope="module")
def dag() -> Any:
    return runpy.run_path(str(DAG_FILE))["dag"]


def test_every_task_has_its_doc_and_no_doc_is_stale(dag: Any) -> None:
    assert set(TASK_DOCS) == set(dag.task_ids), "TASK_DOCS and the DAG's tasks differ"
    for task in dag.tasks:
        assert task.doc_md == TASK_DOCS[task.task_id].strip(), task.task_id


def test_docs_name_exactly_the_tasks_extra_links(dag: Any) -> None:
    from rdfox_pipeline.links import ALL_LINKS

    for task in dag.tasks:
        # A mapped task's links are its operator class's; a provider's own links (Triggered DAG) are not ours.
        links = getattr(task, "operator_class", type(task)).operator_extra_links
        ours = {link.name for link in ALL_LINKS}
        own = {link.name for link in links} & ours
        named = {name for name in ours if f"**{name}**" in task.doc_md}
        assert named == own, task.task_id


def test_apply_keeps_a_task_own_doc() -> None:
    class Task:
        def __init__(self, task_id: str, doc_md: str | None) -> None:
            self.task_id, self.doc_md = task_id, doc_md

    class Dag:
        tasks = [Task("reason", "mine"), Task("notify", None), Task("other", None)]

    apply_task_docs(Dag)
    assert [t.doc_md for t in Dag.tasks] == ["mine", TASK_DOCS["notify"].strip(), None]
