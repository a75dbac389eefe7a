"""Log-probabilities of the sampled tokens, without materialising a `[B, T, V]` log-softmax.

    log pi(y_t) = z_t[y_t] / tau - logsumexp(z_t / tau)

The naive `log_softmax(logits).gather(labels)` allocates a full `[B, T, V]` float tensor
(several GB for B*T = 8k and V = 150k) and keeps it alive for backward. Here the B*T
rows are processed in chunks of `chunk_rows`: the float32 upcast, temperature scaling
and logsumexp temporaries exist for one chunk at a time. What autograd saves for the
backward pass is unchanged (logsumexp keeps its input), so the saving is in peak
temporary memory, and in inference (`torch.no_grad()`) it is the whole saving.

Computation is in float32 whatever the logits dtype (bf16 log-softmax loses ~2 digits,
which matters for PPO ratios); the result is float32 `[B, T]`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def logprobs_from_logits(
    logits: Tensor, labels: Tensor, *, temperature: float = 1.0, chunk_rows: int = 512
) -> Tensor:
    """Log-probability of each label under softmax(logits / temperature).

    Args:
        logits: `[B, T, V]`, already aligned so that `logits[:, t]` predicts `labels[:, t]`.
        labels: `[B, T]` int64 token ids (padded slots must hold a valid id, e.g. 0).
        temperature: sampling temperature tau > 0 (match the one used for generation).
        chunk_rows: rows of the flattened `[B*T, V]` processed at once.

    Returns:
        `[B, T]` float32 log-probabilities.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    vocab = logits.shape[-1]
    flat_logits = logits.reshape(-1, vocab)
    flat_labels = labels.reshape(-1, 1)
    chunks = []
    for z, y in zip(
        torch.split(flat_logits, chunk_rows), torch.split(flat_labels, chunk_rows), strict=True
    ):
        z = z.float()  # no copy when already float32
        if temperature != 1.0:
            z = z / temperature
        chunks.append(z.gather(-1, y).squeeze(-1) - torch.logsumexp(z, dim=-1))
    if not chunks:  # B * T == 0
        return logits.new_zeros(labels.shape, dtype=torch.float32)
    return torch.cat(chunks).view(labels.shape)
