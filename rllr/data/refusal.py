"""Refusal filter: flags teacher rationales that refuse, hedge or argue for another label.

RLLR App. B: "Sometimes GPT-4 refuses to give a rationale conditioned the provided label,
and we train a simple classifier to filter out these responses." The paper does not
describe the classifier; ours is:

- features: the mean-pooled, L2-normalised MiniLM (`minilm-l6`) embedding of the
  rationale (384) + 4 label features: does the first sentence name the target label, does
  it name another label of the task, and the same two for the rest of the text when the
  first sentence names no label (`names_label`: the
  label word or a `LABEL_CUES` variant such as "entails" or "not a paraphrase");
- a logistic regression (scikit-learn at training time; numpy at inference), trained by
  `scripts/build_refusal_set.py` on `rllr/assets/refusal/set.jsonl` and saved as JSON
  weights in `rllr/assets/refusal/model.json` with its held-out precision/recall.

A cheap rule layer runs first: empty text and a few unmistakable refusal openings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rllr.errors import DataError

ASSET_DIR = Path(str(resources.files("rllr") / "assets" / "refusal"))
DEFAULT_MODEL = ASSET_DIR / "model.json"
DEFAULT_SET = ASSET_DIR / "set.jsonl"
ENCODER = "minilm-l6"

_REFUSAL_OPENINGS = re.compile(
    r"^\s*(i'?m sorry|i am sorry|i apologi[sz]e|sorry, but|as an ai|i cannot|i can'?t|"
    r"i'?m (?:not able|unable)|i am (?:not able|unable)|i won'?t)", re.IGNORECASE)


def rule_reason(text: str) -> str | None:
    """'empty answer' / 'refusal (rule)' for the obvious cases, else None."""
    if not text or not text.strip():
        return "empty answer"
    if _REFUSAL_OPENINGS.match(text.replace("\u2019", "'")):
        return "refusal (rule)"
    return None


def mentions(text: str, word: str) -> bool:
    """Whether `word` occurs in `text` as a whole word (case-insensitive, '_' = space)."""
    w = re.escape(word.lower().replace("_", " "))
    return re.search(rf"(?<![a-z0-9]){w}(?![a-z0-9])", text.lower().replace("_", " ")) is not None


_YES = (r"^\W*yes\b|\b(?:are|is) (?:indeed |clearly |likely )?(?:duplicates?|paraphrases?|"
        r"(?:a )?paraphrase)\b|\bmeans? the same\b|\bsame meaning\b|\banswer(?: to [^.?!]{0,60}?)? is \W*yes\b")
_NO = (r"^\W*no\b|\bnot (?:a )?(?:duplicates?|paraphrases?)\b|\b(?:do|does|did)(?: not|n't) "
       r"(?:mean|convey) the same\b|\bdifferent meanings?\b|\banswer(?: to [^.?!]{0,60}?)? is \W*no\b")

# Cue patterns (lower-case regexes) for label words the bundled tasks use; any other label is
# matched as a whole word (`mentions`). Word-level only: "not positive" still names "positive".
LABEL_CUES: dict[str, str] = {
    "entailment": r"\bentail(?:ment|s|ed)?\b",
    "contradiction": r"\bcontradict(?:ion|s|ory|ed)?\b",
    "world politics": r"\bworld politics\b|\bpolitic(?:s|al)\b",
    "sports": r"\bsports?\b",
    "science and technology": r"\bscience\b|\btechnolog(?:y|ies|ical)\b",
    "yes": _YES,
    "no": _NO,
}


def names_label(text: str, label: str) -> bool:
    """Whether `text` names `label`: its `LABEL_CUES` pattern, else the whole word."""
    pattern = LABEL_CUES.get(label.lower().replace("_", " "))
    if pattern is None:
        return mentions(text, label)
    return re.search(pattern, text.replace("\u2019", "'").strip().lower()) is not None


def split_first_sentence(text: str) -> tuple[str, str]:
    """(first sentence, rest): a rationale usually states its verdict first."""
    parts = re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def first_sentence(text: str) -> str:
    return split_first_sentence(text)[0]


N_LABEL_FEATURES = 4


def label_features(text: str, target: str, labels: Sequence[str]) -> list[float]:
    """0/1: [first sentence names the target label, it names another label (`names_label`),
    the rest names the target, the rest names another] - the last two only when the first
    sentence names no label (a verdict stated first is what counts; "The answer is neutral.
    ... a contradiction ..." argues for neutral)."""
    others = [w for w in labels if w.lower() != target.lower() and not mentions(target, w)]
    first, rest = split_first_sentence(text)
    out = [float(names_label(first, target)), float(any(names_label(first, w) for w in others))]
    if any(out):
        return out + [0.0, 0.0]
    return out + [float(names_label(rest, target)), float(any(names_label(rest, w) for w in others))]


def embed(texts: Sequence[str], encoder: str = ENCODER, batch_size: int = 32) -> np.ndarray:
    """Mean-pooled, L2-normalised encoder embeddings: [N, H] float32."""
    import torch

    from rllr.models.load import load_encoder, load_tokenizer

    tok = load_tokenizer(encoder, padding_side="right")
    model = load_encoder(encoder).eval()
    out = []
    with torch.inference_mode():
        for s in range(0, len(texts), batch_size):
            enc = tok(list(texts[s:s + batch_size]), padding=True, truncation=True,
                      max_length=256, return_tensors="pt")
            hidden = model(**enc).last_hidden_state  # [B, L, H]
            mask = enc["attention_mask"].unsqueeze(-1).float()  # [B, L, 1]
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 384), np.float32)


def features(texts: Sequence[str], targets: Sequence[str], labels: Sequence[Sequence[str]],
             encoder: str = ENCODER) -> np.ndarray:
    """[N, H + 4]: embeddings then the `label_features`."""
    emb = embed(texts, encoder)
    extra = np.array([label_features(t, g, ls) for t, g, ls in zip(texts, targets, labels)],
                     dtype=np.float32).reshape(len(texts), N_LABEL_FEATURES)
    return np.concatenate([emb, extra], axis=1)


class RefusalFilter:
    """Logistic regression over `features`; `reasons` gives None (keep) or why a text is out."""

    def __init__(self, weights: np.ndarray, bias: float, threshold: float = 0.5,
                 encoder: str = ENCODER, meta: dict[str, Any] | None = None) -> None:
        self.weights, self.bias, self.threshold = weights, bias, threshold
        self.encoder = encoder
        self.meta = meta or {}

    @classmethod
    def load(cls, path: str | Path = DEFAULT_MODEL, threshold: float | None = None) -> RefusalFilter:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            weights = np.asarray(data["weights"], dtype=np.float32)
            bias = float(data["bias"])
        except FileNotFoundError:
            raise DataError(f"{path}: refusal model not found (run scripts/build_refusal_set.py)") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise DataError(f"{path}: malformed refusal model (needs 'weights' and 'bias')") from None
        thr = float(data.get("threshold", 0.5)) if threshold is None else threshold
        return cls(weights, bias, thr, data.get("encoder", ENCODER), data)

    def save(self, path: str | Path) -> None:
        from rllr.io import atomic_write_json

        atomic_write_json(path, {**self.meta, "encoder": self.encoder, "threshold": self.threshold,
                                 "bias": self.bias, "weights": [round(float(w), 6) for w in self.weights]})

    def probs(self, feats: np.ndarray) -> np.ndarray:
        """P(refusal) per row of `feats` [N, H + 4]."""
        return 1.0 / (1.0 + np.exp(-(feats @ self.weights + self.bias)))

    def reasons(self, texts: Sequence[str], targets: Sequence[str],
                labels: Sequence[str]) -> list[str | None]:
        """None for texts to keep; otherwise the reason they are filtered."""
        out: list[str | None] = [rule_reason(t) for t in texts]
        idx = [i for i, r in enumerate(out) if r is None]
        if idx:
            feats = features([texts[i] for i in idx], [targets[i] for i in idx],
                             [labels] * len(idx), self.encoder)
            for i, p in zip(idx, self.probs(feats)):
                if p >= self.threshold:
                    out[i] = f"refusal classifier p={p:.2f} >= {self.threshold:.2f}"
        return out


def rules_only(texts: Sequence[str], targets: Sequence[str], labels: Sequence[str]) -> list[str | None]:
    """The rule layer alone (no encoder): a `Check` for tests and quick runs."""
    return [rule_reason(t) for t in texts]
