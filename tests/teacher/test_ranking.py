"""Ranking examples, parsing and pairs (RLLR App. C)."""

from __future__ import annotations

import random

import pytest

from rllr.teacher.prompts import ranking_prompt, rationale_prompt
from rllr.teacher.ranking import parse_ranking, ranking_example, ranking_pairs


def test_ranking_example_is_a_fresh_permutation():
    rng = random.Random(0)
    examples = [ranking_example(rng) for _ in range(50)]
    assert len(set(examples)) > 40
    for ex in examples:
        assert parse_ranking(f"Ranking: {ex}").error is None


@pytest.mark.parametrize("text, tiers", [
    ("blah\n\nRanking: 5>3>2>4>1", ((5,), (3,), (2,), (4,), (1,))),
    ("Ranking: 2>1=5>3=4", ((2,), (1, 5), (3, 4))),
    ("Ranking:  2 > 1 = 5 > 3 = 4.", ((2,), (1, 5), (3, 4))),
    ("ranking: [Answer 3] > [Answer 1] > Answer 2 > 4 > 5", ((3,), (1,), (2,), (4,), (5,))),
    ("Ranking:\n1>2>3>4>5", ((1,), (2,), (3,), (4,), (5,))),
    ("Ranking: e.g. 5>4>3>2>1\nreason...\nRanking: 1=2=3=4=5", ((1, 2, 3, 4, 5),)),
])
def test_parse_ranking_accepts(text, tiers):
    assert parse_ranking(text) == (tiers, None)


@pytest.mark.parametrize("text, reason", [
    ("no ranking here", "no 'Ranking:' line"),
    ("Ranking: 1>2>2>4>5", "duplicate"),
    ("Ranking: 1>2>3>4", "missing items [5]"),
    ("Ranking: 1>2>3>4>6", "out of range"),
    ("Ranking: the first one", "unparseable"),
    ("Ranking: 1>>2>3>4>5", "unparseable"),
])
def test_parse_ranking_rejects_with_reason(text, reason):
    r = parse_ranking(text)
    assert r.tiers == () and reason in r.error


def test_ranking_pairs_every_strict_pair():
    # 2 > {1,5} > {3,4}: 2 beats 4 others, 1 and 5 beat 3 and 4 -> 4 + 4 = 8 pairs
    pairs = ranking_pairs(((2,), (1, 5), (3, 4)))
    assert len(pairs) == 8 and (2, 1) in pairs and (1, 5) not in pairs and (5, 4) in pairs
    assert ranking_pairs(((1, 2, 3, 4, 5),)) == []
    assert len(ranking_pairs(((1,), (2,), (3,), (4,), (5,)))) == 10


def test_prompts_are_verbatim():
    assert rationale_prompt("Q?", "positive") == (
        "Q?\n\nPlease give a rationale for the answer \u201cpositive\u201d in a confident tone "
        "(regardless of the true answer):")
    p = ranking_prompt("Q?", ["a", "b", "c", "d", "e"], "5>3>2>4>1")
    assert "[Question] Q?\n\n[Answer 1] a\n\n[Answer 2] b" in p and "[Answer 5] e" in p
    assert p.endswith("Ranking: {e.g. 5>3>2>4>1}\u201d")
