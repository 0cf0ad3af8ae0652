"""bandit finds nothing of medium or high severity in the shipped code (plugins, dags, include),
with the project's configuration; a reviewed exception carries ``# nosec <ID>`` and its reason on the line.
``make lint`` runs bandit too (any severity); this test keeps the medium/high promise inside ``make test``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bandit_no_medium_or_high_findings() -> None:
    bandit = str(Path(sys.executable).with_name("bandit"))
    done = subprocess.run(
        [bandit, "-q", "-c", "pyproject.toml", "-r", "plugins", "dags", "include", "-ll", "-f", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    findings = [
        f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_severity']}: {r['issue_text']}"
        for r in report["results"]
        if r["issue_severity"] in ("MEDIUM", "HIGH")
    ]
    assert findings == [], "\n".join(findings)
    assert not report["errors"], report["errors"]
    # Everything was scanned: the package and the DAG at least.
    scanned = set(report["metrics"]) - {"_totals"}
    assert any(name.endswith("dags/rdfox_neptune_pipeline.py") for name in scanned)
    assert any("plugins/rdfox_pipeline/operators" in name for name in scanned)
