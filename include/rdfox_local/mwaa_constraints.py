"""Write the constraints file that an MWAA environment installs the bundle's requirements under.

``python -m rdfox_local.mwaa_constraints`` (``make mwaa-constraints``) writes
``deploy/mwaa/constraints-<airflow>-python<python>.txt``; ``make mwaa-bundle`` ships it in ``dags/``.

Why a file of our own: MWAA installs ``requirements.txt`` under a constraints file, by default Airflow's own
for the environment's version. That file pins the providers released with that Airflow (for 3.0.6: Amazon
9.12, cncf-kubernetes 10.7, common-compat 1.7.3), older than this package needs, so our requirements would
not install. MWAA's documented remedy is a copy of the constraints with newer provider versions, kept in the
DAGs folder. We make that copy by resolution instead of by download (this machine reaches PyPI, not
GitHub), with the rule Airflow's own constraints follow: the highest versions as of the day the Airflow
version was released. Exceptions, and only these: the providers this package imports, pinned to the
versions installed here (the ones its tests run with), and whatever those need newer, which the resolver
(uv) names one at a time until the set resolves.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import re
import shutil
import subprocess  # nosec B404
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from rdfox_local import mwaa_bundle

DEFAULT_INDEX = "https://pypi.org/simple"
# MWAA runs Airflow on Amazon Linux 2023, x86_64 (glibc 2.34).
PLATFORM = "x86_64-manylinux_2_28"
MAX_LIFTED = 60
_FILTERED = re.compile(r"`([^`]+)` was filtered by `exclude-newer`")


class ConstraintsError(RuntimeError):
    """The constraints could not be made; the message says why and what to do."""


def release_time(package: str, version: str, index_url: str = DEFAULT_INDEX) -> datetime:
    """When ``package==version`` was uploaded to the index (its earliest file), from the simple JSON API."""
    url = f"{index_url.rstrip('/')}/{canonicalize_name(package)}/"
    if not url.startswith(("https://", "http://")):
        raise ConstraintsError(f"--index-url must be an http(s) URL: {index_url!r}")
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    request = urllib.request.Request(url, headers=accept)  # noqa: S310 - checked http(s) above
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  # nosec B310
        files = json.load(response)["files"]
    prefix = f"{canonicalize_name(package).replace('-', '_')}-{version}"
    times = [
        f["upload-time"]
        for f in files
        if f.get("upload-time") and f["filename"].lower().startswith((prefix + "-", prefix + ".tar"))
    ]
    if not times:
        raise ConstraintsError(f"{package}=={version} is not on {index_url}")
    return datetime.fromisoformat(min(times).replace("Z", "+00:00"))


def pinned_inputs(repo: Path, airflow_version: str) -> list[str]:
    """What to resolve: Airflow itself, and the bundle's requirements with providers pinned as installed."""
    lines = [f"apache-airflow=={airflow_version}"]
    for line in mwaa_bundle.bundle_requirements(repo):
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name.startswith("apache-airflow-providers-"):
            extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            lines.append(f"{name}{extras}=={md.version(name)}")
        else:
            lines.append(line)
    return lines


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if not found:
        raise ConstraintsError("uv is not installed (make install puts it in .venv/bin)")
    return found


def resolve(
    inputs: Sequence[str], python_version: str, cutoff: datetime, *, log=print
) -> tuple[str, list[str]]:
    """uv's pinned resolution of ``inputs`` as of ``cutoff``, lifting what the pinned providers need newer."""
    now = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lifted = sorted(canonicalize_name(Requirement(line).name) for line in inputs[1:] if "==" in line)
    with tempfile.TemporaryDirectory(prefix="mwaa-constraints-") as tmp:
        source = Path(tmp) / "requirements.in"
        source.write_text("\n".join(inputs) + "\n", encoding="utf-8")
        output = Path(tmp) / "constraints.txt"
        while len(lifted) <= MAX_LIFTED:
            args = [
                _uv(), "pip", "compile", "--quiet", "--no-header", "--no-annotate", str(source),
                "--python-version", python_version, "--python-platform", PLATFORM,
                "--exclude-newer", cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
                *(arg for name in lifted for arg in ("--exclude-newer-package", f"{name}={now}")),
                "-o", str(output),
            ]  # fmt: skip
            done = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603
            if done.returncode == 0:
                return output.read_text(encoding="utf-8"), lifted
            needed = _FILTERED.search(done.stderr)
            if needed is None or canonicalize_name(needed.group(1)) in lifted:
                raise ConstraintsError(
                    f"uv could not resolve the bundle's requirements:\n{done.stderr[-3000:]}"
                )
            lifted.append(canonicalize_name(needed.group(1)))
            log(f"  {lifted[-1]}: needed newer than the cutoff")
    raise ConstraintsError(f"more than {MAX_LIFTED} packages needed newer than {cutoff:%Y-%m-%d}")


def write_constraints(
    repo: Path,
    airflow_version: str = mwaa_bundle.MWAA_AIRFLOW_VERSION,
    python_version: str = mwaa_bundle.MWAA_PYTHON_VERSION,
    *,
    index_url: str = DEFAULT_INDEX,
    log=print,
) -> Path:
    released = release_time("apache-airflow", airflow_version, index_url)
    cutoff = released + timedelta(days=1)  # the day's uploads, as Airflow's own constraints were made then
    inputs = pinned_inputs(repo, airflow_version)
    log(f"resolving for Airflow {airflow_version} (released {released:%Y-%m-%d}) on Python {python_version}")
    pins, lifted = resolve(inputs, python_version, cutoff, log=log)
    header = [
        f"# Constraints for the rdfox-pipeline bundle on Amazon MWAA: Airflow {airflow_version}, "
        f"Python {python_version}, {PLATFORM}.",
        "# Made by `make mwaa-constraints` (rdfox_local/mwaa_constraints.py); do not edit by hand.",
        f"# Everything as of {cutoff:%Y-%m-%d} (Airflow {airflow_version}'s release), except these, newer:",
        *(f"#   {name}" for name in lifted),
        "# Inputs:",
        *(f"#   {line}" for line in inputs),
    ]
    path = mwaa_bundle.constraints_path(repo, airflow_version, python_version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header) + "\n" + pins, encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rdfox_local.mwaa_constraints", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repo", type=Path, default=mwaa_bundle.default_repo())
    parser.add_argument(
        "--airflow-version", type=mwaa_bundle.version_arg, default=mwaa_bundle.MWAA_AIRFLOW_VERSION
    )
    parser.add_argument(
        "--python-version", type=mwaa_bundle.version_arg, default=mwaa_bundle.MWAA_PYTHON_VERSION
    )
    parser.add_argument("--index-url", default=DEFAULT_INDEX, help="a PEP 691 (JSON) simple index")
    args = parser.parse_args(argv)
    try:
        path = write_constraints(
            args.repo, args.airflow_version, args.python_version, index_url=args.index_url
        )
    except (ConstraintsError, LookupError, OSError) as exc:
        print(f"mwaa_constraints: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
