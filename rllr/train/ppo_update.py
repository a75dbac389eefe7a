"""One PPO minibatch update on the shared-base model: losses per role, backward, gradient sync.

Each role (policy, then the critic when it is a separate adapter) is forwarded *and*
backpropagated while its own adapter is active. That is what makes activation
(gradient) checkpointing correct here: a checkpointed layer recomputes its forward during
backward with whatever LoRA adapter is active at that moment, so a single backward of
`policy_loss + vf_coef * value_loss` would recompute the policy path under the value
adapter. The two roles train disjoint parameters, so two backwards give the same gradient
as one backward of the sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def accumulate_minibatch(model: Any, cfg: Any, rollout: Any, roles: Any, adv: Any, idx: torch.Tensor,
                         value_role: tuple[str, str] | None, kl_coef: float,
                         logprobs_out: torch.Tensor | None = None,
                         after_backward: Callable[[], None] | None = None) -> dict[str, float]:
    """Backward the minibatch `idx` in micro-batches; return its stats (losses summed, rest averaged).

    Each micro-batch loss is normalised by the whole minibatch's counts (`aggregate_loss`
    num_tokens / num_seqs), so the accumulated gradient equals the one-shot minibatch gradient.
    A non-finite loss is not backpropagated and `loss/total` is NaN: the caller skips the minibatch.
    `logprobs_out` `[B, T]`: receives the policy's detached log-probs of rows `idx`.
    `after_backward`: called after each role's micro-batch backward (e.g. to trim the heap).
    """
    done = after_backward or (lambda: None)
    mask = rollout.response_mask[idx]
    norm = {"num_tokens": mask.sum().clamp(min=1), "num_seqs": mask.any(-1).sum().clamp(min=1)}
    micro = cfg.micro_batch_size or len(idx)
    separate_critic = value_role is not None and value_role[0] != "policy"
    parts = []
    for j in range(0, len(idx), micro):
        part_idx = idx[j:j + micro]
        with model.using("policy"):
            total, stats = policy_losses(model, cfg, rollout, roles, adv, part_idx, kl_coef,
                                         value_head="policy" if value_role == ("policy", "policy") else None,
                                         logprobs_out=logprobs_out, **norm)
            if not torch.isfinite(total):
                return {"loss/total": math.nan}
            total.backward()
        done()
        if separate_critic:
            adapter, head = value_role  # type: ignore[misc]
            with model.using(adapter):
                value_total, value_stats = value_losses(model, cfg, rollout, roles, adv, part_idx, adapter, head, **norm)
                if not torch.isfinite(value_total):
                    return {"loss/total": math.nan}
                value_total.backward()
            done()
            stats.update(value_stats)
            stats["loss/total"] += value_stats["loss/value"] * cfg.vf_coef
        parts.append(stats)
    return {k: float(np.sum([p[k] for p in parts]) if k.startswith("loss/") else np.mean([p[k] for p in parts]))
            for k in parts[0]}


def policy_losses(model: Any, cfg: Any, rollout: Any, roles: Any, adv: Any, idx: torch.Tensor, kl_coef: float, *,
                  value_head: str | None = None, num_tokens: torch.Tensor | None = None,
                  num_seqs: torch.Tensor | None = None,
                  logprobs_out: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped policy loss (+ KL-as-loss, + value loss of a head on the policy) on rows `idx`, with gradients.

    `num_tokens` / `num_seqs`: normalisers for `aggregate_loss` (None = this batch's own).
    Without `roles.old_logprobs` (on-policy) pi_old is these log-probs, detached: ratio 1,
    gradient of the plain policy gradient, no clipping."""
    from rllr.rl.kl import kl_penalty
    from rllr.rl.losses import ppo_policy_loss
    from rllr.rl.masked import aggregate_loss, masked_mean
    from rllr.train.rollout import response_hidden, response_logprobs_entropy

    part = rollout.rows(idx)
    mask = part.response_mask                                             # [b, T]
    hidden = response_hidden(model, "policy", part, shared_prefix=cfg.shared_prefix)  # [b, T, H]
    logprobs, entropy = response_logprobs_entropy(model, hidden, part.response_ids, cfg.temperature, entropy=True)
    if logprobs_out is not None:
        logprobs_out[idx] = logprobs.detach()
    old = roles.old_logprobs[idx] if roles.old_logprobs is not None else logprobs.detach()
    pl = ppo_policy_loss(logprobs, old, adv.advantages[idx], mask,
                         clip_eps=cfg.clip_eps, aggregation=cfg.loss_aggregation,
                         num_tokens=num_tokens, num_seqs=num_seqs)
    total = pl.loss
    stats = {"loss/policy": float(pl.loss.detach()), "ppo/clipfrac": float(pl.clipfrac),
             "ppo/approx_kl": float(pl.approx_kl), "policy/entropy": float(masked_mean(entropy, mask))}
    if value_head is not None:
        vtotal, vstats = _value_loss(model, cfg, roles, adv, idx, mask, hidden, value_head, num_tokens, num_seqs)
        total = total + cfg.vf_coef * vtotal
        stats.update(vstats)
    if cfg.kl_placement == "loss" and roles.ref_logprobs is not None:
        kl = aggregate_loss(kl_penalty(logprobs, roles.ref_logprobs[idx], cfg.kl_estimator), mask,
                            cfg.loss_aggregation, num_tokens=num_tokens, num_seqs=num_seqs)
        total = total + kl_coef * kl
        stats["loss/kl"] = float(kl.detach())
    stats["loss/total"] = float(total.detach())
    return total, stats


def value_losses(model: Any, cfg: Any, rollout: Any, roles: Any, adv: Any, idx: torch.Tensor, adapter: str,
                 head: str, *, num_tokens: torch.Tensor | None = None,
                 num_seqs: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """`vf_coef`-weighted clipped value loss of a separate critic adapter on rows `idx`, with gradients."""
    from rllr.train.rollout import response_hidden

    part = rollout.rows(idx)
    hidden = response_hidden(model, adapter, part, shared_prefix=cfg.shared_prefix)
    vtotal, stats = _value_loss(model, cfg, roles, adv, idx, part.response_mask, hidden, head, num_tokens, num_seqs)
    return cfg.vf_coef * vtotal, stats


def _value_loss(model: Any, cfg: Any, roles: Any, adv: Any, idx: torch.Tensor, mask: torch.Tensor,
                hidden: torch.Tensor, head: str, num_tokens: torch.Tensor | None,
                num_seqs: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
    from rllr.rl.losses import explained_variance, value_loss

    values = model.head_scores(head, hidden)                               # [b, T]
    vl = value_loss(values, roles.old_values[idx], adv.returns[idx], mask, clip_eps=cfg.value_clip,
                    aggregation=cfg.loss_aggregation, num_tokens=num_tokens, num_seqs=num_seqs)
    return vl.loss, {"loss/value": float(vl.loss.detach()), "ppo/value_clipfrac": float(vl.clipfrac),
                     "ppo/explained_variance": float(explained_variance(values, adv.returns[idx], mask))}


def sync_grads(params: list[torch.nn.Parameter], accelerator: Any) -> None:
    """Average gradients over processes with one all-reduce (no-op on one process)."""
    if accelerator.num_processes == 1:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
    flat = accelerator.reduce(flat, reduction="mean")
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n
