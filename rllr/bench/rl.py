"""`rllr bench rl`: one rllr GRPO step vs one TRL `GRPOTrainer` step, and one rllr PPO step
(policy, value, two RMs as adapters + reference = adapters off) vs the same five roles as
separate model copies, plus a base-model inference footprint.

Each side runs in a fresh subprocess (`python -m rllr.bench.rl --side NAME`) so that the
peak RSS (`resource.getrusage` high-water mark, which includes the model load and the
Python/torch baseline) and `torch.cuda.max_memory_allocated` are per side. A side prints one
JSON line: seconds per step (the mean over steps 2..N; the first includes warm-up), generated
tokens per second (last step) and peak memory.

Workload (both sides identical): SST-2 prompts in the <Judgement> format, LoRA r=16 on
q/v, P prompts x G samples, N new tokens, KL coefficient 0.04 (GRPO: k3 in the loss; TRL's
`beta`), one optimizer step per rollout, temperature 1, no top-k / top-p, activation
(gradient) checkpointing on for every training side (TRL's GRPOConfig default;
`--no-checkpointing` turns it off everywhere), training in micro-batches of M rows on every
side (`--micro-batch`; TRL: per-device batch M with P*G/M accumulation steps), and the same
glibc mmap threshold for every side with `--mmap-threshold-kib` (without it, each side runs
as shipped: glibc's dynamic threshold for TRL, the copies and base inference; rllr's trainer
fixes it at its `mmap_threshold_kib` default, 4 MiB). The RM adapters of the PPO side are made by
the driver, so their throw-away model load is not in that side's peak.
The copies side is a minimal hand-written PPO step (no library): it exists to measure what
separate models cost, not to train.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIDES = ("rllr-grpo", "trl-grpo", "rllr-ppo", "copies-ppo", "base-infer")
RANDOM_INIT = {  # Qwen2-style configs for GPU timing without downloads
    "qwen2-0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                   "num_attention_heads": 14, "num_key_value_heads": 2, "tie_word_embeddings": True},
    "qwen2-1.5b": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                   "num_attention_heads": 12, "num_key_value_heads": 2, "tie_word_embeddings": True},
    "qwen2-tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,  # tests of this path
                   "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": True},
}


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync() -> None:
    """Wait for queued CUDA kernels before reading a wall clock (no-op on CPU)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _after_warmup(times: list[float]) -> float:
    """Mean seconds per step over steps 2..N (step 1 includes warm-up); step 1 alone if N = 1."""
    return sum(times[1:]) / (len(times) - 1) if len(times) > 1 else times[0]


def peak_memory_mib() -> dict[str, float]:
    """Whole-process peaks since start (model load included), across the trainer's per-step resets."""
    from rllr.train.memory import lifetime_peaks_mib

    return lifetime_peaks_mib()


def workload_prompts(tokenizer: Any, n: int) -> tuple[list[str], list[Any], Any]:
    from rllr.models.chat import render_prompt
    from rllr.tasks.registry import get_task

    task = get_task("sst2")
    examples = task.load("train", limit=n)
    return [render_prompt(tokenizer, task.prompt(ex, "judgement")) for ex in examples], examples, task


# --- sides ---------------------------------------------------------------------------------


def side_rllr(args: argparse.Namespace, algo: str) -> dict[str, Any]:
    from rllr.config import load_config
    from rllr.train.ppo import PPOConfig, run

    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"algo={algo}", f"model={args.model}", f"out={tmp}/run", f"steps={args.steps}",
                     f"prompts_per_step={args.prompts}", f"max_new_tokens={args.new_tokens}", "split=train",
                     "lora.r=16", "lora.alpha=32", "lora.dropout=0.0", "lr=1e-5", "eval_limit=0",
                     f"forward_batch_size={args.prompts * args.group}", "kl_coef=0.04",
                     f"micro_batch_size={args.micro_batch}",
                     f"gradient_checkpointing={str(args.checkpointing).lower()}"]
        if algo == "grpo":
            overrides += [f"group_size={args.group}", f"minibatch_size={args.prompts * args.group}",
                          "kl_placement=loss", "kl_estimator=k3"]
        else:  # PPO with 4 adapters: policy, value (from rm_label), rm_label, rm_rationale
            rms = {name: Path(args.rm_dir) / name for name in ("rm_label", "rm_rationale")}
            overrides += ["group_size=1", f"prompts_per_step={args.prompts * args.group}",
                          f"minibatch_size={args.prompts * args.group}", "value_init=rm_label",
                          "rewards.mix=rllr", 'rewards.sources={"rm_label": 1.0, "rm_rationale": 1.0}',
                          f"rewards.rm_label={rms['rm_label']}", f"rewards.rm_rationale={rms['rm_rationale']}"]
        run(load_config(PPOConfig, None, overrides + list(args.set or [])))
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "time/step_s" in r]  # training steps only
    last = rows[-1]
    tokens = last["response/length_mean"] * args.prompts * args.group
    return {"s_per_step": _after_warmup([r["time/step_s"] for r in rows]), "first_step_s": rows[0]["time/step_s"],
            "tokens_per_s": tokens / last["time/step_s"]}


def make_rm_adapters(model_spec: str, root: Path) -> dict[str, Path]:
    """Two untrained RM adapters (LoRA + head) saved in peft format: the cost is what matters."""
    from rllr.models.adapters import AdapterModel, LoraSettings
    from rllr.models.load import load_causal_lm

    model = AdapterModel(load_causal_lm(model_spec))
    paths = {}
    for name in ("rm_label", "rm_rationale"):
        model.add_adapter(name, LoraSettings(r=16, dropout=0.0), head=True)
        paths[name] = model.save_adapter(name, root / name)
    del model
    import gc

    gc.collect()
    return paths


def side_trl(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rllr.models.load import load_causal_lm, load_tokenizer
    from rllr.rewards.rule import judgement_reward

    tokenizer = load_tokenizer(args.model)
    prompts, examples, task = workload_prompts(tokenizer, args.prompts)
    lengths: list[float] = []

    def reward(prompts: list[str], completions: list[str], idx: list[int], **kw: Any) -> list[float]:
        ids = kw.get("completion_ids")
        lengths.append(float(sum(len(c) for c in ids)) if ids is not None else float("nan"))
        return [judgement_reward(c, examples[i], task) for c, i in zip(completions, idx, strict=True)]

    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.t0 = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            times.append(time.perf_counter() - self.t0)

    accum = args.prompts * args.group // args.micro_batch
    with tempfile.TemporaryDirectory() as tmp:
        cfg = GRPOConfig(
            # one generation of P*G completions per optimizer step, trained in micro-batches of M rows
            output_dir=tmp, per_device_train_batch_size=args.micro_batch, num_generations=args.group,
            steps_per_generation=accum, gradient_accumulation_steps=accum, max_completion_length=args.new_tokens,
            beta=0.04, learning_rate=1e-5, max_steps=args.steps, temperature=1.0, top_p=1.0, top_k=0,
            logging_steps=1, report_to="none", save_strategy="no", use_cpu=not torch.cuda.is_available(),
            bf16=False, disable_dropout=True, gradient_checkpointing=args.checkpointing, num_iterations=1, shuffle_dataset=False, seed=0)
        data = Dataset.from_dict({"prompt": prompts * args.steps, "idx": list(range(len(prompts))) * args.steps})
        trainer = GRPOTrainer(model=load_causal_lm(args.model), reward_funcs=reward, args=cfg, train_dataset=data,
                              processing_class=tokenizer, callbacks=[Timer()],
                              peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                                     target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
        trainer.train()
    return {"s_per_step": _after_warmup(times), "first_step_s": times[0], "tokens_per_s": lengths[-1] / times[-1]}


def side_copies(args: argparse.Namespace) -> dict[str, Any]:
    """Five roles as five models: policy (+LoRA), reference, value (+LoRA, head), two RMs (+heads)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from rllr.eval.generate import eos_token_ids
    from rllr.models.load import load_causal_lm, load_tokenizer
    tokenizer = load_tokenizer(args.model)
    prompts, _, _ = workload_prompts(tokenizer, args.prompts * args.group)
    dev = _device()
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    policy = get_peft_model(load_causal_lm(args.model, device=dev), lora)
    value = get_peft_model(load_causal_lm(args.model, device=dev), lora)
    if args.checkpointing:  # transformers checkpoints only in train mode (no dropout in these models)
        for m in (policy, value):
            m.base_model.model.gradient_checkpointing_enable({"use_reentrant": False})
            m.train()
    ref, rm1, rm2 = (load_causal_lm(args.model, device=dev) for _ in range(3))
    hidden = policy.config.hidden_size
    heads = {n: torch.nn.Linear(hidden, 1, device=dev) for n in ("value", "rm1", "rm2")}
    opt = torch.optim.AdamW([p for p in [*policy.parameters(), *value.parameters(), *heads["value"].parameters()]
                             if p.requires_grad], lr=1e-5)
    times, tokens = [], 0.0
    for _ in range(args.steps):
        _sync()
        t0 = time.perf_counter()
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(dev)
        with torch.no_grad():
            out = policy.generate(**enc, max_new_tokens=args.new_tokens, do_sample=True, top_k=0,
                                  eos_token_id=eos_token_ids(policy, tokenizer), pad_token_id=tokenizer.pad_token_id)
        mask = torch.ones_like(out)
        mask[:, : enc["input_ids"].shape[1]] = enc["attention_mask"]
        n, resp = enc["input_ids"].shape[1], out[:, enc["input_ids"].shape[1]:]
        tokens = float(resp.numel())

        with torch.no_grad():
            old, ref_lp = _lp(policy, out, mask, n, resp), _lp(ref, out, mask, n, resp)
            scores = heads["rm1"](_last_hidden(rm1, out, mask)[:, -1]) + heads["rm2"](_last_hidden(rm2, out, mask)[:, -1])
        adv = scores.detach() - 0.04 * (old - ref_lp)
        for rows in torch.split(torch.arange(out.shape[0], device=dev), args.micro_batch):  # accumulate
            ids, m, r, a = out[rows], mask[rows], resp[rows], adv[rows]
            ratio = torch.exp(_lp(policy, ids, m, n, r) - old[rows])
            values = heads["value"](_last_hidden(value, ids, m)[:, n - 1:-1]).squeeze(-1)
            loss = -(ratio * a).mean() + 0.5 * ((values - a) ** 2).mean()
            (loss * len(rows) / out.shape[0]).backward()
        opt.step()
        opt.zero_grad()
        _sync()
        times.append(time.perf_counter() - t0)
    return {"s_per_step": _after_warmup(times), "first_step_s": times[0], "tokens_per_s": tokens / times[-1]}


def _lp(model: Any, ids: Any, mask: Any, n: int, resp: Any) -> Any:
    from rllr.rl.logprobs import logprobs_from_logits

    return logprobs_from_logits(model(input_ids=ids, attention_mask=mask).logits[:, n - 1:-1], resp)


def _last_hidden(model: Any, ids: Any, mask: Any) -> Any:
    return model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]


def side_base_infer(args: argparse.Namespace) -> dict[str, Any]:
    """The base model generating the same workload: the footprint the 5 roles are compared to."""
    import torch

    from rllr.eval.generate import eos_token_ids
    from rllr.models.load import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(args.model)
    model = load_causal_lm(args.model, device=_device())
    prompts, _, _ = workload_prompts(tokenizer, args.prompts * args.group)
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    _sync()
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=args.new_tokens, do_sample=True, top_k=0,
                             eos_token_id=eos_token_ids(model, tokenizer), pad_token_id=tokenizer.pad_token_id)
    _sync()
    dt = time.perf_counter() - t0
    return {"s_per_step": dt, "first_step_s": dt,
            "tokens_per_s": (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0] / dt}


# --- driver --------------------------------------------------------------------------------


def random_init_model(name: str, tokenizer_from: str, root: Path) -> str:
    """A random-initialised Qwen2-style model folder (with the default tokenizer) for GPU timing."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from rllr.models.load import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_from)
    cfg = Qwen2Config(vocab_size=max(len(tokenizer), 32000), max_position_embeddings=4096,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                      **RANDOM_INIT[name])
    torch.manual_seed(0)
    folder = root / name
    Qwen2ForCausalLM(cfg).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def run_side(side: str, args: argparse.Namespace, rm_dir: Path) -> dict[str, Any] | None:
    cmd = [sys.executable, "-m", "rllr.bench.rl", "--side", side, "--model", args.model, "--steps", str(args.steps),
           "--prompts", str(args.prompts), "--group", str(args.group), "--new-tokens", str(args.new_tokens),
           "--micro-batch", str(args.micro_batch), "--rm-dir", str(rm_dir)]
    if not args.checkpointing:
        cmd.append("--no-checkpointing")
    for kv in args.set or []:
        cmd += ["--set", kv]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if args.mmap_threshold_kib:  # read by glibc at start-up: every side, rllr's trainer included
        env["MALLOC_MMAP_THRESHOLD_"] = str(args.mmap_threshold_kib * 1024)
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"{side}: failed (exit {proc.returncode})\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def main(args: argparse.Namespace) -> int:
    """Run the sides in fresh subprocesses; print a table and the ratios."""
    import importlib.util

    from rllr.errors import RllrError

    if (args.prompts * args.group) % args.micro_batch:
        raise RllrError(f"bench rl: --micro-batch {args.micro_batch} must divide prompts x group = "
                        f"{args.prompts * args.group}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.random_init:
            args.model = random_init_model(args.random_init, args.model, Path(tmp))
        sides = list(args.sides)
        if "trl-grpo" in sides and importlib.util.find_spec("trl") is None:
            print("trl-grpo: skipped, TRL is not installed: pip install 'rllr[bench]' (or pip install trl)")
            sides.remove("trl-grpo")
        if "rllr-ppo" in sides:
            make_rm_adapters(args.model, Path(tmp) / "rms")
        results = {s: r for s in sides if (r := run_side(s, args, Path(tmp) / "rms")) is not None}
    print(f"workload: {args.model}, {args.prompts} prompts x {args.group} samples, {args.new_tokens} new tokens, "
          f"LoRA r=16 q/v, KL 0.04, training micro-batch {args.micro_batch} rows, "
          f"glibc mmap threshold {f'{args.mmap_threshold_kib} KiB on every side' if args.mmap_threshold_kib else 'as shipped (rllr: its mmap_threshold_kib, others: dynamic)'}, "
          f"checkpointing {'on' if args.checkpointing else 'off'}, "
          f"s/step = mean of steps 2..{args.steps}" if args.steps > 1 else "1 step")
    print(f"{'side':<12}{'s/step':>10}{'1st step s':>12}{'tok/s':>10}{'peak RSS MiB':>14}{'cuda MiB':>10}")
    for s, r in results.items():
        print(f"{s:<12}{r['s_per_step']:>10.2f}{r['first_step_s']:>12.2f}{r['tokens_per_s']:>10.1f}"
              f"{r['peak_rss_mib']:>14.0f}{r.get('cuda_peak_mib', float('nan')):>10.0f}")
    mem = "cuda_peak_mib" if any("cuda_peak_mib" in r for r in results.values()) else "peak_rss_mib"
    if "rllr-ppo" in results and "base-infer" in results:
        print(f"ppo 5-role footprint / base inference = {results['rllr-ppo'][mem] / results['base-infer'][mem]:.2f}")
    if "rllr-ppo" in results and "copies-ppo" in results:
        a, b = results["rllr-ppo"], results["copies-ppo"]
        print(f"ppo ratio time={a['s_per_step'] / b['s_per_step']:.2f} memory={a[mem] / b[mem]:.2f}")
    if "rllr-grpo" in results and "trl-grpo" in results:
        a, b = results["rllr-grpo"], results["trl-grpo"]
        print(f"ratio time={a['s_per_step'] / b['s_per_step']:.2f} memory={a[mem] / b[mem]:.2f}")
    return 0


def _side_main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--side", choices=SIDES, required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--group", type=int, default=4)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--no-checkpointing", dest="checkpointing", action="store_false")
    p.add_argument("--rm-dir", help="folder with rm_label/ and rm_rationale/ adapters (rllr-ppo)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="extra PPOConfig override (rllr sides)")
    args = p.parse_args()
    import torch

    torch.manual_seed(0)
    fns = {"rllr-grpo": lambda: side_rllr(args, "grpo"), "rllr-ppo": lambda: side_rllr(args, "gae"),
           "trl-grpo": lambda: side_trl(args), "copies-ppo": lambda: side_copies(args),
           "base-infer": lambda: side_base_infer(args)}
    result = fns[args.side]()
    print(json.dumps({"side": args.side, **result, **peak_memory_mib()}))
    return 0


if __name__ == "__main__":
    sys.exit(_side_main())
