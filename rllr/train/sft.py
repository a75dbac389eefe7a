"""Stage 1: supervised fine-tuning of a LoRA adapter (RLLR section 3.1; RL-for-NLU section 4.1).

    rllr sft --config configs/sft/quickstart.yaml optim.max_steps=20
    accelerate launch --config_file configs/accelerate/ddp_cpu.yaml -m rllr.cli sft --config ...

The loss is the token-level cross-entropy on answer tokens only, averaged over all answer
tokens of the *global* batch (every process, every accumulation micro-batch). Because each
rank knows the full data order, it can compute that token count without communication; so a
run on N processes with micro batch b gives the same per-step loss and update as one process
with the same global batch (tested). The data order is a seeded permutation per epoch,
independent of the number of processes; resuming (`resume=true`) continues from the newest
complete checkpoint at the exact data position.

Departures from the papers: LoRA (r=16 on q/v, as RLLR) instead of full fine-tuning for
RL-for-NLU; the adapter is named ``policy`` since it initialises the PPO policy.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from rllr.config import check, to_dict
from rllr.data.sft import Answer
from rllr.errors import ConfigError
from rllr.models.adapters import LoraSettings
from rllr.train.optim import OptimConfig, grad_accumulation, resolve_precision

log = logging.getLogger(__name__)
ADAPTER = "policy"


@dataclass(frozen=True)
class SFTDataConfig:
    tasks: tuple[str, ...] = ("sst2",)
    """Registered task names (a multi-task mixture when several)."""
    weights: tuple[float, ...] = ()
    """Sampling weights per task; empty = use every row of every task once per epoch."""
    mixture_size: int | None = None
    """Rows in a weighted mixture (default: total rows of all tasks)."""
    format: Answer = "label"
    """label: 'The answer is: X'; rationale: '{rationale}\\n\\nThe answer is: X'; judgement."""
    split: Literal["sft", "train"] = "sft"
    """Task split: 'sft' = the RLLR SFT/RM rows (Table 2), 'train' = all train rows."""
    limit: int | None = None
    """At most this many examples per task (the first rows of the split)."""
    data_dir: str | None = None
    """Folder with the task data folders (default: $RLLR_DATA or the bundled samples)."""
    rationale_file: str | None = None
    """JSONL with rows {uid | task+index, rationale}; required for format=rationale."""
    skip_missing_rationales: bool = False
    """Skip (and count) examples without a rationale instead of failing."""
    max_length: int = 512
    """Max tokens of prompt + answer; longer prompts are cut from the left (counted)."""

    def __post_init__(self) -> None:
        check(len(self.tasks) > 0, "data.tasks must name at least one task")
        check(not self.weights or len(self.weights) == len(self.tasks),
              "data.weights needs one weight per task")
        check(all(w >= 0 for w in self.weights), "data.weights must be non-negative")
        check(self.max_length > 8, f"data.max_length too small: {self.max_length}")
        check(self.format != "rationale" or self.rationale_file is not None,
              "data.format=rationale needs data.rationale_file")


@dataclass(frozen=True)
class EvalSettings:
    enabled: bool = True
    """Evaluate the trained adapter on each task's test split at the end."""
    limit: int | None = 200
    """Test examples per task (None = all)."""
    batch_size: int = 16
    """Generation batch size."""
    max_new_tokens: int = 16
    """Tokens generated per answer (raise for rationale answers)."""


@dataclass(frozen=True)
class SFTConfig:
    model: str = "smollm2-135m-instruct"
    """Registry name, local HF folder or hub id of the base model."""
    data: SFTDataConfig = field(default_factory=SFTDataConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalSettings = field(default_factory=EvalSettings)
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = "no"
    """Autocast precision; auto = bf16 on GPUs that have it, else fp16 on GPU, no on CPU."""
    gradient_checkpointing: bool = False
    """Recompute decoder-layer activations in backward instead of storing them (far less
    memory on long sequences, about one extra forward of time)."""
    seed: int = 0
    """Seeds LoRA init, data order and dropout."""
    save_every: int = 0
    """Checkpoint every N optimizer steps (0 = only the final adapter)."""
    keep_checkpoints: int = 2
    """How many recent checkpoints to keep."""
    log_every: int = 1
    """Write metrics every N steps."""
    report_to: tuple[str, ...] = ()
    """Extra metric sinks: tensorboard, wandb (metrics.jsonl is always written)."""
    out: str | None = None
    """Run directory (default runs/sft-<timestamp>)."""
    resume: bool = False
    """Continue from the newest complete checkpoint in `out`."""

    def __post_init__(self) -> None:
        check(self.save_every >= 0, "save_every must be >= 0")
        check(self.log_every > 0, "log_every must be positive")


def run(cfg: SFTConfig) -> dict[str, Any]:
    """Train the SFT adapter; write `<out>/adapter`, metrics.jsonl, eval.json, summary.json."""
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from rllr.data.sft import (
        SFTStats,
        build_sft_rows,
        collate_sft,
        epoch_order,
        load_rationales,
        mix,
    )
    from rllr.io import MetricsLogger, atomic_write_json, default_run_dir, prepare_run_dir
    from rllr.models.adapters import AdapterModel
    from rllr.models.load import load_merged, load_tokenizer
    from rllr.train.accel import make_accelerator, num_processes
    from rllr.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

    # --- setup -----------------------------------------------------------------------------
    accum = grad_accumulation(cfg.optim, num_processes())
    accelerator = make_accelerator(resolve_precision(cfg.mixed_precision), accum)
    world, rank = accelerator.num_processes, accelerator.process_index
    out = Path(cfg.out) if cfg.out else default_run_dir("sft")
    if accelerator.is_main_process:
        prepare_run_dir(out, to_dict(cfg))
    set_seed(cfg.seed)
    t0 = time.perf_counter()

    # --- data ------------------------------------------------------------------------------
    tokenizer = load_tokenizer(cfg.model, padding_side="right")
    tasks = _tasks(cfg.data.tasks)
    rationales = load_rationales(cfg.data.rationale_file) if cfg.data.format == "rationale" else None
    stats = SFTStats()
    per_task = {}
    for task in tasks:
        examples = task.load(cfg.data.split, cfg.data.data_dir, limit=cfg.data.limit)
        per_task[task.name] = build_sft_rows(
            task, examples, tokenizer, answer=cfg.data.format, max_length=cfg.data.max_length,
            rationales=rationales, rationale_file=cfg.data.rationale_file,
            skip_missing_rationales=cfg.data.skip_missing_rationales, stats=stats)
    rows = mix(per_task, cfg.data.weights, cfg.data.mixture_size, seed=cfg.seed)
    if len(rows) < cfg.optim.batch_size:
        raise ConfigError(f"only {len(rows)} training rows for batch_size={cfg.optim.batch_size}")
    steps_per_epoch = len(rows) // cfg.optim.batch_size
    total_steps = cfg.optim.max_steps or steps_per_epoch * cfg.optim.epochs
    order = epoch_order(len(rows), math.ceil(total_steps / steps_per_epoch), cfg.seed)
    if accelerator.is_main_process:
        log.info("sft data: %d rows (%s); %d prompts truncated from the left; %d skipped for missing "
                 "rationales; %d steps of %d (accumulation %d x %d processes)",
                 len(rows), stats.per_task, stats.truncated_prompts, stats.skipped_missing_rationales,
                 total_steps, cfg.optim.batch_size, accum, world)

    # --- model and optimizer ---------------------------------------------------------------
    model = AdapterModel(load_merged(cfg.model))
    model.add_adapter(ADAPTER, cfg.lora)
    model.train()
    model.set_gradient_checkpointing(cfg.gradient_checkpointing)
    params = model.parameters_of([ADAPTER])
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, round(cfg.optim.warmup_ratio * total_steps), total_steps)
    start_step = 0
    if cfg.resume and (ckpt := latest_checkpoint(out)) is not None:
        state = load_checkpoint(ckpt, model=model, adapters=[ADAPTER],
                                optimizers={"policy": optimizer}, schedulers={"policy": scheduler})
        start_step = int(state["step"])
        log.info("resumed from %s (step %d)", ckpt, start_step)
    # the scheduler is stepped by hand: accelerate's wrapper steps it once per process
    loss_module, optimizer = accelerator.prepare(TokenNLL(model), optimizer)
    logger = MetricsLogger(out, cfg.report_to, enabled=accelerator.is_main_process)

    # --- train -----------------------------------------------------------------------------
    bar = tqdm(total=total_steps, initial=start_step, desc="sft", disable=not accelerator.is_main_process)
    loss_value, grad_norm = float("nan"), None
    for step in range(start_step, total_steps):
        batch_rows = [rows[i] for i in order[step * cfg.optim.batch_size:(step + 1) * cfg.optim.batch_size]]
        n_tokens = sum(sum(t != -100 for t in r["labels"][1:]) for r in batch_rows)
        nll_sum = torch.zeros((), device=accelerator.device)
        for micro in range(accum):
            chunk = batch_rows[micro * world * cfg.optim.micro_batch_size:][:world * cfg.optim.micro_batch_size]
            mine = chunk[rank * cfg.optim.micro_batch_size:(rank + 1) * cfg.optim.micro_batch_size]
            batch = {k: v.to(accelerator.device) for k, v in collate_sft(mine, tokenizer.pad_token_id).items()}
            with accelerator.accumulate(loss_module):
                nll = loss_module(**batch)
                # x world x accum undoes DDP's mean and accelerate's /accum: grad = d(sum nll)/n_tokens
                accelerator.backward(nll / max(n_tokens, 1) * world * accum)
                nll_sum += nll.detach()
                if accelerator.sync_gradients and cfg.optim.max_grad_norm > 0:
                    grad_norm = accelerator.clip_grad_norm_(params, cfg.optim.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
        scheduler.step()
        loss_value = float(accelerator.reduce(nll_sum, "sum")) / max(n_tokens, 1)
        if (step + 1) % cfg.log_every == 0 or step + 1 == total_steps:
            metrics = {"loss/sft": loss_value, "lr": scheduler.get_last_lr()[0],
                       "epoch": (step + 1) * cfg.optim.batch_size / len(rows)}
            if cfg.optim.max_grad_norm > 0 and grad_norm is not None:  # None under DeepSpeed
                metrics["grad_norm"] = float(grad_norm)
            logger.log(step + 1, metrics)
        bar.set_postfix(loss=f"{loss_value:.4f}")
        bar.update(1)
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < total_steps:
            if accelerator.is_main_process:
                save_checkpoint(out, step + 1, model=model, adapters=[ADAPTER],
                                optimizers={"policy": optimizer}, schedulers={"policy": scheduler},
                                state={"data_position": (step + 1) * cfg.optim.batch_size},
                                keep=cfg.keep_checkpoints)
            accelerator.wait_for_everyone()
    bar.close()
    train_seconds = time.perf_counter() - t0

    # --- save and evaluate -----------------------------------------------------------------
    summary: dict[str, Any] = {
        "out": str(out), "steps": total_steps, "final_loss": loss_value, "rows": len(rows),
        "per_task": stats.per_task, "truncated_prompts": stats.truncated_prompts,
        "skipped_missing_rationales": stats.skipped_missing_rationales,
        "processes": world, "train_seconds": round(train_seconds, 1)}
    if accelerator.is_main_process:
        model.save_adapter(ADAPTER, out / "adapter")
        tokenizer.save_pretrained(out / "adapter")
        if cfg.eval.enabled:
            from rllr.data.sft import answer_format
            from rllr.eval.evaluate import evaluate, flat_metrics

            model.eval()
            with model.using(ADAPTER):
                results = evaluate(model.peft, tokenizer, tasks, fmt=answer_format(cfg.data.format),
                                   limit=cfg.eval.limit, data_dir=cfg.data.data_dir,
                                   max_new_tokens=cfg.eval.max_new_tokens,
                                   batch_size=cfg.eval.batch_size, out_dir=out / "eval", progress=False)
            summary["eval"] = {t: {"metrics": r["metrics"], "ci": r["ci"], "n": r["n"]}
                               for t, r in results.items()}
            atomic_write_json(out / "eval.json", results)
            logger.log(total_steps, flat_metrics(results))
        atomic_write_json(out / "summary.json", summary)
    logger.close()
    accelerator.wait_for_everyone()
    return summary


class TokenNLL(nn.Module):
    """Summed next-token NLL over answer tokens (labels != -100) of a right-padded batch.

    A module (not a function) so that DDP's forward hooks see the call. Logits are computed
    only at answer positions to keep the [*, V] tensor small.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        hidden = self.model.hidden_states(input_ids, attention_mask)  # [B, L, H]
        targets = labels[:, 1:]                                         # [B, L-1]
        answer_mask = targets != -100
        logits = self.model.logits_at(hidden[:, :-1][answer_mask]).float()  # [N, V]
        return nn.functional.cross_entropy(logits, targets[answer_mask], reduction="sum")


def _tasks(names: tuple[str, ...]) -> list[Any]:
    from rllr.tasks.registry import get_task

    return [get_task(n) for n in names]
