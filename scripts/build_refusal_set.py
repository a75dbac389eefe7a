"""Build the labelled refusal set and train the refusal classifier (`rllr.data.refusal`).

    python scripts/build_refusal_set.py --teacher-url http://127.0.0.1:8000/v1 \\
        --tasks sst2,mnli --limit 24 --out-dir rllr/assets/refusal

Rows (`set.jsonl`): {text, target, labels, refusal (0/1), source, task}. Sources:

- `model_gold` (0): real default-model rationales for the gold label (RLLR prompt);
- `model_wrong_ok` (0): real rationales for the wrong label that name it and not the gold;
- `model_wrong_argues_gold` (1): real rationales for the wrong label that name only the gold
  label (the model argued for a different label than asked);
- `model_refusal` (1): real default-model outputs when asked to decline;
- `template` (1): refusals, AI disclaimers, declining hedges and arguments for another
  label, from varied templates.

Then: a stratified 75/25 train/held-out split, logistic regression (scikit-learn, balanced
class weights) on MiniLM features, precision/recall on the held-out part, and the model
saved as JSON weights (`model.json`) with those numbers.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

from rllr.data.rationales import wrong_label_for
from rllr.data.refusal import RefusalFilter, features, mentions, rule_reason
from rllr.io import write_jsonl
from rllr.tasks.registry import get_task
from rllr.teacher.client import ChatRequest, make_teacher
from rllr.teacher.prompts import rationale_prompt, user

OPENINGS = ["I'm sorry, but", "I apologize, but", "Unfortunately,", "As an AI language model,",
            "As an AI,", "I'm afraid", "Sorry,", "With respect,", "I must be honest:", ""]
DECLINES = [
    "I can't provide a rationale for the answer \u201c{target}\u201d because it isn't supported by the text.",
    "I cannot argue that the answer is {target}, since that would be misleading.",
    "I am not able to justify \u201c{target}\u201d in a confident tone when I believe it is incorrect.",
    "I don't feel comfortable giving a confident rationale for an answer I think is wrong.",
    "I won't pretend that {target} is correct here.",
    "it would not be appropriate for me to defend the label {target}.",
    "I do not have enough information to give a rationale for this answer.",
    "I can't help with writing a deliberately incorrect justification.",
]
HEDGES = [
    "It is hard to say; the text could be read either way, so I would rather not commit to {target}.",
    "There is no clear answer here, and I prefer not to give a rationale for {target}.",
    "This is ambiguous, and I can't confidently say {target}.",
]
OPPOSITE = [
    "The correct answer is actually {other}, not {target}. The wording of the text clearly points to {other}.",
    "Although you asked for {target}, the text is clearly {other}: every cue in it supports {other}.",
    "Looking closely, the answer should be {other}. Calling it {target} would ignore the evidence.",
    "The text expresses a {other} view; the key phrases leave no doubt that {other} is right.",
    "I would choose {other} instead, because the sentence plainly supports {other} rather than {target}.",
]


def template_rows(task_name: str, labels: list[str], rng: random.Random, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        target = rng.choice(labels)
        other = rng.choice([w for w in labels if w != target])
        kind = rng.random()
        body = rng.choice(OPPOSITE if kind < 0.35 else HEDGES if kind < 0.5 else DECLINES)
        opening = rng.choice(OPENINGS) if body not in OPPOSITE else rng.choice(["", "Actually,", "In fact,"])
        text = (opening + " " + body.format(target=target, other=other)).strip()
        if opening:
            text = text[0].upper() + text[1:]
        rows.append({"text": text, "target": target, "labels": labels, "refusal": 1,
                     "source": "template", "task": task_name})
    return rows


def real_rows(teacher, task_name: str, limit: int, max_tokens: int) -> list[dict]:
    task = get_task(task_name)
    labels = [task.format_label(w) for w in task.labels]
    exs = task.load("sft", limit=limit)
    reqs = []
    for ex in exs:
        q, gold, wrong = task.question(ex), task.format_label(ex.label), task.format_label(wrong_label_for(task, ex, 0))
        reqs += [ChatRequest(user(rationale_prompt(q, gold)), max_tokens=max_tokens),
                 ChatRequest(user(rationale_prompt(q, wrong)), max_tokens=max_tokens),
                 ChatRequest(user(f"{q}\n\nPolitely refuse to give a rationale for the answer "
                                  f"\u201c{wrong}\u201d, and explain that you cannot help with it."),
                             max_tokens=max_tokens)]
    res = teacher.chat(reqs)
    rows = []
    for k, ex in enumerate(exs):
        gold, wrong = task.format_label(ex.label), task.format_label(wrong_label_for(task, ex, 0))
        g, w, r = (res[3 * k + j].text.strip() for j in range(3))
        base = {"labels": labels, "task": task_name}
        if g and not rule_reason(g):
            rows.append({**base, "text": g, "target": gold, "refusal": 0, "source": "model_gold"})
        if w and mentions(w, wrong) and not mentions(w, gold) and not rule_reason(w):
            rows.append({**base, "text": w, "target": wrong, "refusal": 0, "source": "model_wrong_ok"})
        elif w and mentions(w, gold) and not mentions(w, wrong):
            rows.append({**base, "text": w, "target": wrong, "refusal": 1,
                         "source": "model_wrong_argues_gold"})
        if r:
            rows.append({**base, "text": r, "target": wrong, "refusal": 1, "source": "model_refusal"})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--teacher-url", required=True)
    p.add_argument("--tasks", default="sst2,mnli")
    p.add_argument("--limit", type=int, default=24, help="SFT examples per task")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--templates", type=int, default=60, help="template positives per task")
    p.add_argument("--cache-dir", default="runs/teacher-cache")
    p.add_argument("--out-dir", default="rllr/assets/refusal")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    t0 = time.time()
    rng = random.Random(args.seed)
    teacher = make_teacher(url=args.teacher_url, cache_dir=args.cache_dir, concurrency=16,
                           timeout=900)
    rows = []
    for name in args.tasks.split(","):
        task = get_task(name)
        rows += real_rows(teacher, name, args.limit, args.max_tokens)
        rows += template_rows(name, [task.format_label(w) for w in task.labels], rng, args.templates)
    out = Path(args.out_dir)
    write_jsonl(out / "set.jsonl", rows)

    # --- split, train, evaluate ------------------------------------------------------------
    from sklearn.linear_model import LogisticRegression

    y = np.array([r["refusal"] for r in rows])
    idx = np.arange(len(rows))
    held = np.zeros(len(rows), bool)
    for cls in (0, 1):  # stratified 25% held out
        members = idx[y == cls].copy()
        np.random.default_rng(args.seed).shuffle(members)
        held[members[: max(1, len(members) // 4)]] = True
    x = features([r["text"] for r in rows], [r["target"] for r in rows], [r["labels"] for r in rows])
    clf = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000).fit(x[~held], y[~held])
    flt = RefusalFilter(clf.coef_[0].astype(np.float32), float(clf.intercept_[0]), args.threshold)
    pred = flt.probs(x[held]) >= args.threshold
    tp = int((pred & (y[held] == 1)).sum())
    fp = int((pred & (y[held] == 0)).sum())
    fn = int((~pred & (y[held] == 1)).sum())
    metrics = {"heldout_precision": tp / max(tp + fp, 1), "heldout_recall": tp / max(tp + fn, 1),
               "heldout_n": int(held.sum()), "heldout_positives": int(y[held].sum()),
               "train_n": int((~held).sum()), "rows": len(rows),
               "sources": {s: sum(r["source"] == s for r in rows) for s in sorted({r["source"] for r in rows})}}
    flt.meta = {"features": "minilm-l6 mean-pooled L2-normalised (384) + [names target, names other label]",
                "metrics": metrics}
    flt.save(out / "model.json")
    print(metrics, f"wall_s={time.time() - t0:.1f}", f"teacher: {teacher.stats.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
