"""``python -m rdfox_local.reasoner [--engine auto|local|rdfox] [--naive] sandbox ROOT COMMAND...``

Mimics RDFox's command line: every argument after the root is one whole shell command
(``"exec /scripts/job.rdfox"``); the old form ``exec /scripts/job.rdfox`` as two arguments is accepted too.
``--engine auto`` (default) runs the real RDFox when licensed (see rdfox_launcher), else the local engine.
Environment: RDFOX_LOCAL_PATH_MAP (pod path -> local directory), RDFOX_LOCAL_EVALUATION (semi-naive|naive).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .pathmap import PathMap


def _commands(raw: Sequence[str]) -> list[str]:
    commands: list[str] = []
    items = list(raw)
    i = 0
    while i < len(items):
        item = items[i]
        if item.strip() == "exec" and i + 1 < len(items):
            commands.append(f"exec {items[i + 1]}")
            i += 2
            continue
        commands.append(item)
        i += 1
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rdfox_local.reasoner",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--engine", choices=("auto", "local", "rdfox"), default=os.environ.get("RDFOX_LOCAL_ENGINE", "auto")
    )
    parser.add_argument("--naive", action="store_true", help="naive instead of semi-naive evaluation")
    parser.add_argument("mode", choices=("sandbox",), help="RDFox's mode; only 'sandbox' is supported")
    parser.add_argument("root", help="the sandbox root directory")
    parser.add_argument("commands", nargs=argparse.REMAINDER, help="shell commands, one per argument")
    args = parser.parse_args(argv)

    from . import rdfox_launcher

    if args.engine == "rdfox" or (args.engine == "auto" and rdfox_launcher.real_rdfox_available()):
        if not rdfox_launcher.real_rdfox_available():
            print(
                "error: --engine rdfox needs RDFOX_LICENSE_CONTENT/RDFOX_LICENSE_FILE and RDFox",
                file=sys.stderr,
            )
            return 2
        return rdfox_launcher.run_real_rdfox(["sandbox", args.root, *args.commands])

    from .shell import Shell

    try:
        path_map = PathMap.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mode = "naive" if args.naive else os.environ.get("RDFOX_LOCAL_EVALUATION", "semi-naive")
    if mode not in ("semi-naive", "naive"):
        print(f"error: RDFOX_LOCAL_EVALUATION must be semi-naive or naive, not {mode!r}", file=sys.stderr)
        return 2
    shell = Shell(args.root, sys.stdout, path_map=path_map, mode=mode)  # type: ignore[arg-type]
    return shell.run_commands(_commands(args.commands))


if __name__ == "__main__":
    sys.exit(main())
