"""`rllr teacher serve`: serve a local model as an OpenAI-compatible teacher.

    rllr teacher serve --model smollm2-135m-instruct --port 8000
    rllr teacher serve --port 0 --port-file run/port.txt   # any free port, written to a file
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rllr.io import atomic_write_text

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m-instruct"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="teacher_command", metavar="ACTION", required=True)
    p = sub.add_parser("serve", help="OpenAI-compatible /v1/chat/completions on a local model")
    p.add_argument("--model", default=DEFAULT_MODEL, help="registry name, folder or hub id")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--port-file", help="write the bound port here once listening")
    p.add_argument("--max-batch", type=int, default=8, help="requests per generate call")
    p.add_argument("--batch-wait", type=float, default=0.02, help="seconds to gather a batch")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])


def run(args: argparse.Namespace) -> int:
    from rllr.teacher.client import LocalBackend
    from rllr.teacher.server import TeacherServer

    backend = LocalBackend(args.model, batch_size=args.max_batch, dtype=args.dtype)
    server = TeacherServer(backend, host=args.host, port=args.port, max_batch=args.max_batch,
                           batch_wait_s=args.batch_wait)
    if args.port_file:
        atomic_write_text(Path(args.port_file), f"{server.httpd.server_address[1]}\n")
    print(f"rllr teacher: serving {args.model} at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
