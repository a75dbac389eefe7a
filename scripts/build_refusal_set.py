"""Build the labelled refusal set and train the refusal classifier (`rllr.data.refusal`).

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python scripts/build_refusal_set.py \\
        --teacher-local smollm2-135m-instruct --tasks sst2,mnli,ag_news,qqp,mrpc --limit 40 \\
        --cache-dir runs/teacher-cache --out-dir rllr/assets/refusal

(`--teacher-url URL` instead of `--teacher-local` uses an OpenAI-compatible server; answers are
cached under `--cache-dir`, so a rerun with the same arguments generates nothing.)

Generation (RLLR App. B prompt, greedy, `--max-tokens` 64): for each of `--limit` SFT
examples per task, one rationale for the gold label and one for each of up to two wrong
labels; for the first `--refusal-prompts` examples also an explicit "politely refuse" request
(to collect whatever real refusals the model writes).

Rows (`set.jsonl`): {text, target, labels, refusal (0/1), source, task, group, split, ...}.
`target` is the label the rationale is judged against (the asked label, except for
`model_cross`); `group` is the source example (`task:uid`; `template:task:k` for templates);
`split` is train / heldout, by group, so no example's rationales are on both sides. Sources:

- `model_gold` (0): a real rationale asked for the gold label that argues for it;
- `model_wrong_ok` (0): a real rationale asked for a wrong label that argues for that label
  (the model did what RLLR asks; labelled by what the text supports, not by correctness);
- `model_no_label` (0): a real rationale (gold or wrong label asked) that names no label and
  does not refuse - nothing in it argues against the asked label (many are off-topic
  rambles: a quality problem, not the refusal/other-label failure this filter is for);
- `model_argues_other` (1): a real rationale asked for label A that argues for another label;
- `model_cross` (1): a real rationale judged as arguing for label B (asked for B) paired with
  another label A asked for the same example - the realistic "rationale for a different
  label than asked" failure (same text as a negative row, different target);
- `model_refusal` (1): a real output (to the RLLR prompt or to the explicit "politely refuse"
  prompt) with a refusal / decline / hedge phrase (`REFUSAL_PHRASES`);
- `template` (1): refusals, AI disclaimers, declining hedges and arguments for another
  label, from varied templates.

Labelling heuristic for real outputs (`judge`), transparent on purpose:
1. a refusal phrase (`rule_reason` or `REFUSAL_PHRASES`: first-person "I can't / I'm sorry /
   I'm not capable", "as an AI", "is a highly subjective ...", "a more accurate label") ->
   refusal (1);
2. else the labels the text names (`rllr.data.refusal.names_label`: the label word or a
   `LABEL_CUES` variant - "entails", "contradicts", "technology", "are duplicates", "not a
   paraphrase", "the answer is no", ...): exactly one -> the text supports that label (0 if it
   is the asked label, else 1); none -> `model_no_label` (0); several -> the one its first
   sentence names, if exactly one; otherwise the text is left out of the set (unlabelled;
   the build reports the classifier's flag rate on these).
Outputs of the explicit refuse prompt are kept only when step 1 calls them refusals.

Limits: it reads words, not meaning. "not positive" names "positive"; a text can name the
asked label while arguing against it ("The label X is a fitting one, as it highlights ...
sports" is kept as supporting X); yes/no tasks rely on a few duplicate/paraphrase phrasings,
so most qqp/mrpc rationales fall in `model_no_label`; hedges without the listed phrases pass
as support. Spot checks by hand (the shipped build): the single-label rows read right;
`model_no_label` rows are mostly off-topic rather than pro-label; the several-label mnli rows
("The answer is "neutral" ... a contradiction ...") do state the asked label first. The
label features of the classifier use the same `names_label`, so held-out precision/recall on
real rows partly measure agreement with this heuristic, not human judgement.

Then: a 75/25 train/held-out split by group (stratified on whether the group has a
positive), logistic regression (scikit-learn, balanced class weights, C by 5-fold grouped CV
on the training rows unless `--C`) on `features`,
held-out precision/recall with bootstrap 95% CIs (resampling groups), the flag rate on real
gold-label rationales, and the model saved as JSON weights (`model.json`) with those numbers
and each row's split in `set.jsonl`; the held-out rows' embeddings go to `heldout_emb.npy`
(set order) so tests recompute the metrics from the shipped model without the encoder.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

from rllr.data.rationales import wrong_label_for
from rllr.data.refusal import RefusalFilter, features, first_sentence, names_label, rule_reason
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
    "providing a justification for an answer that contradicts the text goes against my guidelines.",
    "I need more context before I can explain why the answer would be {target}.",
]
HEDGES = [
    "It is hard to say; the text could be read either way, so I would rather not commit to {target}.",
    "There is no clear answer here, and I prefer not to give a rationale for {target}.",
    "This is ambiguous, and I can't confidently say {target}.",
    "The answer depends on interpretation. Some readers might say {target}, others {other}; I cannot decide.",
    "Without more information, it is impossible to determine whether the answer is {target} or {other}.",
]
OPPOSITE = [
    "The correct answer is actually {other}, not {target}. The wording of the text clearly points to {other}.",
    "Although you asked for {target}, the text is clearly {other}: every cue in it supports {other}.",
    "Looking closely, the answer should be {other}. Calling it {target} would ignore the evidence.",
    "The text expresses a {other} view; the key phrases leave no doubt that {other} is right.",
    "I would choose {other} instead, because the sentence plainly supports {other} rather than {target}.",
    "The answer is {other}. The details in the text make this clear.",
]

REFUSAL_PHRASES = re.compile(
    r"\bi(?:'m| am) (?:sorry|unable|not able|not capable)\b|"
    r"\bi (?:cannot|can't|can not|won't|will not|must decline|decline|refuse|apologi[sz]e|"
    r"do not feel comfortable|don't feel comfortable)\b|\bsorry\b|\bas an ai\b|\bnot appropriate for me\b|"
    r"\bdon't have the capability\b|\bis (?:a )?(?:bit |somewhat |highly |rather )(?:ambiguous|subjective)\b|"
    r"\bmore accurate (?:and objective )?(?:label|answer)\b",
    re.IGNORECASE)


def judge(text: str, task: str, labels: list[str]) -> tuple[str, str | None]:
    """('refusal', None) | ('supports' or 'first_sentence', label) | ('none', None) | ('several', None)."""
    t = text.replace("\u2019", "'").strip()
    if rule_reason(t) or REFUSAL_PHRASES.search(t):
        return "refusal", None
    named = [w for w in labels if names_label(t, w)]
    if not named:
        return "none", None
    if len(named) == 1:
        return "supports", named[0]
    lead = [w for w in labels if names_label(first_sentence(t), w)]
    return ("first_sentence", lead[0]) if len(lead) == 1 else ("several", None)


def requests_for(task_name: str, limit: int, max_tokens: int, refusal_prompts: int):
    """[(example, asked label, kind, ChatRequest)] for one task."""
    task = get_task(task_name)
    out = []
    for k, ex in enumerate(task.load("sft", limit=limit)):
        q, gold = task.question(ex), task.format_label(ex.label)
        first = wrong_label_for(task, ex, 0)
        others = [first] + [w for w in task.labels if w not in (ex.label, first)]
        wrongs = [task.format_label(w) for w in others[:2]]
        for asked, kind in [(gold, "gold")] + [(w, "wrong") for w in wrongs]:
            out.append((ex, asked, kind, ChatRequest(user(rationale_prompt(q, asked)), max_tokens=max_tokens)))
        if k < refusal_prompts:
            out.append((ex, wrongs[0], "refuse", ChatRequest(user(
                f"{q}\n\nPolitely refuse to give a rationale for the answer \u201c{wrongs[0]}\u201d, "
                f"and explain that you cannot help with it."), max_tokens=max_tokens)))
    return task, out


def generate(teacher, reqs: list[ChatRequest], chunk: int = 16) -> list[str]:
    """Answers in chunks (each chunk is cached as soon as it is done)."""
    texts: list[str] = []
    for s in range(0, len(reqs), chunk):
        texts += [r.text.strip() for r in teacher.chat(reqs[s:s + chunk])]
        print(f"  {len(texts)}/{len(reqs)} ({teacher.stats.line()})", flush=True)
    return texts


def real_rows(teacher, task_name: str, limit: int, max_tokens: int, refusal_prompts: int,
              dropped: dict[str, int], several: list[dict]) -> list[dict]:
    """Labelled rows from real outputs (outputs of the refuse prompt only when they refuse)."""
    task, items = requests_for(task_name, limit, max_tokens, refusal_prompts)
    labels = [task.format_label(w) for w in task.labels]
    texts = generate(teacher, [it[3] for it in items])
    rows: list[dict] = []
    by_ex: dict[str, list[tuple[str, str]]] = {}  # uid -> [(asked, text)] judged as supporting asked
    for (ex, asked, kind, _), text in zip(items, texts):
        base = {"labels": labels, "task": task_name, "group": f"{task_name}:{ex.uid}",
                "text": text, "target": asked, "asked_as": kind}
        verdict, label = judge(text, task_name, labels)
        if verdict == "refusal":
            rows.append({**base, "refusal": 1, "source": "model_refusal"})
        elif kind == "refuse":
            dropped[f"{task_name}:{kind}:{verdict}"] = dropped.get(f"{task_name}:{kind}:{verdict}", 0) + 1
        elif verdict == "several":  # names several labels: not labelled, kept aside
            several.append(base)
        elif verdict == "none":  # no refusal, names no label: nothing argues against `asked`
            rows.append({**base, "refusal": 0, "source": "model_no_label"})
        elif label == asked:
            rows.append({**base, "refusal": 0, "judged": verdict,
                         "source": "model_gold" if kind == "gold" else "model_wrong_ok"})
            if verdict == "supports":
                by_ex.setdefault(ex.uid, []).append((asked, text))
        else:
            rows.append({**base, "refusal": 1, "judged": verdict, "source": "model_argues_other"})
    asked_by_ex: dict[str, list[str]] = {}
    for ex, asked, kind, _ in items:
        if kind != "refuse":
            asked_by_ex.setdefault(ex.uid, []).append(asked)
    for uid, good in by_ex.items():  # rationale for B, asked as A
        for b, text in good[:1]:
            a = next((x for x in asked_by_ex[uid] if x != b), None)
            if a is not None:
                rows.append({"labels": labels, "task": task_name, "group": f"{task_name}:{uid}",
                             "text": text, "target": a, "asked_as": f"cross:{b}", "refusal": 1,
                             "source": "model_cross"})
    return rows


def template_rows(task_name: str, labels: list[str], rng: random.Random, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        target = rng.choice(labels)
        other = rng.choice([w for w in labels if w != target])
        kind = rng.random()
        body = rng.choice(OPPOSITE if kind < 0.35 else HEDGES if kind < 0.55 else DECLINES)
        opening = rng.choice(OPENINGS) if body not in OPPOSITE else rng.choice(["", "Actually,", "In fact,"])
        text = (opening + " " + body.format(target=target, other=other)).strip()
        text = text[0].upper() + text[1:]
        rows.append({"text": text, "target": target, "labels": labels, "refusal": 1,
                     "source": "template", "task": task_name, "group": f"template:{task_name}:{len(rows)}"})
    return rows


def split_groups(rows: list[dict], frac: float, seed: int) -> set[str]:
    """Held-out groups: `frac` of the groups with a positive and of those without."""
    has_pos: dict[str, bool] = {}
    for r in rows:
        has_pos[r["group"]] = has_pos.get(r["group"], False) or r["refusal"] == 1
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for flag in (False, True):
        gs = sorted(g for g, v in has_pos.items() if v == flag)
        rng.shuffle(gs)
        held |= set(gs[: max(1, round(len(gs) * frac))])
    return held


def precision_recall(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    tp = int((pred & (y == 1)).sum())
    return tp / max(int(pred.sum()), 1), tp / max(int((y == 1).sum()), 1)


def bootstrap_ci(pred: np.ndarray, y: np.ndarray, groups: list[str], n: int = 2000,
                 seed: int = 0) -> dict[str, list[float]]:
    """Percentile 95% CIs of precision and recall, resampling groups with replacement."""
    rng = np.random.default_rng(seed)
    uniq = sorted(set(groups))
    members = {g: np.array([i for i, x in enumerate(groups) if x == g]) for g in uniq}
    ps, rs = [], []
    for _ in range(n):
        idx = np.concatenate([members[uniq[k]] for k in rng.integers(0, len(uniq), len(uniq))])
        p, r = precision_recall(pred[idx], y[idx])
        ps.append(p)
        rs.append(r)
    return {"precision_ci95": [round(float(np.percentile(ps, 2.5)), 3), round(float(np.percentile(ps, 97.5)), 3)],
            "recall_ci95": [round(float(np.percentile(rs, 2.5)), 3), round(float(np.percentile(rs, 97.5)), 3)]}


def choose_c(x: np.ndarray, y: np.ndarray, groups: list[str], threshold: float,
             grid: tuple[float, ...] = (0.25, 1.0, 4.0, 16.0)) -> float:
    """The C of `grid` with the best pooled F1 over 5 grouped folds of the training rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    best = (-1.0, -grid[0])
    for c in grid:
        pred = np.zeros(len(y), bool)
        for tr, te in GroupKFold(n_splits=5).split(x, y, groups):
            clf = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x[tr], y[tr])
            pred[te] = clf.predict_proba(x[te])[:, 1] >= threshold
        prec, rec = precision_recall(pred, y)
        f1 = 2 * prec * rec / max(prec + rec, 1e-9)
        print(f"  C={c}: cv precision={prec:.3f} recall={rec:.3f} f1={f1:.3f}")
        best = max(best, (round(f1, 3), -c))  # ties: the stronger regularisation
    return -best[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--teacher-url")
    src.add_argument("--teacher-local", help="a registry model run in-process, e.g. smollm2-135m-instruct")
    p.add_argument("--tasks", default="sst2,mnli,ag_news,qqp,mrpc")
    p.add_argument("--limit", type=int, default=40, help="SFT examples per task")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--refusal-prompts", type=int, default=8, help="explicit refuse requests per task")
    p.add_argument("--templates", type=int, default=16, help="template positives per task")
    p.add_argument("--cache-dir", default="runs/teacher-cache")
    p.add_argument("--out-dir", default="rllr/assets/refusal")
    p.add_argument("--heldout", type=float, default=0.25, help="fraction of source examples held out")
    p.add_argument("--threshold", type=float, default=0.5, help="saved default threshold")
    p.add_argument("--C", type=float, default=0.0,
                   help="inverse L2 strength of the regression (0: pick by 5-fold grouped CV on train, F1)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    t0 = time.time()
    rng = random.Random(args.seed)
    teacher = make_teacher(url=args.teacher_url, local=args.teacher_local, cache_dir=args.cache_dir,
                           concurrency=16, timeout=900)
    rows: list[dict] = []
    dropped: dict[str, int] = {}
    several: list[dict] = []  # real rationales naming several labels: unlabelled, flag rate reported
    for name in args.tasks.split(","):
        task = get_task(name)
        rows += real_rows(teacher, name, args.limit, args.max_tokens, args.refusal_prompts, dropped, several)
        rows += template_rows(name, [task.format_label(w) for w in task.labels], rng, args.templates)

    # --- split, train, evaluate ------------------------------------------------------------
    from sklearn.linear_model import LogisticRegression

    held_groups = split_groups(rows, args.heldout, args.seed)
    for r in rows:
        r["split"] = "heldout" if r["group"] in held_groups else "train"
    out = Path(args.out_dir)
    write_jsonl(out / "set.jsonl", rows)

    y = np.array([r["refusal"] for r in rows])
    held = np.array([r["split"] == "heldout" for r in rows])
    x = features([r["text"] for r in rows], [r["target"] for r in rows], [r["labels"] for r in rows])
    c = args.C if args.C > 0 else choose_c(x[~held], y[~held], [r["group"] for r in rows if r["split"] == "train"],
                                           args.threshold)
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x[~held], y[~held])
    flt = RefusalFilter(clf.coef_[0].astype(np.float32), float(clf.intercept_[0]), args.threshold)
    pred = flt.probs(x) >= args.threshold
    prec, rec = precision_recall(pred[held], y[held])
    hidx = np.flatnonzero(held)
    ci = bootstrap_ci(pred[hidx], y[hidx], [rows[i]["group"] for i in hidx], seed=args.seed)

    def rate(source: str, mask: np.ndarray) -> list[float]:
        sel = mask & np.array([r["source"] == source for r in rows])
        return [round(float(pred[sel].mean()), 3) if sel.any() else 0.0, int(sel.sum())]

    sources = sorted({r["source"] for r in rows})
    xs = features([r["text"] for r in several], [r["target"] for r in several], [r["labels"] for r in several])
    ps = flt.probs(xs) >= args.threshold if several else np.zeros(0, bool)
    several_rate = {k: [round(float(ps[m].mean()), 3) if m.any() else 0.0, int(m.sum())]
                    for k in ("gold", "wrong") for m in [np.array([r["asked_as"] == k for r in several], bool)]}
    metrics = {
        "heldout_precision": round(prec, 3), "heldout_recall": round(rec, 3), **ci,
        "heldout_n": int(held.sum()), "heldout_positives": int(y[held].sum()),
        "train_n": int((~held).sum()), "rows": len(rows), "positives": int(y.sum()),
        "heldout_flag_rate_by_source": {s: rate(s, held) for s in sources},
        "train_flag_rate_by_source": {s: rate(s, ~held) for s in sources},
        "unlabelled_names_several_flag_rate_by_asked": several_rate,
        "sources": {s: sum(r["source"] == s for r in rows) for s in sources},
        "tasks": {t: sum(r["task"] == t for r in rows) for t in sorted({r["task"] for r in rows})},
        "dropped_refuse_prompt": dropped, "C": c, "teacher": teacher.model,
    }
    flt.meta = {"features": "minilm-l6 mean-pooled L2-normalised (384) + [names target, names other "
                            "label] in the first sentence, then in the rest if the first names none "
                            "(label_features / names_label / LABEL_CUES)", "metrics": metrics}
    flt.save(out / "model.json")
    # held-out embeddings (set order), so tests recompute the metrics without the encoder
    np.save(out / "heldout_emb.npy", x[held, :384].astype(np.float32))
    import json

    print(json.dumps(metrics, indent=1), f"wall_s={time.time() - t0:.1f}", f"teacher: {teacher.stats.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
