"""Masked reductions and loss aggregation: hand-computed values, empty rows, sharding."""

from __future__ import annotations

import math

import pytest
import torch

from rllr.rl.masked import (
    AggregationMode,
    aggregate_loss,
    masked_mean,
    masked_sum,
    masked_var,
    masked_whiten,
)

T, F = True, False


def test_masked_sum_and_mean_hand_computed() -> None:
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[T, T, F], [T, F, F]])
    # 1 + 2 + 4 = 7 over 3 tokens
    torch.testing.assert_close(masked_sum(values, mask), torch.tensor(7.0))
    torch.testing.assert_close(masked_mean(values, mask), torch.tensor(7.0 / 3.0))
    # rows: 1 + 2 = 3 (mean 1.5); 4 (mean 4)
    torch.testing.assert_close(masked_sum(values, mask, dim=-1), torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(masked_mean(values, mask, dim=-1), torch.tensor([1.5, 4.0]))
    # columns: 1 + 4 = 5 over 2 -> 2.5; 2 over 1; nothing -> 0
    torch.testing.assert_close(masked_mean(values, mask, dim=0), torch.tensor([2.5, 2.0, 0.0]))


def test_masked_slots_holding_nan_or_inf_are_ignored() -> None:
    values = torch.tensor([[1.0, math.nan, -math.inf]])
    mask = torch.tensor([[T, F, F]])
    torch.testing.assert_close(masked_sum(values, mask), torch.tensor(1.0))
    torch.testing.assert_close(masked_mean(values, mask), torch.tensor(1.0))


def test_all_masked_gives_zero_not_nan() -> None:
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    mask = torch.tensor([[T, T], [F, F]])
    # row 0: (1 + 2) / 2 = 1.5; row 1 has no tokens: 0 / max(0, 1) = 0
    torch.testing.assert_close(masked_mean(values, mask, dim=-1), torch.tensor([1.5, 0.0]))
    nothing = torch.zeros(2, 2, dtype=torch.bool)
    torch.testing.assert_close(masked_mean(values, nothing), torch.tensor(0.0))
    torch.testing.assert_close(masked_var(values, nothing), torch.tensor(0.0))


def test_masked_var_hand_computed() -> None:
    values = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[T, T, T, F]])
    # mean 2; squared deviations 1 + 0 + 1 = 2; unbiased 2 / (3 - 1) = 1; biased 2 / 3
    torch.testing.assert_close(masked_var(values, mask), torch.tensor(1.0))
    torch.testing.assert_close(masked_var(values, mask, unbiased=False), torch.tensor(2.0 / 3.0))
    # per row with dim=-1: one row, same numbers
    torch.testing.assert_close(masked_var(values, mask, dim=-1), torch.tensor([1.0]))
    # a single token: squared deviation 0 / max(1 - 1, 1) = 0
    torch.testing.assert_close(masked_var(values, torch.tensor([[T, F, F, F]])), torch.tensor(0.0))


def test_masked_var_matches_torch_var_on_the_selection() -> None:
    g = torch.Generator().manual_seed(0)
    values = torch.randn(4, 7, generator=g)
    mask = torch.rand(4, 7, generator=g) > 0.3
    torch.testing.assert_close(masked_var(values, mask), values[mask].var())
    torch.testing.assert_close(
        masked_var(values, mask, unbiased=False), values[mask].var(correction=0)
    )


def test_masked_whiten_hand_computed() -> None:
    values = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[T, T, T, F]])
    # mean 2, unbiased var 1: (x - 2) / sqrt(1 + 1e-8) = -1, 0, 1; masked slot -> 0
    torch.testing.assert_close(masked_whiten(values, mask), torch.tensor([[-1.0, 0.0, 1.0, 0.0]]))
    # shift_mean=False adds the mean 2 back: 1, 2, 3
    torch.testing.assert_close(
        masked_whiten(values, mask, shift_mean=False), torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    )


def test_masked_whiten_gives_zero_mean_unit_variance_and_keeps_input() -> None:
    g = torch.Generator().manual_seed(1)
    values = 3.0 + 5.0 * torch.randn(6, 9, generator=g)
    mask = torch.rand(6, 9, generator=g) > 0.4
    before = values.clone()
    w = masked_whiten(values, mask)
    torch.testing.assert_close(masked_mean(w, mask), torch.tensor(0.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(masked_var(w, mask), torch.tensor(1.0))
    assert torch.equal(values, before)


LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
MASK = torch.tensor([[T, T, T], [T, F, F], [F, F, F]])  # row 2 is all padding


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # (1 + 2 + 3 + 4) / 4 tokens = 2.5
        ("token-mean", 2.5),
        # (6 + 4) / 2 non-empty rows = 5
        ("seq-mean-token-sum", 5.0),
        # (6/3 + 4/1) / 2 non-empty rows = (2 + 4) / 2 = 3
        ("seq-mean-token-mean", 3.0),
    ],
)
def test_aggregate_loss_hand_computed(mode: AggregationMode, expected: float) -> None:
    out = aggregate_loss(LOSS, MASK, mode)
    torch.testing.assert_close(out, torch.tensor(expected))


def test_aggregate_loss_explicit_normalisers() -> None:
    # token-mean with num_tokens=8: 10 / 8 = 1.25; seq modes with num_seqs=4: 10/4, 6/4
    torch.testing.assert_close(aggregate_loss(LOSS, MASK, num_tokens=8), torch.tensor(1.25))
    torch.testing.assert_close(
        aggregate_loss(LOSS, MASK, "seq-mean-token-sum", num_seqs=4), torch.tensor(2.5)
    )
    torch.testing.assert_close(
        aggregate_loss(LOSS, MASK, "seq-mean-token-mean", num_seqs=torch.tensor(4.0)),
        torch.tensor(1.5),
    )


def test_aggregate_loss_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate_loss(LOSS, MASK, "sum")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"])
def test_two_shards_with_global_normalisers_sum_to_the_whole_batch(mode: AggregationMode) -> None:
    # As OpenRLHF tests/test_loss_aggregation.py: micro-batches of unequal token counts.
    g = torch.Generator().manual_seed(2)
    loss = torch.randn(8, 6, generator=g)
    lengths = torch.tensor([6, 1, 2, 6, 5, 0, 3, 4])
    mask = torch.arange(6) < lengths[:, None]
    whole = aggregate_loss(loss, mask, mode)
    num_tokens = mask.sum()  # 27
    num_seqs = mask.any(dim=-1).sum()  # 7 (one empty row)
    shards = [
        aggregate_loss(loss[s], mask[s], mode, num_tokens=num_tokens, num_seqs=num_seqs)
        for s in (slice(0, 3), slice(3, 8))
    ]
    torch.testing.assert_close(shards[0] + shards[1], whole)


def test_local_token_mean_is_not_sharding_invariant() -> None:
    # Why the normaliser exists. Shard A: one token of loss 1; shard B: three tokens of 3.
    # Whole batch: (1 + 3*3) / 4 = 2.5. Mean of local token-means: (1 + 3) / 2 = 2.
    loss = torch.tensor([[1.0, 0.0, 0.0], [3.0, 3.0, 3.0]])
    mask = torch.tensor([[T, F, F], [T, T, T]])
    whole = aggregate_loss(loss, mask)
    local = (aggregate_loss(loss[:1], mask[:1]) + aggregate_loss(loss[1:], mask[1:])) / 2
    torch.testing.assert_close(whole, torch.tensor(2.5))
    torch.testing.assert_close(local, torch.tensor(2.0))
