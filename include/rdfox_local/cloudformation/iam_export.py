"""``python -m rdfox_local.cloudformation.iam_export [--check]``: write deploy/iam/*.json from pipeline.yaml.

The files are for deployments that do not use CloudFormation (and for reading); pipeline.yaml stays the
source. ``--check`` writes nothing and exits 1 when a file differs from what the template gives.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rdfox_local.cloudformation.template import TEMPLATE_DIR, iam_policies, render_policy

IAM_DIR = TEMPLATE_DIR.parent / "iam"


def stale_files(iam_dir: Path = IAM_DIR) -> list[str]:
    """The deploy/iam/ files that differ from the template, are missing, or come from no template resource."""
    wanted = {name: render_policy(doc) for name, doc in iam_policies().items()}
    stale = [
        n for n, text in wanted.items() if not (iam_dir / n).is_file() or (iam_dir / n).read_text() != text
    ]
    stale += [p.name for p in sorted(iam_dir.glob("*.json")) if p.name not in wanted]
    return sorted(stale)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rdfox_local.cloudformation.iam_export", description=__doc__
    )
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    parser.add_argument("--iam-dir", type=Path, default=IAM_DIR)
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.iam_dir)
        for name in stale:
            print(f"{args.iam_dir / name}: differs from deploy/cloudformation/pipeline.yaml", file=sys.stderr)
        return 1 if stale else 0
    args.iam_dir.mkdir(parents=True, exist_ok=True)
    policies = iam_policies()
    for path in args.iam_dir.glob("*.json"):
        if path.name not in policies:
            path.unlink()
    for name, document in policies.items():
        (args.iam_dir / name).write_text(render_policy(document))
    print(f"wrote {len(policies)} policies to {args.iam_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
