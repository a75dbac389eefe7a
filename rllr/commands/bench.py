"""`rllr bench`: speed and memory benchmarks.

    rllr bench rl                                   # rllr GRPO vs TRL GRPOTrainer, PPO adapters vs copies
    rllr bench rl --sides rllr-grpo,trl-grpo --steps 2
    rllr bench rl --random-init qwen2-0.5b          # larger random-initialised model (GPU timing)
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from rllr.bench.rl import RANDOM_INIT, SIDES

    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    p = sub.add_parser("rl", help="one RL step: rllr vs TRL (GRPO), adapters vs model copies (PPO)")
    p.add_argument("--model", default="smollm2-135m-instruct", help="model (tokenizer source with --random-init)")
    p.add_argument("--random-init", choices=sorted(RANDOM_INIT), help="random-initialised Qwen2-style model")
    p.add_argument("--sides", type=lambda s: tuple(s.split(",")), default=SIDES,
                   help=f"comma-separated subset of {','.join(SIDES)}")
    p.add_argument("--steps", type=int, default=2, help="steps per side; the last one is reported")
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--group", type=int, default=4, help="samples per prompt")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--micro-batch", type=int, default=8,
                   help="rows per training forward/backward, every training side (TRL: per-device batch "
                        "with gradient accumulation); the default is rllr's PPOConfig.micro_batch_size")
    p.add_argument("--mmap-threshold-kib", type=int, default=0,
                   help="glibc MALLOC_MMAP_THRESHOLD_ for every side, e.g. 4096 or 128 (less memory, slower "
                        "steps); 0 = each side as shipped: glibc's dynamic default, except rllr's trainer, "
                        "which fixes its own (PPOConfig.mmap_threshold_kib, 4096)")
    p.add_argument("--no-checkpointing", dest="checkpointing", action="store_false",
                   help="store activations instead of recomputing them (all training sides)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="extra PPOConfig override for the rllr sides, e.g. micro_batch_size=4 (repeatable)")


def run(args: argparse.Namespace) -> int:
    from rllr.bench.rl import main

    return main(args)
