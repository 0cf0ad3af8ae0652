"""``python -m rdfox_local.k8s_emulator --host 127.0.0.1 --port P --image-map FILE --secrets-dir DIR
--state-dir DIR [--kubeconfig-out FILE]``: serve the emulated Kubernetes API until SIGTERM / Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from rdfox_local.k8s_emulator.images import ImageMapError, default_image_map_path, load_image_maps
from rdfox_local.k8s_emulator.kubeconfig import write_kubeconfig
from rdfox_local.k8s_emulator.scheduling import NodeCapacity
from rdfox_local.k8s_emulator.server import Cluster, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rdfox_local.k8s_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    parser.add_argument(
        "--image-map",
        type=Path,
        action="append",
        help=f"image map YAML (repeatable; later files win); default {default_image_map_path()}",
    )
    parser.add_argument(
        "--secrets-dir", type=Path, required=True, help="secrets as <dir>/<secret>/<key> files"
    )
    parser.add_argument("--state-dir", type=Path, required=True, help="where pods' volumes and logs live")
    parser.add_argument("--kubeconfig-out", type=Path, help="write a kubeconfig pointing at this server")
    parser.add_argument("--namespace", default="default", help="the kubeconfig context's namespace")
    parser.add_argument(
        "--instance-type",
        default="emulated.local",
        help="node.kubernetes.io/instance-type label of the emulated node",
    )
    parser.add_argument("--node-cpus", help="the node's allocatable CPU, e.g. 4 (default: at least 64)")
    parser.add_argument("--node-memory", help="the node's allocatable memory, e.g. 8Gi (default: >= 256Gi)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        images = load_image_maps(args.image_map or [default_image_map_path()])
    except ImageMapError as exc:
        print(f"k8s-emulator: error: {exc}", file=sys.stderr)
        return 2
    args.state_dir.mkdir(parents=True, exist_ok=True)
    args.secrets_dir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(
        images=images,
        secrets_dir=args.secrets_dir.resolve(),
        state_dir=args.state_dir.resolve(),
        environ=os.environ,
        instance_type=args.instance_type,
        capacity=NodeCapacity.of_this_machine(args.node_cpus, args.node_memory),
    )
    server = serve(cluster, args.host, args.port)
    url = f"http://{args.host}:{server.server_address[1]}"
    if args.kubeconfig_out:
        write_kubeconfig(args.kubeconfig_out, url, args.namespace)
    print(f"k8s-emulator: serving {url}", flush=True)

    def shutdown(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        cluster.stop_all()  # no pod process outlives the emulator
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
