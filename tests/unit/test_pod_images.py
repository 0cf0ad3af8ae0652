"""The step images' Dockerfile: slim Python base, non-root, and entrypoints that are this repo's modules --
which import only what the image copies (no Airflow, no pydantic, nothing outside the COPY lines)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rdfox_pipeline.domain.jobspec import parse_jobspec
from rdfox_pipeline.domain.settings import resolve_settings
from rdfox_pipeline.pod.manifest import build_pod_manifest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "include" / "docker" / "steps.Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _entrypoints() -> dict[str, list[str]]:
    stage, found = None, {}
    for keyword, rest in _instructions():
        if keyword == "FROM":
            stage = rest.split(" AS ")[-1] if " AS " in rest else None
        elif keyword == "ENTRYPOINT":
            found[stage] = json.loads(rest)
    return found


def test_base_is_slim_python_and_user_is_numeric_non_root() -> None:
    froms = [rest for keyword, rest in _instructions() if keyword == "FROM"]
    assert re.match(r"python:\$\{PYTHON_VERSION\}-slim", froms[0])
    users = [rest for keyword, rest in _instructions() if keyword == "USER"]
    assert users and all(re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", u) for u in users)


def test_copied_paths_exist() -> None:
    for keyword, rest in _instructions():
        if keyword == "COPY" and "--from" not in rest:
            source = rest.split()[0]
            assert (REPO / source).exists(), source


def test_entrypoints_match_the_manifest_commands() -> None:
    spec = parse_jobspec({"dataset": "DATASET", "job_bucket": "in-bucket", "output_bucket": "out-bucket"})
    manifest = build_pod_manifest(spec, "DATASET_2021-08-01_000", resolve_settings(env={}))
    containers = {
        c["name"]: c for c in [*manifest["spec"]["initContainers"], *manifest["spec"]["containers"]]
    }
    entrypoints = _entrypoints()
    assert containers["prepare"]["command"] == entrypoints["prepare"]
    assert containers["base"]["command"] == entrypoints["publish"]


@pytest.mark.parametrize("stage", ["prepare", "publish"])
def test_entrypoint_imports_only_what_the_image_holds(stage: str) -> None:
    module = _entrypoints()[stage][-1]
    sources = [rest.split()[0] for keyword, rest in _instructions() if keyword == "COPY"]
    copied = [REPO / s for s in sources if s.startswith(("plugins/", "include/rdfox_local"))]
    probe = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        "print(json.dumps({n: getattr(m, '__file__', None) for n, m in sys.modules.items()}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = json.loads(result.stdout.splitlines()[-1])
    assert not [n for n in modules if n.split(".")[0] in ("airflow", "pydantic", "kubernetes")]
    ours = [f for n, f in modules.items() if n.split(".")[0] in ("rdfox_pipeline", "rdfox_local") and f]
    assert ours
    for path in ours:
        assert any(Path(path).resolve().is_relative_to(c.resolve()) for c in copied), path
