"""Stage 3: RL from rewards with PPO (GAE critic), GRPO or RLOO on one model with LoRA adapters.

    rllr ppo --algo gae --reward judgement --config configs/ppo/ppo_rule.yaml steps=20
    accelerate launch --config_file configs/accelerate/ddp_cpu.yaml -m rllr.cli ppo --config ...

One step: rollout (sample G completions per prompt from the `policy` adapter) -> score
(old / reference log-probs, values, reward sources) -> advantages (`rl.ADVANTAGES`) ->
`ppo_epochs` passes over shuffled minibatches -> log -> checkpoint. Every formula lives in
`rllr.rl` / `rllr.rewards`; this file only orchestrates.

RLLR (ACL 2024, eq. 5): reward = RM score at the last token, minus beta * KL(pi || pi_SFT)
per token (`kl_placement="reward"`); value model = a separate LoRA adapter initialised from
the label RM (`value_init="rm_label"`). The reference policy is "all adapters off": with
`reference="sft_merged"` the SFT adapter is merged into the base weights first, so
adapters-off *is* the SFT model and the policy LoRA starts at zero on top of it; with
`reference="base"` the SFT adapter itself becomes the trainable policy adapter and the KL is
taken to the pre-SFT base model (cheaper, not the paper's). RL-for-NLU (GRPO): rule reward,
KL as a loss term (`kl_placement="loss"`, k3), no critic.

Departures: LoRA dropout is off during RL (the model stays in eval mode) so that the first
PPO epoch's ratio is exactly 1; the entropy is logged, not used as a bonus. Under
Accelerate each process samples its own prompts and gradients are averaged by one
all-reduce per minibatch (no DDP wrapper: roles call adapter methods, not `forward`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rllr.config import check, to_dict
from rllr.models.adapters import LoraSettings
from rllr.rewards.sources import RewardConfig
from rllr.rl.kl import KLKind
from rllr.rl.masked import AggregationMode
from rllr.tasks.base import Format

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PPOConfig:
    algo: Literal["gae", "grpo", "rloo"] = "gae"
    """Advantage estimator: gae (PPO with a critic), grpo or rloo (group baselines, no critic)."""
    model: str = "smollm2-135m-instruct"
    """Registry name, local HF folder or hub id of the base model."""
    sft_adapter: str | None = None
    """Peft adapter folder from `rllr sft` that the policy starts from (None = the base model)."""
    reference: Literal["base", "sft_merged"] = "sft_merged"
    """sft_merged: merge the SFT adapter into the base, reference = SFT model; base: see module doc."""
    tasks: dict[str, float] = field(default_factory=lambda: {"sst2": 1.0})
    """Task name -> prompt sampling weight (several = a multi-task prompt mixture)."""
    data_dir: str | None = None
    """Folder with the task data folders (default: $RLLR_DATA or the bundled samples)."""
    split: Literal["train", "rl", "sft"] = "rl"
    """Prompt split: 'rl' = the RLLR RL rows (after the SFT/RM cut)."""
    max_prompts: int | None = None
    """At most this many prompts per task (first rows of the split)."""
    fmt: Format = "judgement"
    """Answer format: judgement (<Judgement>X</Judgement>) or rllr (The answer is: X)."""
    prompts_per_step: int = 8
    """Prompts per step per process; the batch is prompts_per_step * group_size completions."""
    group_size: int = 1
    """Completions per prompt (>= 2 for grpo / rloo)."""
    max_new_tokens: int = 32
    """Response length cap; sampling also stops at EOS."""
    temperature: float = 1.0
    """Sampling temperature (log-probs use the same temperature)."""
    top_p: float = 1.0
    """Nucleus sampling threshold (1.0 = off; log-probs ignore the truncation)."""
    ppo_epochs: int = 1
    """Passes over the rollout batch per step."""
    minibatch_size: int = 8
    """Completions per optimizer step."""
    micro_batch_size: int | None = 8
    """Completions per forward/backward inside a minibatch (gradient accumulation; losses are
    normalised by the minibatch's token / sequence counts, so the update does not depend on
    it); bounds activation memory. None = the whole minibatch at once."""
    shared_prefix: bool = True
    """Forward each prompt once for all its samples: generation prefills P prompts, not P*G,
    and scoring/training forwards pack a prompt's responses into one row with a 4D mask
    (same numbers up to float rounding; models with only full causal attention under sdpa or
    eager, others fall back to one row per sample)."""
    mmap_threshold_kib: int | None = 4096
    """Heap allocations above this many KiB get their own mmap, returned to the OS on free
    (glibc `mallopt`, fixed instead of glibc's dynamic threshold; None = leave glibc be; a
    MALLOC_MMAP_THRESHOLD_ in the environment wins). On the default model's GRPO step, 4096
    lowered the step's peak RSS by ~100 MiB (about 1530 -> 1410) at no measurable time; 128
    saves more (PPO 2513 -> 1339 MiB) but costs ~1.5x step time (page faults on every large
    tensor); see `rllr.train.memory.set_mmap_threshold`."""
    trim_heap: bool = True
    """Give freed heap pages back to the OS (glibc `malloc_trim`) after each rollout phase and
    each role's micro-batch backward. Tensors under the mmap threshold live in the heap, and a
    forward's freed activations stayed resident between them. Bench PPO step on the default
    model, paired runs: peak RSS 2427 -> 1886 MiB, step 107.7 -> 113.3 s (the freed pages
    fault back in). Turn it off when time matters more than memory; see
    `rllr.train.memory.trim_heap`."""
    gradient_checkpointing: bool = False
    """Recompute each decoder layer's activations during backward instead of storing them
    (less memory, about one extra forward of time; TRL's GRPOConfig turns it on by default)."""
    clip_eps: float = 0.2
    """PPO ratio clip range."""
    value_clip: float | None = 0.2
    """Value-prediction clip range (None = unclipped value loss)."""
    vf_coef: float = 0.1
    """Weight of the value loss (gae only)."""
    gamma: float = 1.0
    """Discount (gae)."""
    lam: float = 0.95
    """GAE lambda."""
    whiten_advantages: bool = True
    """Whiten GAE advantages over the batch (group estimators are already normalised)."""
    loss_aggregation: AggregationMode = "token-mean"
    """How per-token losses are reduced (see rl.masked.aggregate_loss)."""
    kl_coef: float = 0.04
    """KL coefficient beta (initial value when adaptive)."""
    kl_estimator: KLKind = "k1"
    """Per-token KL estimator (Schulman's k1 / k2 / k3, or abs)."""
    kl_placement: Literal["reward", "loss"] = "reward"
    """reward: -beta*KL per token in the reward (RLHF, RLLR eq. 5); loss: beta*KL added to the loss (GRPO)."""
    adaptive_kl: bool = False
    """Use the Ziegler et al. adaptive KL controller instead of a fixed coefficient."""
    kl_target: float = 6.0
    """Adaptive KL: target per-sequence KL."""
    kl_horizon: float = 10000.0
    """Adaptive KL: horizon in samples."""
    value_init: Literal["rm_label", "fresh", "policy_head"] = "fresh"
    """Critic: adapter copied from the label RM (RLLR), a fresh adapter, or a head on the policy."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    """LoRA settings of new adapters (policy, fresh value)."""
    lr: float = 1e-4
    """AdamW learning rate (policy and critic)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 = off)."""
    steps: int = 10
    """Rollout + update steps."""
    save_every: int = 0
    """Checkpoint every N steps (0 = only at the end)."""
    seed: int = 0
    """Seeds prompt choice, sampling and minibatch order (per step, so resuming is exact)."""
    rewards: RewardConfig = field(default_factory=RewardConfig)
    """Reward sources, weights, mix, normalisation and clipping."""
    max_nonfinite: int = 5
    """Stop with an error after more than this many skipped non-finite minibatches."""
    forward_batch_size: int = 16
    """Rows per no-grad scoring forward."""
    eval_limit: int | None = 200
    """Test examples per task for the final greedy evaluation (0 = skip evaluation)."""
    eval_before: bool = False
    """Also evaluate the starting policy (eval_before/metrics.json), for before/after comparisons."""
    report_to: tuple[str, ...] = ()
    """Extra metric sinks: tensorboard, wandb (metrics.jsonl is always written)."""
    out: str | None = None
    """Run directory (default runs/ppo-<timestamp>)."""
    resume: bool = False
    """Continue from the newest complete checkpoint in `out`."""

    def __post_init__(self) -> None:
        check(len(self.tasks) > 0 and all(w >= 0 for w in self.tasks.values()),
              "tasks must map at least one task to a non-negative weight")
        check(self.algo == "gae" or self.group_size >= 2, f"algo={self.algo} needs group_size >= 2")
        check(self.prompts_per_step > 0 and self.minibatch_size > 0, "batch sizes must be positive")
        check(self.max_new_tokens > 0 and self.temperature > 0, "max_new_tokens and temperature must be > 0")
        check(0 < self.top_p <= 1, "top_p must be in (0, 1]")
        check(self.steps > 0 and self.ppo_epochs > 0, "steps and ppo_epochs must be positive")
        check(self.kl_coef >= 0 and self.clip_eps > 0, "kl_coef >= 0 and clip_eps > 0 required")
        check(self.value_init != "rm_label" or self.algo != "gae" or self.rewards.rm_label is not None,
              "value_init=rm_label needs rewards.rm_label (the label RM adapter)")
        check(self.max_nonfinite >= 0, "max_nonfinite must be >= 0")
        check(self.micro_batch_size is None or self.micro_batch_size > 0, "micro_batch_size must be positive")
        check(self.mmap_threshold_kib is None or self.mmap_threshold_kib > 0, "mmap_threshold_kib must be positive")


def run(cfg: PPOConfig) -> dict[str, Any]:
    """Train the policy; write metrics.jsonl, checkpoints, `<out>/policy`, eval/metrics.json, summary.json."""
    from rllr.errors import RllrError
    from rllr.eval.evaluate import flat_metrics
    from rllr.io import MetricsLogger, atomic_write_json, default_run_dir, prepare_run_dir
    from rllr.models.chat import render_prompt
    from rllr.rewards.mix import RunningMoments
    from rllr.rewards.sources import ScoreInputs, score_sources, shape_rewards
    from rllr.rl.advantages import ADVANTAGES, sequence_to_token_rewards, whiten_advantages
    from rllr.rl.kl import kl_penalty
    from rllr.rl.masked import masked_mean, masked_sum
    from rllr.train.accel import make_accelerator
    from rllr.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
    from rllr.train.memory import peak_memory_mib, set_mmap_threshold, trim_heap
    from rllr.train.ppo_update import accumulate_minibatch, sync_grads
    from rllr.train.rollout import sample, score_rollout

    # --- setup -----------------------------------------------------------------------------
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # the environment's setting wins
        set_mmap_threshold(cfg.mmap_threshold_kib * 1024 if cfg.mmap_threshold_kib else None)
    accelerator = make_accelerator()
    rank, world = accelerator.process_index, accelerator.num_processes
    out = Path(cfg.out) if cfg.out else default_run_dir("ppo")
    if accelerator.is_main_process:
        prepare_run_dir(out, to_dict(cfg))
    torch.manual_seed(cfg.seed)  # identical LoRA init on every process
    model, tokenizer, trained, value_role = build_model(cfg)
    model.to(accelerator.device).eval()
    model.set_gradient_checkpointing(cfg.gradient_checkpointing)
    params = model.parameters_of(trained)
    optimizer = torch.optim.AdamW(params, lr=cfg.lr)
    kl_ctl, moments = kl_controller(cfg), RunningMoments()
    tasks, pools = load_prompt_pools(cfg)
    logger = MetricsLogger(out, cfg.report_to, enabled=accelerator.is_main_process)
    start, skipped, history = 0, 0, []
    if cfg.resume and (ckpt := latest_checkpoint(out)) is not None:
        state = load_checkpoint(ckpt, model=model, adapters=trained, optimizers={"ppo": optimizer})
        start, skipped, history = state["step"], state["skipped_nonfinite"], state["reward_history"]
        kl_ctl.load_state_dict(state["kl"])
        moments.load_state_dict(state["moments"])
        log.info("resumed from %s (step %d)", ckpt, start)
    need_ref = cfg.kl_coef > 0 or cfg.adaptive_kl
    if cfg.eval_before and cfg.eval_limit != 0 and start == 0 and accelerator.is_main_process:
        evaluate_policy(model, tokenizer, tasks, cfg, out / "eval_before")  # -> eval_before/metrics.json
    G = cfg.group_size

    def release() -> None:
        if cfg.trim_heap:
            trim_heap()

    def token_kl(logprobs: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
        """[B, T] per-token KL estimate to the reference (zeros without one)."""
        return kl_penalty(logprobs, ref, cfg.kl_estimator) if ref is not None else torch.zeros_like(logprobs)

    peak_memory_mib(reset=True)  # from here on each step logs its own peak
    t_start = time.perf_counter()

    for step in range(start, cfg.steps):
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed * 1_000_003 + step * 1009 + rank)  # sampling + minibatch order
        # --- rollout -----------------------------------------------------------------------
        chosen = pick_prompts(tasks, pools, cfg, step, rank)  # [(task, example)] * P
        prompts = [render_prompt(tokenizer, task.prompt(ex, cfg.fmt)) for task, ex in chosen]
        rollout = sample(model, tokenizer, prompts, group_size=G, max_new_tokens=cfg.max_new_tokens,
                         temperature=cfg.temperature, top_p=cfg.top_p, shared_prefix=cfg.shared_prefix)
        mask = rollout.response_mask                                       # [B, T] bool
        B = mask.shape[0]
        release()
        t_gen = time.perf_counter() - t0
        # --- score -------------------------------------------------------------------------
        # one optimizer step per rollout and no KL in the reward: pi_old is the training
        # forward's own (detached) log-probs, so their separate forward is skipped
        on_policy = cfg.ppo_epochs == 1 and cfg.minibatch_size >= B and not (need_ref and cfg.kl_placement == "reward")
        roles = score_rollout(model, rollout, temperature=cfg.temperature, need_ref=need_ref,
                              value_role=value_role, chunk=cfg.forward_batch_size, need_old=not on_policy,
                              shared_prefix=cfg.shared_prefix, after_forward=release)
        inputs = ScoreInputs(rollout.texts, [ex for _, ex in chosen for _ in range(G)],
                             [t for t, _ in chosen for _ in range(G)], cfg.fmt,
                             rollout.input_ids, rollout.attention_mask, model)
        scores = score_sources(cfg.rewards, inputs)                        # {source: [B]}
        rewards = shape_rewards(cfg.rewards, scores, moments).to(mask.device)  # [B]
        release()
        t_score = time.perf_counter() - t0 - t_gen
        # --- advantages --------------------------------------------------------------------
        with torch.no_grad():
            kl = None if roles.old_logprobs is None else token_kl(roles.old_logprobs, roles.ref_logprobs)
            in_reward = cfg.kl_placement == "reward"
            token_rewards = sequence_to_token_rewards(rewards, mask, kl if in_reward else None, kl_ctl.value)
            adv = ADVANTAGES[cfg.algo](token_rewards, mask, values=roles.old_values, group_size=G,
                                       gamma=cfg.gamma, lam=cfg.lam)
            if cfg.algo == "gae" and cfg.whiten_advantages:
                adv = whiten_advantages(adv, mask)
        # --- ppo epochs --------------------------------------------------------------------
        finite = bool(torch.isfinite(rewards).all()) and bool(torch.isfinite(adv.advantages).all())
        stats: dict[str, list[float]] = {}
        t_update_start = time.perf_counter()
        # on-policy: the update's log-probs, for the KL metric (rows of a skipped minibatch: KL 0)
        trained_lp = None if kl is not None else (
            roles.ref_logprobs.clone() if roles.ref_logprobs is not None else torch.zeros(mask.shape, device=mask.device))
        for _ in range(cfg.ppo_epochs if finite else 0):
            order = torch.randperm(B)
            for i in range(0, B, cfg.minibatch_size):
                # sorted: a prompt's rows sit together in micro-batches (packed forwards); the
                # minibatch gradient does not depend on its order
                idx = order[i:i + cfg.minibatch_size].sort().values
                optimizer.zero_grad(set_to_none=True)
                mb_stats = accumulate_minibatch(model, cfg, rollout, roles, adv, idx, value_role, kl_ctl.value,
                                                logprobs_out=trained_lp, after_backward=release)
                ok = torch.tensor([float(math.isfinite(mb_stats["loss/total"]))], device=accelerator.device)
                if float(accelerator.reduce(ok, reduction="sum")) < world:  # all ranks skip together
                    optimizer.zero_grad(set_to_none=True)
                    skipped += 1
                    continue
                sync_grads(params, accelerator)
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm or math.inf)
                optimizer.step()
                for k, v in {**mb_stats, "train/grad_norm": float(grad_norm)}.items():
                    stats.setdefault(k, []).append(v)
        t_update = time.perf_counter() - t_update_start
        if not finite:
            skipped += 1
        if skipped > cfg.max_nonfinite:
            raise RllrError(f"ppo: {skipped} non-finite minibatches/rewards skipped "
                            f"(> max_nonfinite={cfg.max_nonfinite}) at step {step}; lower lr or check rewards")
        if kl is None:
            assert trained_lp is not None
            kl = token_kl(trained_lp, roles.ref_logprobs)
        seq_kl = masked_sum(kl, mask, dim=-1)                              # [B]
        kl_ctl.update(float(accelerator.gather(seq_kl).mean()), B * world)
        # --- log ---------------------------------------------------------------------------
        metrics = {k: float(np.mean(v)) for k, v in stats.items()}
        for name, s in scores.items():
            metrics[f"reward/{name}/mean"] = float(accelerator.gather(s.to(accelerator.device)).mean())
        all_rewards = accelerator.gather(rewards)
        metrics.update({
            "reward/mix/mean": float(all_rewards.mean()), "reward/mix/std": float(all_rewards.std()),
            "kl/seq_mean": float(accelerator.gather(seq_kl).mean()), "kl/coef": kl_ctl.value,
            "response/length_mean": float(mask.sum(-1).float().mean()),
            "response/eos_fraction": float(rollout.finished.float().mean()),
            "train/skipped_nonfinite": skipped, "train/num_processes": world,
            "time/step_s": time.perf_counter() - t0, "time/generate_s": t_gen,
            "time/score_s": t_score, "time/update_s": t_update,
            **peak_memory_mib(reset=True),
        })
        hits = rollout_hits(chosen, rollout.texts, cfg.fmt, G)
        if hits is not None:  # sampled answers, a training-time accuracy curve for any reward
            metrics["rollout/accuracy"] = float(accelerator.gather(hits.to(accelerator.device)).mean())
        if roles.old_values is not None:
            metrics["ppo/values_mean"] = float(masked_mean(roles.old_values, mask))
        history.append(metrics["reward/mix/mean"])
        logger.log(step + 1, metrics)
        if accelerator.is_main_process:
            log.info("step %d/%d reward %.3f kl %.3f loss/policy %.4f (%.1f s)", step + 1, cfg.steps,
                     metrics["reward/mix/mean"], metrics["kl/seq_mean"], metrics.get("loss/policy", math.nan),
                     metrics["time/step_s"])
        # --- checkpoint --------------------------------------------------------------------
        last = step + 1 == cfg.steps
        if (cfg.save_every and (step + 1) % cfg.save_every == 0) or last:
            if accelerator.is_main_process:
                save_checkpoint(out, step + 1, model=model, adapters=trained, optimizers={"ppo": optimizer},
                                state={"skipped_nonfinite": skipped, "kl": kl_ctl.state_dict(),
                                       "moments": moments.state_dict(), "reward_history": history})
            accelerator.wait_for_everyone()

    # --- final save + evaluation -------------------------------------------------------------
    summary: dict[str, Any] = {"steps": cfg.steps, "skipped_nonfinite": skipped,
                               "reward_mean": float(np.mean(history)) if history else math.nan,
                               "reward_history": history, "seconds": time.perf_counter() - t_start}
    if accelerator.is_main_process:
        model.save_adapter("policy", out / "policy")
        if cfg.eval_limit != 0:
            summary["eval"] = evaluate_policy(model, tokenizer, tasks, cfg, out / "eval")
            logger.log(cfg.steps, flat_metrics(summary["eval"]))
        atomic_write_json(out / "summary.json", summary)
    logger.close()
    # every rank leaves together: a rank that exits while rank 0 still saves or evaluates
    # tears the gloo group down under it (SIGABRT "terminate called without an active exception")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


# --- helpers (orchestration only; the math is in rllr.rl / rllr.rewards) ----------------------


def build_model(cfg: PPOConfig) -> tuple[Any, Any, list[str], tuple[str, str] | None]:
    """(AdapterModel, tokenizer, trained adapter names, value role) for `cfg` (see module doc)."""
    from rllr.models.adapters import AdapterModel
    from rllr.models.load import load_causal_lm, load_tokenizer
    from rllr.rewards.reward_model import RM_ADAPTERS, attach_reward_models

    tokenizer = load_tokenizer(cfg.model)
    base = load_causal_lm(cfg.model)
    if cfg.sft_adapter and cfg.reference == "sft_merged":
        from peft import PeftModel

        base = PeftModel.from_pretrained(base, cfg.sft_adapter).merge_and_unload()
    model = AdapterModel(base)
    if cfg.sft_adapter and cfg.reference == "base":
        model.load_adapter("policy", cfg.sft_adapter, trainable=True)
    else:
        model.add_adapter("policy", cfg.lora)
    critic_from_rm = cfg.algo == "gae" and cfg.value_init == "rm_label"
    wanted = {n: getattr(cfg.rewards, n) for n in RM_ADAPTERS
              if n in cfg.rewards.sources or (n == "rm_label" and critic_from_rm)}
    attach_reward_models(model, wanted)
    trained, value_role = ["policy"], None
    if cfg.algo == "gae":
        if cfg.value_init == "policy_head":  # one forward gives log-probs and values
            model.heads["policy"] = torch.nn.Linear(model.hidden_size, 1)
            torch.nn.init.zeros_(model.heads["policy"].weight)
            torch.nn.init.zeros_(model.heads["policy"].bias)
            value_role = ("policy", "policy")
        else:
            if critic_from_rm:
                model.copy_adapter("rm_label", "value")
            else:
                model.add_adapter("value", cfg.lora, head=True)
            trained.append("value")
            value_role = ("value", "value")
    model.set_trainable(trained)
    return model, tokenizer, trained, value_role


def kl_controller(cfg: PPOConfig) -> Any:
    from rllr.rl.kl import AdaptiveKLController, FixedKLController

    if cfg.adaptive_kl:
        return AdaptiveKLController(cfg.kl_coef, cfg.kl_target, cfg.kl_horizon)
    return FixedKLController(cfg.kl_coef)


def load_prompt_pools(cfg: PPOConfig) -> tuple[list[Any], list[list[Any]]]:
    """The tasks of the mixture and each task's prompt examples."""
    from rllr.tasks.registry import get_task

    tasks = [get_task(name) for name in cfg.tasks]
    pools = [t.load(cfg.split, cfg.data_dir, limit=cfg.max_prompts) for t in tasks]
    return tasks, pools


def pick_prompts(tasks: list[Any], pools: list[list[Any]], cfg: PPOConfig, step: int,
                 rank: int) -> list[tuple[Any, Any]]:
    """`prompts_per_step` (task, example) pairs, drawn by task weight; a pure function of (seed, step, rank)."""
    rng = np.random.default_rng([cfg.seed, step, rank])
    weights = np.array([cfg.tasks[t.name] for t in tasks], dtype=np.float64)
    which = rng.choice(len(tasks), size=cfg.prompts_per_step, p=weights / weights.sum())
    return [(tasks[k], pools[k][int(rng.integers(len(pools[k])))]) for k in which]


def rollout_hits(chosen: list[tuple[Any, Any]], texts: list[str], fmt: Format,
                 group_size: int) -> torch.Tensor | None:
    """1/0 per sampled completion: does its parsed answer match the gold label? None when no
    prompt has a label to match (QA, language modelling)."""
    rows = [(task, ex) for task, ex in chosen for _ in range(group_size)]
    hits = [float(task.is_correct(task.parse(text, fmt), ex))
            for (task, ex), text in zip(rows, texts, strict=True) if task.kind in ("classification", "regression", "multiple_choice")]
    return torch.tensor(hits) if hits else None


def evaluate_policy(model: Any, tokenizer: Any, tasks: list[Any], cfg: PPOConfig,
                    out_dir: Path | None = None) -> dict[str, Any]:
    """Greedy test-split metrics with 95% bootstrap CIs per task (`rllr.eval.evaluate`), policy adapter on."""
    from rllr.eval.evaluate import evaluate

    with model.using("policy"):
        return evaluate(model.peft, tokenizer, tasks, fmt=cfg.fmt, limit=cfg.eval_limit, data_dir=cfg.data_dir,
                        max_new_tokens=cfg.max_new_tokens, batch_size=cfg.forward_batch_size,
                        out_dir=out_dir, progress=False, print_table=False)
