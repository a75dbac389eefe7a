"""The `rllr` command line.

    rllr eval --model smollm2-135m-instruct --tasks sst2,mnli --shots 2
    rllr models fetch smollm2-135m-instruct
    rllr sft --config configs/sft/quickstart.yaml lora.r=8

Each subcommand lives in `rllr/commands/<name>.py` with `configure(parser)` and
`run(args) -> int`; modules are imported only when their command runs, so `rllr --help`
stays fast. User errors (`RllrError`) print one line and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from rllr import __version__
from rllr.errors import RllrError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("rllr.commands.models", "fetch and list real pretrained models (no hub needed)"),
    "tasks": ("rllr.commands.tasks", "list the registered tasks"),
    "eval": ("rllr.commands.eval", "evaluate a model (zero/few-shot, adapters) with CIs"),
    "compare": ("rllr.commands.compare", "paired comparison of two eval runs on the same test rows"),
    "sft": ("rllr.commands.sft", "supervised fine-tuning with LoRA"),
    "rm": ("rllr.commands.rm", "train or evaluate a Bradley-Terry reward model"),
    "export": ("rllr.commands.export", "export adapters / merge them into a base model"),
    "ppo": ("rllr.commands.ppo", "RL with PPO (GAE critic), GRPO or RLOO"),
    "teacher": ("rllr.commands.teacher", "serve a local model as an OpenAI-compatible teacher"),
    "data": ("rllr.commands.data", "teacher-built data: rationales and preference pairs"),
    "judge": ("rllr.commands.judge", "LLM-judge comparisons and scores of rationales"),
    "bench": ("rllr.commands.bench", "speed and memory benchmarks"),
    "reproduce": ("rllr.commands.reproduce", "reproduce a paper end to end"),
}


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, help_) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            out[name] = (module, help_)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rllr", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"rllr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in _available().items():
        p = sub.add_parser(name, help=help_, description=help_)
        importlib.import_module(module).configure(p)
        p.set_defaults(_module=module)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse argv; `key=value` words after options still count as dotted overrides."""
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling a trailing `overrides` positional at the first option, so
    # `rllr sft --config x.yaml optim.lr=1e-4` arrives here as an extra: take key=value back.
    stray = [a for a in extra if a.startswith("-") or "=" not in a or not hasattr(args, "overrides")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = list(args.overrides or []) + extra
    return args


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parse_args(parser, argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except RllrError as e:
        print(f"rllr {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rllr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
