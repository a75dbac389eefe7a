"""Ranking examples and ranking parsing for RLLR Appendix C (pure, no I/O).

    ranking_example(random.Random(0))          # e.g. "5>3>2=4>1"
    parse_ranking("... Ranking: 2>1=5>3=4", 5)  # Ranking(tiers=((2,), (1, 5), (3, 4)), error=None)
    ranking_pairs(tiers)                        # [(2, 1), (2, 5), (2, 3), ...] (better, worse)

A ranking is accepted only when every item 1..k appears exactly once; anything else
(missing, duplicated or out-of-range items, no "Ranking:" line, stray text) gives
`tiers=()` and an `error` that says why, so the caller lists the prompt as rejected.
"""

from __future__ import annotations

import random
import re
from typing import NamedTuple


class Ranking(NamedTuple):
    """Best-first tiers of answer numbers (ties share a tier), or an error reason."""

    tiers: tuple[tuple[int, ...], ...]
    error: str | None


def ranking_example(rng: random.Random, k: int = 5) -> str:
    """A shuffled 1..k joined by random '>' / '=' (App. C: a new one for every request)."""
    items = list(range(1, k + 1))
    rng.shuffle(items)
    seps = [rng.choice(">>=") for _ in range(k - 1)]  # mostly strict, some ties
    return str(items[0]) + "".join(s + str(i) for s, i in zip(seps, items[1:]))


_RANKING_LINE = re.compile(r"ranking\s*[:\uff1a]\s*(.*)", re.IGNORECASE)


def parse_ranking(text: str, k: int = 5) -> Ranking:
    """Parse the last "Ranking: ..." line of a teacher answer into best-first tiers."""
    matches = list(_RANKING_LINE.finditer(text or ""))
    if not matches:
        return Ranking((), "no 'Ranking:' line")
    raw = matches[-1].group(1)
    if not re.search(r"\d", raw):  # "Ranking:\n3>1>2>5>4": the ranking is on the next line
        rest = [ln for ln in text[matches[-1].end():].splitlines() if ln.strip()]
        raw = rest[0] if rest else raw
    # tolerate "[Answer 3] > Answer 1", spaces, trailing period, '≻', '>=' typos
    body = raw.strip().strip(".\u201d\"'`*").replace("\u226b", ">")
    body = re.sub(r"\[?\s*answer\s*(\d+)\s*\]?", r"\1", body, flags=re.IGNORECASE)
    body = body.replace(" ", "").replace(">=", "=").replace("<", "?")
    if not re.fullmatch(r"\d+(?:[>=]\d+)*", body):
        return Ranking((), f"unparseable ranking {raw.strip()[:40]!r}")
    tiers = tuple(tuple(int(x) for x in tier.split("=")) for tier in body.split(">"))
    flat = [i for tier in tiers for i in tier]
    if len(flat) != len(set(flat)):
        return Ranking((), f"duplicate items in ranking {body!r}")
    bad = [i for i in flat if not 1 <= i <= k]
    if bad:
        return Ranking((), f"items out of range 1..{k} in ranking {body!r}")
    missing = sorted(set(range(1, k + 1)) - set(flat))
    if missing:
        return Ranking((), f"missing items {missing} in ranking {body!r}")
    return Ranking(tiers, None)


def ranking_pairs(tiers: tuple[tuple[int, ...], ...]) -> list[tuple[int, int]]:
    """Every strictly ordered (better, worse) pair of a tiered ranking; ties give no pair."""
    pairs = []
    for i, better in enumerate(tiers):
        for worse in tiers[i + 1:]:
            pairs.extend((b, w) for b in better for w in worse)
    return pairs
