"""Start the Neptune emulator: ``python -m rdfox_local.neptune_emulator --host H --port P [options]``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from rdfox_local.neptune_emulator.config import EmulatorConfig
from rdfox_local.neptune_emulator.server import make_server
from rdfox_local.neptune_emulator.status_shapes import STATUS_SHAPES


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    parser = argparse.ArgumentParser(prog="python -m rdfox_local.neptune_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8182)
    parser.add_argument(
        "--s3-endpoint",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="S3 endpoint to read load sources from (default: AWS_ENDPOINT_URL or AWS)",
    )
    parser.add_argument("--store", default=None, help="directory for an on-disk store (default: in memory)")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--sigv4-access-key", default=None, help="enable SigV4 checking with this key id")
    parser.add_argument(
        "--sigv4-secret-key",
        default=os.environ.get("NEPTUNE_EMULATOR_SIGV4_SECRET"),
        help="secret key for SigV4 checking (or env NEPTUNE_EMULATOR_SIGV4_SECRET)",
    )
    parser.add_argument(
        "--sigv4-session-token",
        default=os.environ.get("NEPTUNE_EMULATOR_SIGV4_SESSION_TOKEN"),
        help="with SigV4 checking: the credentials are temporary, requests must carry this session token "
        "(or env NEPTUNE_EMULATOR_SIGV4_SESSION_TOKEN)",
    )
    parser.add_argument(
        "--attached-role",
        action="append",
        default=None,
        metavar="ARN",
        help="an IAM role attached to the emulated cluster (repeat for more; default: env "
        "NEPTUNE_EMULATOR_ATTACHED_ROLES, comma-separated). A load naming another role is refused, as "
        "Neptune refuses it; the role's policies are read from IAM at --iam-endpoint",
    )
    parser.add_argument(
        "--iam-endpoint",
        default=None,
        help="IAM endpoint to read the roles' policies from (default: --s3-endpoint)",
    )
    parser.add_argument(
        "--status-shape",
        default="full",
        choices=STATUS_SHAPES,
        help="how Get-Status answers are written: Neptune's documented variants (see status_shapes.py)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if bool(args.sigv4_access_key) != bool(args.sigv4_secret_key):
        parser.error("--sigv4-access-key and --sigv4-secret-key must be given together")
    if args.sigv4_session_token and not args.sigv4_access_key:
        parser.error("--sigv4-session-token needs --sigv4-access-key and --sigv4-secret-key")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    roles = args.attached_role or os.environ.get("NEPTUNE_EMULATOR_ATTACHED_ROLES", "").split(",")
    return EmulatorConfig(
        attached_roles=tuple(r.strip() for r in roles if r.strip()),
        iam_endpoint=args.iam_endpoint,
        host=args.host,
        port=args.port,
        region=args.region,
        s3_endpoint=args.s3_endpoint,
        store_dir=args.store,
        sigv4_access_key=args.sigv4_access_key,
        sigv4_secret_key=args.sigv4_secret_key,
        sigv4_session_token=args.sigv4_session_token,
        status_shape=args.status_shape,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    server = make_server(config)
    # SIGTERM (what test fixtures send) stops the server cleanly from another thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    logging.getLogger(__name__).info(
        "Neptune emulator listening on %s (region %s, attached roles: %s)",
        server.url,
        config.region,
        ", ".join(config.attached_roles) or "none: every load will be refused",
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
