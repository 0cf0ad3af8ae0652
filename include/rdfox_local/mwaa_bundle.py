"""Build what an Amazon MWAA environment takes from its S3 bucket: ``python -m rdfox_local.mwaa_bundle OUT``.

OUT (``dist/mwaa`` with ``make mwaa-bundle``) receives:

- ``dags/``: the DAG files (no ``__pycache__``);
- ``plugins.zip``: the ``rdfox_pipeline`` package at the archive's root. MWAA unpacks it into its plugins
  folder, which is on ``sys.path``, so ``import rdfox_pipeline`` works in DAGs and tasks;
- ``dags/rdfox-pipeline-constraints.txt``: the constraints MWAA installs the requirements under, a copy of
  ``deploy/mwaa/constraints-<airflow>-python<python>.txt`` (``make mwaa-constraints``; why a file of our own
  and not Airflow's: ``rdfox_local.mwaa_constraints``). MWAA syncs dags/ before it installs requirements;
  the DAG processor ignores a ``.txt`` file;
- ``requirements.txt``: first the ``--constraint`` line naming that file where MWAA puts it, then the
  distributions the plugin and the DAGs import that Airflow itself does not bring (found by scanning their
  imports, not listed by hand);
- ``startup.sh``: only with ``--jobspec-queue-url``. It exports ``RDFOX_PIPELINE_JOBSPEC_QUEUE_URL``: the
  DAG's asset watcher reads it at parse time, and MWAA sets arbitrary environment variables only through a
  startup script. Without it runs start from the UI, the API or the CLI; every other setting comes from SSM
  at task run time (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata as md
import re
import shutil
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# The newest Airflow MWAA offers (the AirflowVersion values of botocore's own MWAA model) and the Python
# it runs Airflow 3 on; docs/deploy.md says how this was checked. `make test-compat` runs the bundle there.
MWAA_AIRFLOW_VERSION = "3.0.6"
MWAA_PYTHON_VERSION = "3.12"
# Where MWAA puts the DAGs folder's files on its workers, so where requirements.txt finds our constraints.
MWAA_DAGS_DIR = "/usr/local/airflow/dags"
CONSTRAINTS_NAME = "rdfox-pipeline-constraints.txt"

PACKAGE = "rdfox_pipeline"
# Project-internal top-level packages: never requirements (rdfox_local is only used by the CLI, off MWAA).
INTERNAL_MODULES = {PACKAGE, "rdfox_local"}
# Distributions that make up Airflow itself on MWAA; everything they depend on is there too.
AIRFLOW_BASE = ("apache-airflow",)
_IGNORED_PARTS = {"__pycache__"}
_IGNORED_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class BundleResult:
    out_dir: Path
    requirements: tuple[str, ...]
    plugin_files: int
    dag_files: int


def constraint_line() -> str:
    return f'--constraint "{MWAA_DAGS_DIR}/{CONSTRAINTS_NAME}"'


def constraints_path(repo: Path, airflow_version: str, python_version: str) -> Path:
    """The committed constraints for one Airflow/Python pair (``make mwaa-constraints`` writes it)."""
    return repo / "deploy" / "mwaa" / f"constraints-{airflow_version}-python{python_version}.txt"


def read_pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a constraints file, by canonical name."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.split("[", 1)[0])] = version.split(";", 1)[0].strip()
    return pins


def checked_constraints(
    repo: Path, airflow_version: str, python_version: str, requirements: Sequence[str]
) -> Path:
    """The constraints file for this pair; refused if it would not install this Airflow and these needs."""
    path = constraints_path(repo, airflow_version, python_version)
    if not path.is_file():
        raise FileNotFoundError(
            f"no constraints for Airflow {airflow_version} on Python {python_version} ({path}): "
            f"make mwaa-constraints MWAA_AIRFLOW={airflow_version} MWAA_PYTHON={python_version}"
        )
    pins = read_pins(path)
    if pins.get("apache-airflow") != airflow_version:
        raise ValueError(f"{path} pins apache-airflow {pins.get('apache-airflow')}, not {airflow_version}")
    for line in requirements:
        requirement = Requirement(line)
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
            raise ValueError(
                f"{path} pins {requirement.name} {pinned or '(nothing)'}, which does not satisfy {line!r} "
                "from pyproject.toml: run make mwaa-constraints"
            )
    return path


def _shipped(paths: Iterable[Path], root: Path) -> list[Path]:
    """Files worth shipping: no bytecode, no caches; sorted so the archive is reproducible."""
    return sorted(
        p
        for p in paths
        if p.is_file()
        and p.suffix not in _IGNORED_SUFFIXES
        and not _IGNORED_PARTS & set(p.relative_to(root).parts)
    )


def imported_modules(files: Iterable[Path]) -> set[str]:
    """Absolute imports (dotted names) in these Python files, found without running them."""
    found: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return found


def _distribution_exists(name: str) -> bool:
    try:
        md.distribution(name)
    except md.PackageNotFoundError:
        return False
    return True


def module_distributions(modules: Iterable[str]) -> dict[str, str]:
    """Imported module -> canonical distribution name, for the modules not in the standard library."""
    top_level = md.packages_distributions()
    out: dict[str, str] = {}
    for module in modules:
        parts = module.split(".")
        if parts[0] in sys.stdlib_module_names or parts[0] in INTERNAL_MODULES:
            continue
        if parts[:2] == ["airflow", "providers"] and len(parts) > 2:
            # airflow.providers.cncf.kubernetes.x -> apache-airflow-providers-cncf-kubernetes (longest match).
            for k in range(len(parts) - 2, 0, -1):
                candidate = "apache-airflow-providers-" + "-".join(parts[2 : 2 + k])
                if _distribution_exists(candidate):
                    out[module] = canonicalize_name(candidate)
                    break
            else:
                raise LookupError(f"no installed provider distribution for {module}")
            continue
        if parts[0] == "airflow":
            out[module] = "apache-airflow"
            continue
        dists = top_level.get(parts[0])
        if not dists:
            raise LookupError(f"module {parts[0]!r} is imported but no installed distribution provides it")
        out[module] = canonicalize_name(dists[0])
    return out


def dependency_closure(roots: Iterable[str], extras: dict[str, set[str]] | None = None) -> set[str]:
    """Every distribution installed because of ``roots`` (by the installed metadata, markers evaluated).

    ``extras`` names the extras asked for per root (``apache-airflow-providers-amazon[aiobotocore]``).
    """
    extras = extras or {}
    environment = default_environment()
    done: set[tuple[str, str]] = set()  # (distribution, extra or "") already expanded
    todo: list[tuple[str, str]] = []
    for root in roots:
        name = canonicalize_name(root)
        todo += [(name, ""), *((name, e) for e in extras.get(name, ()))]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in done:
            continue
        done.add((name, extra))
        try:
            requires = md.distribution(name).requires or []
        except md.PackageNotFoundError:
            continue  # an optional dependency not installed here: nothing we import needs it
        for line in requires:
            req = Requirement(line)
            # No marker: always. A marker: when it holds for this extra (or for no extra, at extra "").
            if req.marker is not None and not req.marker.evaluate({**environment, "extra": extra}):
                continue
            if req.marker is None and extra:
                continue  # already taken when expanding the distribution without extras
            dep = canonicalize_name(req.name)
            todo += [(dep, ""), *((dep, e) for e in req.extras)]
    return {name for name, _ in done}


def project_requirements(pyproject: Path) -> dict[str, Requirement]:
    """The project's declared runtime requirements, by canonical name."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    reqs = (Requirement(line) for line in data["project"]["dependencies"])
    return {canonicalize_name(r.name): r for r in reqs}


def runtime_requirements(repo: Path, plugin_files: Sequence[Path], dag_files: Sequence[Path]) -> list[str]:
    """Requirement lines for what the plugin and the DAGs import and Airflow itself does not bring."""
    declared = project_requirements(repo / "pyproject.toml")
    imported = set(module_distributions(imported_modules([*plugin_files, *dag_files])).values())
    providers = sorted(d for d in imported if d.startswith("apache-airflow-providers-"))
    base = dependency_closure(AIRFLOW_BASE)
    needed = sorted(d for d in imported if d not in base or d in providers)
    # What the providers bring along (with the extras the project asks for) needs no line of its own.
    extras = {name: set(req.extras) for name, req in declared.items()}
    brought = dependency_closure(providers, extras) - set(providers)
    lines: list[str] = []
    for name in needed:
        if name in brought and name not in providers:
            continue
        requirement = declared.get(name)
        if requirement is None:
            raise LookupError(
                f"{name} is imported by the plugin or the DAGs but not in pyproject.toml's dependencies"
            )
        lines.append(str(requirement))
    return lines


def _sources(repo: Path) -> tuple[list[Path], list[Path]]:
    """(plugin files, DAG files) that the bundle ships."""
    package_dir = repo / "plugins" / PACKAGE
    dags_dir = repo / "dags"
    if not (package_dir / "__init__.py").is_file():
        raise FileNotFoundError(f"{package_dir} is not a package")
    dag_files = _shipped(dags_dir.rglob("*"), repo)
    if not any(p.suffix == ".py" for p in dag_files):
        raise FileNotFoundError(f"no DAG file in {dags_dir}")
    return _shipped(package_dir.rglob("*"), repo), dag_files


def bundle_requirements(repo: Path, sources: tuple[list[Path], list[Path]] | None = None) -> list[str]:
    """The requirement lines of the bundle built from ``repo`` (``sources``: ``_sources(repo)``, if known)."""
    plugin_files, dag_files = sources or _sources(repo)
    return runtime_requirements(
        repo, [p for p in plugin_files if p.suffix == ".py"], [p for p in dag_files if p.suffix == ".py"]
    )


def build_bundle(
    out_dir: Path,
    repo: Path,
    *,
    airflow_version: str = MWAA_AIRFLOW_VERSION,
    python_version: str = MWAA_PYTHON_VERSION,
    jobspec_queue_url: str | None = None,
) -> BundleResult:
    dags_dir = repo / "dags"
    # Checked before anything is written: a bad URL or stale constraints leave no half-built bundle.
    startup = startup_script(jobspec_queue_url) if jobspec_queue_url else None
    plugin_files, dag_files = _sources(repo)
    requirements = bundle_requirements(repo, (plugin_files, dag_files))
    constraints = checked_constraints(repo, airflow_version, python_version, requirements)

    # Start clean: a file removed from the repo must not survive in the bundle.
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "dags").mkdir(parents=True)
    for path in dag_files:
        target = out_dir / "dags" / path.relative_to(dags_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)

    with zipfile.ZipFile(out_dir / "plugins.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in plugin_files:
            # Fixed timestamps: the same sources give the same archive (MWAA versions plugins.zip in S3).
            info = zipfile.ZipInfo(
                path.relative_to(repo / "plugins").as_posix(), date_time=(1980, 1, 1, 0, 0, 0)
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())

    shutil.copyfile(constraints, out_dir / "dags" / CONSTRAINTS_NAME)
    text = "\n".join([constraint_line(), *requirements]) + "\n"
    (out_dir / "requirements.txt").write_text(text, encoding="utf-8")
    if startup is not None:
        (out_dir / "startup.sh").write_text(startup, encoding="utf-8")
    return BundleResult(out_dir, tuple(requirements), len(plugin_files), len(dag_files))


SQS_QUEUE_URL = r"https://sqs\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/\d{12}/[A-Za-z0-9_-]{1,80}"


def startup_script(jobspec_queue_url: str) -> str:
    """MWAA's startup script: sourced by every Airflow component before it starts."""
    if not re.fullmatch(SQS_QUEUE_URL, jobspec_queue_url):
        raise ValueError(f"--jobspec-queue-url: not an SQS queue URL: {jobspec_queue_url!r}")
    return (
        "#!/bin/sh\n"
        "# The input bucket's jobspec notification queue: the DAG's asset watcher listens to it.\n"
        f"export RDFOX_PIPELINE_JOBSPEC_QUEUE_URL='{jobspec_queue_url}'\n"
    )


def version_arg(text: str) -> str:
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", text):
        raise argparse.ArgumentTypeError(f"not a version: {text!r}")
    return text


def default_repo() -> Path:
    # Editable install (make install): the checkout this module lives in; otherwise the current directory.
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rdfox_local.mwaa_bundle", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out_dir", type=Path, help="where to write the bundle (e.g. dist/mwaa)")
    parser.add_argument(
        "--repo", type=Path, default=default_repo(), help="project root (default: this checkout)"
    )
    parser.add_argument("--airflow-version", type=version_arg, default=MWAA_AIRFLOW_VERSION)
    parser.add_argument("--python-version", type=version_arg, default=MWAA_PYTHON_VERSION)
    parser.add_argument(
        "--jobspec-queue-url", help="write startup.sh exporting this SQS queue URL for the asset watcher"
    )
    args = parser.parse_args(argv)
    try:
        result = build_bundle(
            args.out_dir,
            args.repo,
            airflow_version=args.airflow_version,
            python_version=args.python_version,
            jobspec_queue_url=args.jobspec_queue_url,
        )
    except (FileNotFoundError, LookupError, ValueError) as exc:
        print(f"mwaa_bundle: error: {exc}", file=sys.stderr)
        return 2
    startup = " + startup.sh" if args.jobspec_queue_url else ""
    print(
        f"wrote {result.out_dir}: dags/ ({result.dag_files} files), "
        f"plugins.zip ({result.plugin_files} files), "
        f"requirements.txt ({len(result.requirements)} requirements) under {CONSTRAINTS_NAME} for Airflow "
        f"{args.airflow_version} / Python {args.python_version}{startup}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
