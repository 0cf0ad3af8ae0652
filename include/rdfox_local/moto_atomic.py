"""moto's server, with DynamoDB's atomicity: one DynamoDB request is applied whole before the next starts.

DynamoDB checks a write's condition and applies the write as one step, and the job table relies on it (job
ids allocated with ``attribute_not_exists``; status updates guarded so that a finished job is never moved
back). moto's server handles requests in threads and checks a condition and writes in separate steps: two
concurrent conditional writes can both pass their check, so a test of those guarantees would be testing
moto's races. Serialising the DynamoDB requests restores the guarantee; everything else (S3 transfers, SQS
long polls, ...) stays concurrent, and every behaviour is moto's own.

Usage is ``moto_server``'s: ``python -m rdfox_local.moto_atomic -H 127.0.0.1 -p 5000``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerializedDynamoDB:
    """WSGI middleware: DynamoDB requests (``X-Amz-Target: DynamoDB_...``) one at a time, others at once."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB"):
            return self.app(environ, start_response)
        with self._lock:
            # The whole response is produced inside the lock (moto builds it in memory anyway).
            return list(self.app(environ, start_response))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rdfox_local.moto_atomic", description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    parser.add_argument(
        "--preload-cloudformation",
        action="store_true",
        help="import moto's CloudFormation (all of moto's models, ~10 s) while the server already answers",
    )
    args = parser.parse_args(argv)
    if args.preload_cloudformation:
        # The first CreateStack would otherwise pay for the import; the local stack starts its other
        # servers meanwhile. Python's import lock makes a request that arrives early wait for it.
        threading.Thread(
            target=importlib.import_module, args=("moto.cloudformation.models",), daemon=True
        ).start()
    # moto builds URLs it hands out (e.g. SQS queue URLs) from MOTO_PORT, as its own server sets it.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host, args.port, SerializedDynamoDB(app), threaded=True, request_handler=MotoRequestHandler
    )


if __name__ == "__main__":
    main()
