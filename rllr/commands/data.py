"""`rllr data`: teacher-built data for RLLR.

    rllr data rationales --task sst2 --teacher-url http://127.0.0.1:8000/v1 --out r/rationales.jsonl
    rllr data pairs --kind label --task sst2 --rationales r/rationales.jsonl --out r/pairs.jsonl --heldout 0.2
    rllr data pairs --kind rationale --task sst2 --policy-model smollm2-135m-instruct \\
        --teacher-url http://127.0.0.1:8000/v1 --out r/rpairs.jsonl --limit 16

Teacher answers are cached under `--cache-dir` (default: `<out dir>/teacher-cache`), so a
rerun costs no requests; teacher counters and wall time are printed and saved to
`<out stem>.summary.json`.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from rllr.io import atomic_write_json, write_jsonl

log = logging.getLogger(__name__)


def _teacher_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("teacher")
    g.add_argument("--teacher-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--teacher-local", help="run this model in-process instead of over HTTP")
    g.add_argument("--teacher-model", help="model name sent to the endpoint (default: its first)")
    g.add_argument("--api-key-env", help="NAME of the env variable holding the API key")
    g.add_argument("--cache-dir", help="teacher answer cache (default: <out dir>/teacher-cache)")
    g.add_argument("--concurrency", type=int, default=4)
    g.add_argument("--timeout", type=float, default=300.0, help="seconds per HTTP request")
    g.add_argument("--retries", type=int, default=4)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = sub.add_parser("rationales", help="gold- and wrong-label rationales (RLLR App. B, D)")
    p.add_argument("--task", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--data-dir", help="task data folder root (default: bundled samples)")
    p.add_argument("--limit", type=int, help="first N SFT examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--chunk-size", type=int, default=16)
    p.add_argument("--filter", choices=["classifier", "rules", "none"], default="classifier",
                   help="refusal filter: trained classifier (+rules), rules only, or none")
    p.add_argument("--threshold", type=float, help="refusal classifier threshold (default: saved)")
    p.add_argument("--truncated", choices=["keep", "trim", "drop"], default="keep",
                   help="answers that stop mid-sentence (max tokens hit): keep, cut to their "
                   "complete sentences, or count as failed")
    p.add_argument("--resample", type=int, default=0, metavar="N",
                   help="ask again up to N times for each failed or filtered rationale")
    p.add_argument("--resample-temperature", type=float, default=0.7)
    _teacher_args(p)

    q = sub.add_parser("pairs", help="label- or rationale-sensitive preference pairs")
    q.add_argument("--kind", choices=["label", "rationale"], required=True)
    q.add_argument("--task", required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--heldout", type=float, default=0.0, help="fraction of prompts held out")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--rationales", help="label pairs: the rationales JSONL")
    q.add_argument("--policy-model", help="rationale pairs: the SFT model to sample from")
    q.add_argument("--policy-adapter", help="rationale pairs: a peft LoRA adapter folder")
    q.add_argument("--data-dir")
    q.add_argument("--limit", type=int)
    q.add_argument("--num-samples", type=int, default=5)
    q.add_argument("--max-new-tokens", type=int, default=128)
    q.add_argument("--temperature", type=float, default=1.0)
    _teacher_args(q)


def make_teacher_from_args(args: argparse.Namespace, out: Path) -> Any:
    from rllr.teacher.client import make_teacher

    return make_teacher(url=args.teacher_url, local=args.teacher_local, model=args.teacher_model,
                        api_key_env=args.api_key_env,
                        cache_dir=args.cache_dir or str(out.parent / "teacher-cache"),
                        concurrency=args.concurrency, timeout=args.timeout,
                        max_retries=args.retries)


def _summary_path(out: Path) -> Path:
    stem = out.name.removesuffix(".jsonl")
    return out.with_name(f"{stem}.summary.json")


def run(args: argparse.Namespace) -> int:
    from rllr.errors import DataError
    from rllr.tasks.registry import get_task

    t0 = time.time()
    task = get_task(args.task)
    out = Path(args.out)
    summary: dict[str, Any] = {"task": task.name, "command": args.data_command}
    teacher = None
    if args.data_command == "rationales":
        from rllr.data import refusal
        from rllr.data.rationales import build_rationales

        teacher = make_teacher_from_args(args, out)  # preflight first: fail fast
        check = {"none": None, "rules": refusal.rules_only}.get(args.filter)
        if args.filter == "classifier":
            check = refusal.RefusalFilter.load(threshold=args.threshold).reasons
        examples = task.load("sft", args.data_dir, limit=args.limit)
        counts = build_rationales(task, examples, teacher, out, seed=args.seed,
                                  max_tokens=args.max_tokens, temperature=args.temperature,
                                  chunk_size=args.chunk_size, check=check, truncated=args.truncated,
                                  resample=args.resample,
                                  resample_temperature=args.resample_temperature)
        summary.update(counts._asdict())
    elif args.kind == "label":
        from rllr.data.make_pairs import label_pairs, load_rationales, write_pairs

        if not args.rationales:
            raise DataError("--kind label needs --rationales FILE")
        pairs, dropped = label_pairs(task, load_rationales(args.rationales))
        summary["files"] = write_pairs(pairs, out, args.heldout, args.seed)
        summary.update(pairs=len(pairs), dropped=len(dropped))
        write_jsonl(out.with_name(out.stem + ".dropped.jsonl"), dropped)
    else:
        from rllr.data.make_pairs import rationale_pairs, sample_responses, write_pairs

        if not args.policy_model:
            raise DataError("--kind rationale needs --policy-model")
        teacher = make_teacher_from_args(args, out)
        examples = task.load("sft", args.data_dir, limit=args.limit)
        responses = sample_responses(task, examples, args.policy_model, adapter=args.policy_adapter,
                                     num_samples=args.num_samples, max_new_tokens=args.max_new_tokens,
                                     temperature=args.temperature, seed=args.seed)
        write_jsonl(out.with_name(out.stem + ".samples.jsonl"),
                    ({"uid": ex.uid, "responses": r} for ex, r in zip(examples, responses)))
        pairs, rejected = rationale_pairs(task, examples, responses, teacher, seed=args.seed)
        summary["files"] = write_pairs(pairs, out, args.heldout, args.seed)
        write_jsonl(out.with_name(out.stem + ".rejected.jsonl"), rejected)
        summary.update(prompts=len(examples), pairs=len(pairs), rejected_prompts=len(rejected))
    if teacher is not None:
        summary["teacher"] = {"model": teacher.model, **teacher.stats.as_dict()}
    summary["wall_s"] = round(time.time() - t0, 1)
    atomic_write_json(_summary_path(out), summary)
    print(" ".join(f"{k}={v}" for k, v in summary.items() if not isinstance(v, dict)))
    if teacher is not None:
        print(f"teacher: {teacher.stats.line()}")
    return 0
