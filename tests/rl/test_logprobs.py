"""Chunked log-probabilities of sampled tokens against the naive full log-softmax."""

from __future__ import annotations

import math

import pytest
import torch

from rllr.rl.logprobs import logprobs_from_logits


def _naive(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def test_logprobs_hand_computed() -> None:
    # logits [0, ln 3] -> p = [1/4, 3/4]; label 1: ln 0.75 = -0.287682
    # logits [0, ln 9] at temperature 2 -> [0, ln 3], the same -0.287682
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, math.log(9.0)]]])
    labels = torch.tensor([[1, 1]])
    out = logprobs_from_logits(logits[:, :1], labels[:, :1])
    torch.testing.assert_close(out, torch.tensor([[-0.287682]]))
    out = logprobs_from_logits(logits[:, 1:], labels[:, 1:], temperature=2.0)
    torch.testing.assert_close(out, torch.tensor([[-0.287682]]))


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_chunked_matches_naive_values_and_gradients(temperature: float) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 11, generator=g)
    labels = torch.randint(0, 11, (3, 5), generator=g)
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    # 15 rows in chunks of 4: the last chunk is partial
    chunked = logprobs_from_logits(a, labels, temperature=temperature, chunk_rows=4)
    naive = _naive(b, labels, temperature)
    torch.testing.assert_close(chunked, naive)
    weights = torch.randn(3, 5, generator=g)
    (chunked * weights).sum().backward()
    (naive * weights).sum().backward()
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad, b.grad)


def test_bf16_logits_are_computed_in_float32() -> None:
    g = torch.Generator().manual_seed(1)
    logits = (4 * torch.randn(2, 3, 50, generator=g)).bfloat16()
    labels = torch.randint(0, 50, (2, 3), generator=g)
    out = logprobs_from_logits(logits, labels)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, _naive(logits, labels))


def test_rejects_nonpositive_temperature() -> None:
    with pytest.raises(ValueError, match="temperature"):
        logprobs_from_logits(
            torch.zeros(1, 1, 2), torch.zeros(1, 1, dtype=torch.long), temperature=0
        )
