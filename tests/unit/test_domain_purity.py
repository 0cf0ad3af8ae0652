"""The domain core imports no Airflow, AWS SDK or HTTP client, and importing it loads none of them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rdfox_pipeline.domain

DOMAIN = Path(rdfox_pipeline.domain.__file__).parent
FORBIDDEN = {
    "airflow",
    "boto3",
    "botocore",
    "aiobotocore",
    "requests",
    "aiohttp",
    "kubernetes",
    "httpx",
    "urllib3",
}


def test_no_forbidden_import_statements() -> None:
    offenders = []
    for path in sorted(DOMAIN.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
    assert len(list(DOMAIN.glob("*.py"))) >= 9  # the walk saw the modules


def test_importing_the_domain_loads_none_of_them() -> None:
    code = (
        "import sys, importlib, pkgutil, rdfox_pipeline.domain as d\n"
        "for m in pkgutil.iter_modules(d.__path__):\n"
        "    importlib.import_module('rdfox_pipeline.domain.' + m.name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
