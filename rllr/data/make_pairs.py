"""Preference pairs for the two RLLR reward models (paper section 3, App. C and D).

- label-sensitive (`label_pairs`): chosen = gold rationale + gold answer, rejected = wrong
  rationale + wrong answer, both in `Task.target(..., "rllr")` format;
- rationale-sensitive (`rationale_pairs`): 5 responses per prompt sampled from the SFT
  policy, ranked by the teacher with the App. C prompt (a fresh shuffled ranking example
  per request); every strictly ordered pair of the ranking is a pair.

Pair rows (what `rllr rm` reads): {prompt, chosen, rejected, task, uid, kind} (+ optional
`system`, `margin`). `split_pairs` puts whole prompts (by a hash of seed and uid) into
the held-out file, so no prompt is in both. Empty or refusing texts (`rule_reason`)
never enter a pairs file; rows dropped for that or for an unusable ranking go to a side
file with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rllr.data.refusal import rule_reason
from rllr.io import read_jsonl, write_jsonl
from rllr.tasks.base import Example, Task
from rllr.teacher.client import ChatRequest, Teacher
from rllr.teacher.prompts import ranking_prompt, user
from rllr.teacher.ranking import parse_ranking, ranking_example, ranking_pairs

log = logging.getLogger(__name__)

Row = dict[str, Any]


def _answer(task: Task, row: Mapping[str, Any], rationale: str, label: Any) -> str:
    ex = Example(task=task.name, uid=str(row["uid"]), inputs={}, label=row["label"])
    return task.target(ex, "rllr", rationale=rationale, label=label)


def label_pairs(task: Task, rationale_rows: Iterable[Mapping[str, Any]]) -> tuple[list[Row], list[Row]]:
    """(pairs, dropped) from rationale rows of status "ok" (App. D)."""
    pairs, dropped = [], []
    for r in rationale_rows:
        if r.get("status", "ok") != "ok":
            continue
        why = [f"{k}: {rule_reason(r.get(k) or '')}" for k in ("rationale_gold", "rationale_wrong")
               if rule_reason(r.get(k) or "")]
        if why:
            dropped.append({"uid": r["uid"], "task": task.name, "reason": "; ".join(why)})
            continue
        pairs.append({"prompt": r["question"],
                      "chosen": _answer(task, r, r["rationale_gold"], r["label"]),
                      "rejected": _answer(task, r, r["rationale_wrong"], r["wrong_label"]),
                      "task": task.name, "uid": r["uid"], "kind": "label"})
    return pairs, dropped


def is_heldout(uid: str, fraction: float, seed: int = 0) -> bool:
    """A stable per-prompt coin: sha256(seed:uid) as a number in [0, 1) below `fraction`."""
    h = int(hashlib.sha256(f"{seed}:{uid}".encode()).hexdigest()[:12], 16)
    return h / 16 ** 12 < fraction


def split_pairs(pairs: Sequence[Row], heldout: float, seed: int = 0) -> tuple[list[Row], list[Row]]:
    """(train, heldout) split by prompt uid."""
    train = [p for p in pairs if not is_heldout(str(p["uid"]), heldout, seed)]
    held = [p for p in pairs if is_heldout(str(p["uid"]), heldout, seed)]
    return train, held


def write_pairs(pairs: Sequence[Row], out: str | Path, heldout: float, seed: int = 0) -> dict[str, int]:
    """`out` itself when heldout == 0; else `<stem>.train.jsonl` and `<stem>.heldout.jsonl`."""
    out = Path(out)
    if heldout <= 0:
        return {str(out): write_jsonl(out, pairs)}
    stem = out.name.removesuffix(".jsonl")
    train, held = split_pairs(pairs, heldout, seed)
    return {str(out.with_name(f"{stem}.train.jsonl")): write_jsonl(out.with_name(f"{stem}.train.jsonl"), train),
            str(out.with_name(f"{stem}.heldout.jsonl")): write_jsonl(out.with_name(f"{stem}.heldout.jsonl"), held)}


# --- rationale-sensitive pairs -------------------------------------------------------------


def sample_responses(task: Task, examples: Sequence[Example], policy_model: str, *,
                     adapter: str | None = None, num_samples: int = 5, max_new_tokens: int = 128,
                     temperature: float = 1.0, top_p: float = 0.95, batch_size: int = 10,
                     seed: int = 0) -> list[list[str]]:
    """`num_samples` sampled SFT-policy completions per example (RLLR format prompts)."""
    from rllr.eval.generate import generate
    from rllr.models.chat import render_prompt
    from rllr.models.load import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(policy_model)
    model = load_causal_lm(policy_model)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).eval()
    prompts = [render_prompt(tokenizer, task.prompt(ex, "rllr")) for ex in examples]
    res = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, do_sample=True,
                   temperature=temperature, top_p=top_p, num_return_sequences=num_samples,
                   batch_size=batch_size, seed=seed, progress=False)
    return [[t.strip() for t in texts] for texts in res.texts]


def rationale_pairs(task: Task, examples: Sequence[Example], responses: Sequence[Sequence[str]],
                    teacher: Teacher, *, seed: int = 0, max_tokens: int = 384) -> tuple[list[Row], list[Row]]:
    """(pairs, rejected prompts) from teacher rankings of each example's responses (App. C)."""
    requests, kept, rejected = [], [], []
    for ex, answers in zip(examples, responses):
        usable = list(dict.fromkeys(a for a in answers if not rule_reason(a)))  # unique, no refusals
        if len(usable) < 2:
            rejected.append({"uid": ex.uid, "task": task.name,
                             "reason": f"only {len(usable)} usable distinct responses"})
            continue
        example = ranking_example(random.Random(f"{seed}:{ex.uid}"), len(usable))
        prompt = ranking_prompt(task.question(ex), usable, example)
        requests.append(ChatRequest(user(prompt), temperature=0.0, max_tokens=max_tokens, seed=seed))
        kept.append((ex, usable))
    pairs = []
    for (ex, usable), res in zip(kept, teacher.chat(requests)):
        if not res.ok:
            rejected.append({"uid": ex.uid, "task": task.name, "reason": f"teacher: {res.error}"})
            continue
        ranking = parse_ranking(res.text, len(usable))
        if ranking.error:
            rejected.append({"uid": ex.uid, "task": task.name, "reason": ranking.error,
                             "teacher_answer": res.text[-300:]})
            continue
        for better, worse in ranking_pairs(ranking.tiers):
            pairs.append({"prompt": task.question(ex), "chosen": usable[better - 1],
                          "rejected": usable[worse - 1], "task": task.name, "uid": ex.uid,
                          "kind": "rationale"})
    return pairs, rejected


def load_rationales(path: str | Path) -> list[Row]:
    return read_jsonl(path, tolerate_torn_tail=True)
