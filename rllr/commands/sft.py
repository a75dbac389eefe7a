"""`rllr sft`: LoRA supervised fine-tuning (stage 1).

    rllr sft --config configs/sft/quickstart.yaml optim.max_steps=20 out=runs/sft-qs
    rllr sft --config configs/sft/quickstart.yaml out=runs/sft-qs --resume
    accelerate launch --config_file configs/accelerate/ddp_cpu.yaml -m rllr.cli sft --config ...
"""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML preset (see configs/sft/)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest complete checkpoint in `out`")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=1e-4")


def run(args: argparse.Namespace) -> int:
    from rllr.config import load_config
    from rllr.train.sft import SFTConfig
    from rllr.train.sft import run as run_sft

    overrides = list(args.overrides) + (["resume=true"] if args.resume else [])
    cfg = load_config(SFTConfig, args.config, overrides)
    summary = run_sft(cfg)
    print(json.dumps(summary, indent=2, default=str))
    return 0
