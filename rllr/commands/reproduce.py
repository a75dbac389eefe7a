"""`rllr reproduce`: run a paper's experiments end to end as cached stages, then report.

    rllr reproduce rllr --config configs/reproduce/quickstart.yaml sft.optim.max_steps=4
    rllr reproduce glue --config configs/reproduce/glue-quickstart.yaml
    rllr reproduce rllr --config configs/reproduce/tiny.yaml --force eval

Stages whose outputs exist (same config, same upstream) are skipped; an interrupted run
resumes. The last line printed is the path of `report.md` (`report.html` sits next to it).
"""

from __future__ import annotations

import argparse

PAPERS = {"rllr": "rllr.pipelines.rllr_pipeline", "glue": "rllr.pipelines.glue_pipeline"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paper", choices=sorted(PAPERS), help="rllr (ACL 2024) or glue (RL for NLU)")
    parser.add_argument("--config", help="configs/reproduce/*.yaml")
    parser.add_argument("--out", help="run directory (default: run.out or runs/reproduce-<paper>-<config>)")
    parser.add_argument("--force", action="append", default=[], metavar="STAGE",
                        help="rerun this stage even if cached (repeatable)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. sft.optim.lr=1e-4")


def run(args: argparse.Namespace) -> int:
    import importlib

    pipeline = importlib.import_module(PAPERS[args.paper])
    report = pipeline.reproduce(args.config, list(args.overrides), force=tuple(args.force),
                                out=args.out)
    print(report)
    return 0
