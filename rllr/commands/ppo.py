"""`rllr ppo`: RL with PPO (GAE critic), GRPO or RLOO from rule or reward-model rewards.

    rllr ppo --config configs/ppo/quickstart_grpo.yaml
    rllr ppo --algo gae --reward judgement --config configs/ppo/ppo_rule.yaml steps=50 lr=5e-5
    rllr ppo --reward rllr_mixed --config configs/ppo/rllr_mixed.yaml rewards.rm_label=runs/rm-label/adapter
    rllr ppo --config FILE out=runs/ppo-1 --resume

`--algo` and `--reward` are shorthands for the `algo=` and `rewards.*` overrides; the
trailing `key.sub=value` overrides are applied last.
"""

from __future__ import annotations

import argparse
import json

REWARDS = ("judgement", "answer", "rm_label", "rm_rationale", "rllr_mixed", "squad_em", "squad_f1")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config (configs/ppo/*.yaml)")
    parser.add_argument("--algo", choices=("gae", "grpo", "rloo"), help="advantage estimator")
    parser.add_argument("--reward", choices=REWARDS, help="reward source (rllr_mixed = RLLR eq. 4)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in out")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. steps=20 rewards.lam=3.0")


def build_config(args: argparse.Namespace) -> object:
    from rllr.config import load_config
    from rllr.rewards.sources import reward_preset
    from rllr.train.ppo import PPOConfig

    overrides = []
    if args.algo:
        overrides.append(f"algo={args.algo}")
    if args.reward:
        preset = reward_preset(args.reward)
        overrides.append("rewards.sources=" + json.dumps(preset["sources"]))
        overrides.append(f"rewards.mix={preset['mix']}")
    if args.resume:
        overrides.append("resume=true")
    return load_config(PPOConfig, args.config, [*overrides, *args.overrides])


def run(args: argparse.Namespace) -> int:
    from rllr.train.ppo import run as run_ppo

    summary = run_ppo(build_config(args))  # type: ignore[arg-type]
    line = {k: v for k, v in summary.items() if k != "reward_history"}
    print(json.dumps(line, default=str))
    return 0
