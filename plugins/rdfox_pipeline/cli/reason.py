"""`rdfox-pipeline reason DIR --out OUT`: run a dataset directory through RDFox's script, locally.

DIR is shaped like the pod's ``/data`` (data files, ``*.dlog`` rules, ``*.rq`` queries, ``*.count.rq``).
The script is the one the prepare step writes (``rdfox_pipeline.pod.script``), run with ``/data``,
``/output`` and ``/scripts`` mapped to DIR, OUT and OUT/scripts; so OUT gets what the pod's ``/output``
gets: ``data/<query>.rq.nt`` and ``rdfox.log``. The real RDFox runs instead when licensed (``--engine``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rdfox_pipeline.cli.main import CliError
from rdfox_pipeline.domain.prefixes import DEFAULT_PREFIXES, check_prefix_iri, check_prefix_name
from rdfox_pipeline.pod.script import classify_dataset_files, generate_rdfox_script

POD_DATA, POD_OUTPUT, POD_SCRIPTS = "/data", "/output", "/scripts"
SCRIPT_NAME = "job.rdfox"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("reason", help="reason over a dataset directory as the pod would")
    parser.add_argument("dir", metavar="DIR", type=Path, help="dataset directory (data, *.dlog, *.rq files)")
    parser.add_argument("--out", required=True, type=Path, metavar="OUT", help="output directory")
    parser.add_argument(
        "--engine",
        choices=("auto", "local", "rdfox"),
        default="auto",
        help="auto (default): real RDFox if licensed (RDFOX_LICENSE_CONTENT/RDFOX_LICENSE_FILE), else local",
    )
    parser.add_argument(
        "--naive", action="store_true", help="local engine: naive instead of semi-naive evaluation"
    )
    parser.add_argument(
        "--prefix",
        action="append",
        default=[],
        metavar="NAME=IRI",
        help="add or replace a prefix of the script (repeatable; NAME without ':', empty for ':'), as a "
        "jobspec's rdfox.prefixes; the defaults are the old pod's ':', prop:, type:, tt:",
    )
    parser.set_defaults(handler=reason_command)


def _prefixes(items: list[str]) -> dict[str, str]:
    """The default prefixes with each ``--prefix NAME=IRI`` added or replacing the same name."""
    prefixes = dict(DEFAULT_PREFIXES)
    for item in items:
        name, sep, iri = item.partition("=")
        if not sep:
            raise CliError(f"--prefix {item!r}: expected NAME=IRI")
        try:
            name = check_prefix_name(name)
            prefixes[name] = check_prefix_iri(name, iri)
        except ValueError as exc:
            raise CliError(f"--prefix {item!r}: {exc}") from None
    return prefixes


def _dataset_keys(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def write_script(directory: Path, out: Path, prefixes: dict[str, str]) -> Path:
    """Classify DIR's files and write the pod's script to OUT/scripts/job.rdfox; one-line errors."""
    if not directory.is_dir():
        raise CliError(f"{directory}: not a directory")
    files = classify_dataset_files(_dataset_keys(directory))
    rules, data, queries, counts = files
    if not data:
        raise CliError(f"{directory}: no data files (.nt .ttl .nq .trig .owl .rdf .n3, optionally .gz)")
    try:
        script = generate_rdfox_script(
            rule_files=rules,
            data_files=data,
            query_files=queries,
            count_query_files=counts,
            prefixes=prefixes,
            data_dir=POD_DATA,
            output_dir=POD_OUTPUT,
            scripts_dir=POD_SCRIPTS,
        )
    except ValueError as exc:
        raise CliError(f"{directory}: {exc}") from None
    if out.exists() and not out.is_dir():
        raise CliError(f"{out}: exists and is not a directory")
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "scripts").mkdir(parents=True, exist_ok=True)
    path = out / "scripts" / SCRIPT_NAME
    path.write_text(script, encoding="utf-8")
    return path


def reason_command(args: argparse.Namespace) -> int:
    from rdfox_local.reasoner import rdfox_launcher
    from rdfox_local.reasoner.pathmap import ENV_VAR, PathMap

    directory, out = args.dir.resolve(), args.out.resolve()
    if out == directory or directory in out.parents:
        raise CliError(f"--out {args.out}: must not be inside the dataset directory")
    write_script(directory, out, _prefixes(args.prefix))
    mapping = {POD_DATA: str(directory), POD_OUTPUT: str(out), POD_SCRIPTS: str(out / "scripts")}
    command = f"exec {POD_SCRIPTS}/{SCRIPT_NAME}"
    log_path = out / "rdfox.log"

    real = args.engine == "rdfox" or (args.engine == "auto" and rdfox_launcher.real_rdfox_available())
    if real and not rdfox_launcher.real_rdfox_available():
        raise CliError(
            "--engine rdfox needs a license (RDFOX_LICENSE_CONTENT or RDFOX_LICENSE_FILE) and RDFox"
        )
    with log_path.open("w", encoding="utf-8") as log:
        if real:
            env = {**os.environ, ENV_VAR: json.dumps(mapping)}
            status = rdfox_launcher.run_real_rdfox(["sandbox", POD_DATA, command], environ=env, stdout=log)
        else:
            from rdfox_local.reasoner.shell import Shell

            shell = Shell(
                POD_DATA, log, path_map=PathMap(mapping), mode="naive" if args.naive else "semi-naive"
            )
            status = shell.run_commands([command])
    if status != 0:
        raise CliError(f"reasoning failed (exit {status}): {_first_error(log_path)} (see {log_path})")
    for answer in sorted((out / "data").glob("*.nt")):
        print(answer)
    print(log_path)
    return 0


def _first_error(log_path: Path) -> str:
    """The first error line of the log (the local engine's ``ERROR: ...``, RDFox's ``Error: ...``)."""
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    for index, line in enumerate(lines):
        if line.startswith(("ERROR", "Error:")):
            return line.strip()
        if line.startswith("An error occurred") and index + 1 < len(lines):
            return f"{line.strip()} {lines[index + 1].strip()}"
    return "no error line in the log"
