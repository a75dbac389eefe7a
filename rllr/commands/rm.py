"""`rllr rm`: train or evaluate a Bradley-Terry reward model (stage 2).

    rllr rm train --config configs/rm/label.yaml train_file=pairs/label.jsonl
    rllr rm eval --model smollm2-135m-instruct --adapter runs/rm-label/adapter --pairs heldout.jsonl

`eval` prints pair accuracy and mean margin per task with 95% bootstrap CIs (RLLR Tables
5/9) and writes them as JSON (`--out`, default <adapter>/../eval-<pairs stem>.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("train", help="train a reward adapter + head on preference pairs")
    p.add_argument("--config", help="YAML preset (see configs/rm/)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in `out`")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=1e-4")
    p = sub.add_parser("eval", help="pair accuracy and margin on held-out pairs, with CIs")
    p.add_argument("--model", default="smollm2-135m-instruct", help="base model the RM was trained on")
    p.add_argument("--init-adapter", dest="init_adapter", help="SFT adapter merged into the base (as in training)")
    p.add_argument("--adapter", required=True, help="reward adapter folder (with head.safetensors)")
    p.add_argument("--pairs", required=True, help="pairs JSONL")
    p.add_argument("--kind", choices=("label", "rationale"), help="only pairs of this kind")
    p.add_argument("--max-length", dest="max_length", type=int, default=512)
    p.add_argument("--batch-size", dest="batch_size", type=int, default=16)
    p.add_argument("--n-resamples", dest="n_resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON output path")


def run(args: argparse.Namespace) -> int:
    return _train(args) if args.action == "train" else _eval(args)


def _train(args: argparse.Namespace) -> int:
    from rllr.config import load_config
    from rllr.train.reward_model import RMConfig
    from rllr.train.reward_model import run as run_rm

    cfg = load_config(RMConfig, args.config, list(args.overrides) + (["resume=true"] if args.resume else []))
    print(json.dumps(run_rm(cfg), indent=2, default=str))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from rllr.data.pairs import PairStats, encode_pairs, read_pairs
    from rllr.errors import ModelError
    from rllr.io import atomic_write_json
    from rllr.models.load import load_tokenizer
    from rllr.train.reward_model import build_model, evaluate_pairs, format_table

    adapter = Path(args.adapter)
    if not (adapter / "head.safetensors").is_file():
        raise ModelError(f"{adapter}: not a reward adapter (no head.safetensors)")
    tokenizer = load_tokenizer(args.model, padding_side="right")
    stats = PairStats()
    rows = encode_pairs(tokenizer, read_pairs(args.pairs, kind=args.kind, stats=stats), args.max_length, stats)
    model = build_model(args.model, args.init_adapter)
    model.load_adapter("rm", adapter)
    model.eval()
    results = evaluate_pairs(model, "rm", rows, tokenizer.pad_token_id, batch_size=args.batch_size,
                             n_resamples=args.n_resamples, seed=args.seed)
    report = {"pairs": str(args.pairs), "adapter": str(adapter), "skipped_identical": stats.skipped_identical,
              "skipped_kind": stats.skipped_kind, "truncated": stats.truncated, "results": results}
    out = Path(args.out) if args.out else adapter.parent / f"eval-{Path(args.pairs).stem}.json"
    atomic_write_json(out, report)
    print(format_table(results))
    print(f"skipped {stats.skipped_identical} identical pairs; {stats.truncated} truncated from the left")
    print(out)
    return 0
