"""Stage 2: Bradley-Terry reward models (RLLR section 3.2; RL-for-NLU PPO-RM).

    rllr rm train --config configs/rm/label.yaml train_file=pairs.jsonl
    rllr rm eval --model M --adapter runs/rm-label/adapter --pairs heldout.jsonl

A reward model is a LoRA adapter plus a linear head (`AdapterModel.add_adapter(name,
head=True)`) on the base, or on the SFT model when `init_adapter` names an SFT adapter
(merged into the base first, as RLLR initialises its RMs from the SFT model). The score is
the head output at the last non-padding token; the loss is

    loss = -mean log sigmoid(r_chosen - r_rejected - margin)   (`rllr.rl.losses.bradley_terry_loss`)

Each optimizer step averages over the global batch of pairs, so it is independent of the
number of processes. Evaluation reports pair accuracy (r_chosen > r_rejected) and the mean
score margin per task with 95% percentile-bootstrap CIs (RLLR Tables 5 and 9).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from rllr.config import check, to_dict
from rllr.errors import ConfigError
from rllr.models.adapters import LoraSettings
from rllr.train.optim import OptimConfig, resolve_precision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RMConfig:
    model: str = "smollm2-135m-instruct"
    """Base model (registry name, HF folder or hub id); a merged SFT folder works too."""
    init_adapter: str | None = None
    """SFT adapter folder merged into the base before the RM adapter is added."""
    adapter_name: Literal["rm_label", "rm_rationale"] = "rm_label"
    """Name of the reward adapter (label- or rationale-sensitive)."""
    train_file: str = "pairs/train.jsonl"
    """Pairs JSONL (see rllr.data.pairs)."""
    eval_file: str | None = None
    """Held-out pairs; if unset, `eval_fraction` of the train pairs is held out (seeded)."""
    eval_fraction: float = 0.1
    """Share of train pairs held out when there is no eval_file (0 = no evaluation)."""
    kind: Literal["label", "rationale"] | None = None
    """Use only pairs of this kind (pairs without a kind are always used)."""
    max_length: int = 512
    """Max tokens per side; longer sequences are cut from the left (counted)."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-4, batch_size=16, micro_batch_size=8))
    head_lr: float | None = None
    """Learning rate of the zero-initialised scalar head (None = optim.lr). With a few hundred
    pairs the head needs a larger step than the LoRA matrices to leave zero in time."""
    eval_batch_size: int = 16
    """Pairs per forward pass in evaluation."""
    n_resamples: int = 1000
    """Bootstrap resamples for the CIs."""
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = "no"
    """Autocast precision (auto = bf16/fp16 on GPU, none on CPU)."""
    gradient_checkpointing: bool = False
    """Recompute decoder-layer activations in backward instead of storing them (far less
    memory on long sequences, about one extra forward of time)."""
    seed: int = 0
    """Seeds LoRA/head init, the held-out split and the data order."""
    save_every: int = 0
    """Checkpoint every N steps (0 = only the final adapter)."""
    log_every: int = 1
    """Write metrics every N steps."""
    report_to: tuple[str, ...] = ()
    """Extra metric sinks: tensorboard, wandb."""
    out: str | None = None
    """Run directory (default runs/rm-<timestamp>)."""
    resume: bool = False
    """Continue from the newest complete checkpoint in `out`."""

    def __post_init__(self) -> None:
        check(0.0 <= self.eval_fraction < 1.0, "eval_fraction must be in [0, 1)")
        check(self.max_length > 8, f"max_length too small: {self.max_length}")
        check(self.eval_batch_size > 0 and self.n_resamples > 0, "eval sizes must be positive")
        check(self.head_lr is None or self.head_lr > 0, f"head_lr must be positive, got {self.head_lr}")


class PairScores(nn.Module):
    """Reward-model scores [N] of a batch (a module so DDP's forward hooks see the call)."""

    def __init__(self, model: Any, name: str) -> None:
        super().__init__()
        self.model, self.name = model, name

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.sequence_scores(self.name, input_ids, attention_mask)


def build_model(spec: str, init_adapter: str | None = None) -> Any:
    """AdapterModel on `spec`, with the SFT adapter `init_adapter` merged in when given."""
    from rllr.models.adapters import AdapterModel
    from rllr.models.load import load_merged

    return AdapterModel(load_merged(spec, init_adapter))


def run(cfg: RMConfig) -> dict[str, Any]:
    """Train the reward adapter + head; write `<out>/adapter`, metrics.jsonl, eval.json, summary.json."""
    import random

    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from rllr.data.pairs import PairStats, collate_pairs, encode_pairs, read_pairs
    from rllr.data.sft import epoch_order
    from rllr.io import MetricsLogger, atomic_write_json, default_run_dir, prepare_run_dir
    from rllr.models.load import load_tokenizer
    from rllr.rl.losses import bradley_terry_loss
    from rllr.train.accel import make_accelerator, num_processes
    from rllr.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
    from rllr.train.optim import grad_accumulation

    # --- setup -----------------------------------------------------------------------------
    accum = grad_accumulation(cfg.optim, num_processes())
    accelerator = make_accelerator(resolve_precision(cfg.mixed_precision), accum)
    world, rank = accelerator.num_processes, accelerator.process_index
    out = Path(cfg.out) if cfg.out else default_run_dir("rm")
    if accelerator.is_main_process:
        prepare_run_dir(out, to_dict(cfg))
    set_seed(cfg.seed)
    t0 = time.perf_counter()

    # --- data ------------------------------------------------------------------------------
    tokenizer = load_tokenizer(cfg.model, padding_side="right")
    stats, eval_stats = PairStats(), PairStats()
    pairs = read_pairs(cfg.train_file, kind=cfg.kind, stats=stats)
    if cfg.eval_file:
        held_out = read_pairs(cfg.eval_file, kind=cfg.kind, stats=eval_stats)
    else:
        shuffled = random.Random(cfg.seed).sample(pairs, len(pairs))
        n_eval = round(cfg.eval_fraction * len(pairs))
        held_out, pairs = shuffled[:n_eval], shuffled[n_eval:]
    rows = encode_pairs(tokenizer, pairs, cfg.max_length, stats)
    eval_rows = encode_pairs(tokenizer, held_out, cfg.max_length, eval_stats)
    B = cfg.optim.batch_size
    if len(rows) < B:
        raise ConfigError(f"only {len(rows)} training pairs for batch_size={B}")
    steps_per_epoch = len(rows) // B
    total_steps = cfg.optim.max_steps or steps_per_epoch * cfg.optim.epochs
    order = epoch_order(len(rows), -(-total_steps // steps_per_epoch), cfg.seed)
    if accelerator.is_main_process:
        log.info("rm data: %d train pairs, %d held out; skipped %d identical, %d of another kind; "
                 "%d truncated from the left; %d steps of %d", len(rows), len(eval_rows),
                 stats.skipped_identical + eval_stats.skipped_identical,
                 stats.skipped_kind + eval_stats.skipped_kind, stats.truncated + eval_stats.truncated,
                 total_steps, B)

    # --- model and optimizer ---------------------------------------------------------------
    name = cfg.adapter_name
    model = build_model(cfg.model, cfg.init_adapter)
    model.add_adapter(name, cfg.lora, head=True)
    model.train()
    model.set_gradient_checkpointing(cfg.gradient_checkpointing)
    head_params = list(model.heads[name].parameters())
    head_ids = {id(p) for p in head_params}
    lora_params = [p for p in model.parameters_of([name]) if id(p) not in head_ids]
    params = lora_params + head_params
    optimizer = torch.optim.AdamW([{"params": lora_params},
                                   {"params": head_params, "lr": cfg.head_lr or cfg.optim.lr}],
                                  lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, round(cfg.optim.warmup_ratio * total_steps),
                                                total_steps)
    start_step = 0
    if cfg.resume and (ckpt := latest_checkpoint(out)) is not None:
        state = load_checkpoint(ckpt, model=model, adapters=[name], optimizers={name: optimizer},
                                schedulers={name: scheduler})
        start_step = int(state["step"])
    scorer, optimizer = accelerator.prepare(PairScores(model, name), optimizer)
    logger = MetricsLogger(out, cfg.report_to, enabled=accelerator.is_main_process)

    # --- train -----------------------------------------------------------------------------
    bar = tqdm(total=total_steps, initial=start_step, desc="rm", disable=not accelerator.is_main_process)
    micro = cfg.optim.micro_batch_size
    for step in range(start_step, total_steps):
        batch_rows = [rows[i] for i in order[step * B:(step + 1) * B]]
        loss_sum = torch.zeros((), device=accelerator.device)
        acc_sum = torch.zeros((), device=accelerator.device)
        for m in range(accum):
            chunk = batch_rows[m * world * micro:][:world * micro][rank * micro:(rank + 1) * micro]
            batch = {k: v.to(accelerator.device) for k, v in collate_pairs(chunk, tokenizer.pad_token_id).items()}
            with accelerator.accumulate(scorer):
                scores = scorer(batch["input_ids"], batch["attention_mask"])  # [2b]
                bt = bradley_terry_loss(scores[:len(chunk)], scores[len(chunk):], batch["margin"])
                accelerator.backward(bt.loss)
                loss_sum += bt.loss.detach()
                acc_sum += bt.accuracy
                if accelerator.sync_gradients and cfg.optim.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(params, cfg.optim.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
        scheduler.step()
        loss = float(accelerator.reduce(loss_sum, "mean")) / accum
        if (step + 1) % cfg.log_every == 0 or step + 1 == total_steps:
            train_acc = float(accelerator.reduce(acc_sum, "mean")) / accum
            logger.log(step + 1, {"loss/rm": loss, "rm/train_accuracy": train_acc,
                                  "lr": scheduler.get_last_lr()[0]})
        bar.set_postfix(loss=f"{loss:.4f}")
        bar.update(1)
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < total_steps:
            if accelerator.is_main_process:
                save_checkpoint(out, step + 1, model=model, adapters=[name], optimizers={name: optimizer},
                                schedulers={name: scheduler}, state={"data_position": (step + 1) * B})
            accelerator.wait_for_everyone()
    bar.close()

    # --- save and evaluate -----------------------------------------------------------------
    summary: dict[str, Any] = {
        "out": str(out), "steps": total_steps, "train_pairs": len(rows), "eval_pairs": len(eval_rows),
        "skipped_identical": stats.skipped_identical + eval_stats.skipped_identical,
        "skipped_kind": stats.skipped_kind + eval_stats.skipped_kind,
        "truncated": stats.truncated + eval_stats.truncated, "processes": world,
        "train_seconds": round(time.perf_counter() - t0, 1)}
    if accelerator.is_main_process:
        model.save_adapter(name, out / "adapter")
        if eval_rows:
            model.eval()
            summary["eval"] = evaluate_pairs(model, name, eval_rows, tokenizer.pad_token_id,
                                             batch_size=cfg.eval_batch_size, n_resamples=cfg.n_resamples,
                                             seed=cfg.seed)
            atomic_write_json(out / "eval.json", summary["eval"])
            logger.log(total_steps, {f"eval/rm/{t}/{k}": v["point"] for t, r in summary["eval"].items()
                                     for k, v in r.items() if isinstance(v, dict)})
            log.info("held-out pairs:\n%s", format_table(summary["eval"]))
        atomic_write_json(out / "summary.json", summary)
    logger.close()
    accelerator.wait_for_everyone()
    return summary


@torch.no_grad()
def score_pairs(model: Any, name: str, rows: Sequence[dict[str, Any]], pad_id: int,
                batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(chosen scores [N], rejected scores [N]) under adapter `name`."""
    from rllr.data.pairs import collate_pairs

    device = next(model.parameters()).device
    chosen, rejected = [], []
    for s in range(0, len(rows), batch_size):
        chunk = rows[s:s + batch_size]
        batch = collate_pairs(chunk, pad_id)
        scores = model.sequence_scores(name, batch["input_ids"].to(device),
                                       batch["attention_mask"].to(device)).cpu().numpy()
        chosen.append(scores[:len(chunk)])
        rejected.append(scores[len(chunk):])
    return np.concatenate(chosen), np.concatenate(rejected)


def pair_metrics(chosen: np.ndarray, rejected: np.ndarray, tasks: Sequence[str], *,
                 n_resamples: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per task (and 'all'): n, accuracy (chosen > rejected) and mean margin, each {point, low, high}."""
    from rllr.eval.bootstrap import bootstrap_ci

    diff = np.asarray(chosen, dtype=np.float64) - np.asarray(rejected, dtype=np.float64)
    names = sorted(set(tasks))
    groups = {t: np.array([x == t for x in tasks]) for t in names}
    if len(names) > 1 or "all" not in groups:
        groups["all"] = np.ones(len(diff), dtype=bool)
    out = {}
    for t, sel in groups.items():
        d = diff[sel]
        acc = bootstrap_ci((d > 0).astype(np.float64), n_resamples=n_resamples, seed=seed)
        mar = bootstrap_ci(d, n_resamples=n_resamples, seed=seed)
        out[t] = {"n": int(sel.sum()), "accuracy": acc._asdict(), "margin": mar._asdict()}
    return out


def evaluate_pairs(model: Any, name: str, rows: Sequence[dict[str, Any]], pad_id: int, *,
                   batch_size: int = 16, n_resamples: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    chosen, rejected = score_pairs(model, name, rows, pad_id, batch_size)
    return pair_metrics(chosen, rejected, [r["task"] for r in rows], n_resamples=n_resamples, seed=seed)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'task':<12} {'n':>5}  {'pair acc':>8}  {'95% CI':<17} {'margin':>8}  {'95% CI':<17}"]
    for t, r in results.items():
        a, m = r["accuracy"], r["margin"]
        lines.append(f"{t:<12} {r['n']:>5}  {a['point']:>8.4f}  [{a['low']:.3f}, {a['high']:.3f}]   "
                     f"{m['point']:>8.4f}  [{m['low']:.3f}, {m['high']:.3f}]")
    return "\n".join(lines)
