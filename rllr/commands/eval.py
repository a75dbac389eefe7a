"""`rllr eval`: zero/few-shot evaluation of a model (optionally with a LoRA adapter), with 95% CIs.

    rllr eval --tasks sst2,mnli --format rllr --shots 2 --limit 200
    rllr eval --model runs/sft-1/merged --tasks glue --format judgement --samples 100
    rllr eval --adapter runs/ppo-1/policy --tasks sst2 --data-dir ../shared/data
    rllr eval --config my_eval.yaml shots=2 limit=50          # YAML keys = EvalConfig fields

Precedence: defaults < --config YAML < flags < key=value overrides. The run folder
(default runs/eval-<timestamp>) gets config.yaml, versions.json, git.txt, metrics.json and
predictions/<task>.jsonl. The table is printed, and the last line is the metrics.json path.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from rllr.models.registry import DEFAULT_MODEL

# flag -> EvalConfig field (None-valued flags are not passed, so the YAML value stays)
_FLAGS = ("model", "adapter", "tasks", "format", "shots", "samples", "limit", "data_dir", "seed",
          "max_new_tokens", "batch_size", "temperature", "top_p", "out", "dtype")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help=f"registry name, HF folder or hub id (default {DEFAULT_MODEL})")
    parser.add_argument("--adapter", help="peft LoRA adapter folder to load on top of --model")
    parser.add_argument("--tasks", help="comma-separated tasks / groups / task .yaml (default sst2,mnli)")
    parser.add_argument("--format", choices=("rllr", "judgement"), help="answer format (default rllr)")
    parser.add_argument("--shots", help="K demonstrations from the train split (default 0); "
                        "a list such as 0,2 evaluates each K in turn (run-dir/shots-K)")
    parser.add_argument("--samples", type=int,
                        help="N sampled completions per example; CIs over the N prediction sets")
    parser.add_argument("--data-dir", dest="data_dir",
                        help="data root with one folder per task (default: bundled samples)")
    parser.add_argument("--limit", type=int, help="first N test examples per task")
    parser.add_argument("--out", help="run folder (default runs/eval-<timestamp>)")
    parser.add_argument("--max-new-tokens", dest="max_new_tokens", type=int)
    parser.add_argument("--batch-size", dest="batch_size", type=int)
    parser.add_argument("--temperature", type=float, help="sample at this temperature")
    parser.add_argument("--top-p", dest="top_p", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"))
    parser.add_argument("--config", help="YAML with EvalConfig fields")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. shots=2")


def load_eval_config(args: argparse.Namespace) -> Any:
    """EvalConfig from defaults < --config < flags < overrides."""
    from rllr.config import load_config, to_dict
    from rllr.eval.evaluate import EvalConfig

    data = to_dict(load_config(EvalConfig, args.config))
    flags = {k: getattr(args, k) for k in _FLAGS if getattr(args, k, None) is not None}
    if "tasks" in flags:
        flags["tasks"] = [t.strip() for t in flags["tasks"].split(",") if t.strip()]
    flags.pop("shots", None)  # may be a list; see shot_list
    data.update(flags)
    return load_config(EvalConfig, None, args.overrides, base=data)


def shot_list(args: argparse.Namespace, default: int) -> list[int]:
    """The K values of --shots ("2" or "0,2"); a bad value is a one-line ConfigError."""
    from rllr.errors import ConfigError

    if args.shots is None:
        return [default]
    try:
        shots = [int(k) for k in str(args.shots).split(",") if k.strip()]
    except ValueError:
        raise ConfigError(f"--shots {args.shots!r}: expected integers such as 2 or 0,2") from None
    if not shots or min(shots) < 0:
        raise ConfigError(f"--shots {args.shots!r}: expected non-negative integers")
    return shots


def load_model(cfg: Any) -> tuple[Any, Any]:
    """Tokenizer (left padding) and model in eval mode, with the adapter merged if given."""
    import torch

    from rllr.errors import ModelError
    from rllr.models.load import Dtype, load_causal_lm, load_tokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype: Dtype = cfg.dtype if cfg.dtype != "auto" else ("bfloat16" if device == "cuda" else "float32")
    tokenizer = load_tokenizer(cfg.model, padding_side="left")
    model = load_causal_lm(cfg.model, dtype=dtype, device=device)
    if cfg.adapter:
        from peft import PeftModel

        if not (Path(cfg.adapter) / "adapter_config.json").is_file():
            raise ModelError(f"{cfg.adapter}: not a peft adapter folder (no adapter_config.json)")
        model = PeftModel.from_pretrained(model, cfg.adapter).merge_and_unload()
    model.eval()  # type: ignore[no-untyped-call]
    return model, tokenizer


def run(args: argparse.Namespace) -> int:
    from rllr.config import to_dict
    from rllr.eval.evaluate import evaluate
    from rllr.io import default_run_dir, prepare_run_dir
    from rllr.tasks.registry import resolve_tasks

    cfg = load_eval_config(args)
    shots = shot_list(args, cfg.shots)
    tasks = resolve_tasks(",".join(cfg.tasks))  # unknown names fail before the model loads
    root = Path(cfg.out or default_run_dir("eval"))
    model, tokenizer = load_model(cfg)
    for k in shots:
        run_dir = root if len(shots) == 1 else root / f"shots-{k}"
        # the resolved config names the real folder and K
        run_cfg = dataclasses.replace(cfg, out=str(run_dir), shots=k)
        prepare_run_dir(run_dir, to_dict(run_cfg))
        print(f"\n== {k}-shot ==")
        evaluate(
            model, tokenizer, tasks, fmt=cfg.format, shots=k, samples=cfg.samples,
            limit=cfg.limit, data_dir=cfg.data_dir, seed=cfg.seed, max_new_tokens=cfg.max_new_tokens,
            batch_size=cfg.batch_size, temperature=cfg.temperature, top_p=cfg.top_p,
            n_resamples=cfg.n_resamples, ppl_max_length=cfg.ppl_max_length, ppl_stride=cfg.ppl_stride,
            out_dir=run_dir, print_table=True,
        )
    for k in shots:
        print(root / ("" if len(shots) == 1 else f"shots-{k}") / "metrics.json")
    return 0
