"""What a task is: data fields, label set and verbalizers, prompts, an answer parser, metrics.

Two answer formats cover both papers:

- ``"rllr"`` (RLLR, Appendix A): the task's input template as the user turn; answers end in
  ``The answer is: {label}``, optionally after a rationale
  (``{rationale}\\n\\nThe answer is: {label}``).
- ``"judgement"`` (RL for NLU on GLUE/SuperGLUE, section 4.1): a system prompt with the
  task description and the output rule; the assistant turn starts with ``<Judgement>``
  and the answer is the keyword inside ``<Judgement>…</Judgement>``.

A `Task` is data plus a few small methods; most tasks are a `TaskSpec` (also loadable from
YAML, see `rllr.tasks.user`) handled by the generic methods below. Tasks with a special
answer shape (COPA, MultiRC, ReCoRD, SQuAD, WikiText) override `parse` / `metrics`.
Unparseable answers are `None`: they count as wrong and are counted as format errors.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rllr.data.records import (
    find_split_file,
    read_records,
    resolve_data_dir,
    sft_rows,
    sft_rows_default,
)
from rllr.errors import DataError

Format = Literal["rllr", "judgement"]
Split = Literal["train", "sft", "rl", "test"]
Kind = Literal["classification", "regression", "multiple_choice", "extractive_qa", "language_modeling"]
Label = Any  # str label word (classification), float (regression), str answer (QA)

ANSWER_PREFIX = "The answer is:"
JUDGEMENT_OPEN, JUDGEMENT_CLOSE = "<Judgement>", "</Judgement>"


@dataclass(frozen=True)
class Example:
    """One task instance. `label` is canonical: a label word, a float, or an answer string."""

    task: str
    uid: str
    inputs: Mapping[str, Any]
    label: Label
    answers: tuple[str, ...] = ()  # all gold answers (QA); empty otherwise
    group: str | None = None  # e.g. the MultiRC question id, for per-question EM


@dataclass(frozen=True)
class Prompt:
    """Chat messages plus the text the assistant turn starts with (e.g. ``<Judgement>``)."""

    messages: tuple[Mapping[str, str], ...]
    response_prefix: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """Everything that defines a plain classification or regression task."""

    name: str
    kind: Kind
    folder: str
    """Data folder name under the data dir (or an absolute path)."""
    fields: tuple[str, ...]
    """Record fields the templates use, e.g. ("text",) or ("text_a", "text_b")."""
    rllr_template: str
    """RLLR input template with {field} placeholders (paper Appendix A)."""
    judgement_system: str
    """System prompt for the <Judgement> format: task description and output rule."""
    judgement_user: str
    """User turn for the <Judgement> format, with {field} placeholders."""
    labels: tuple[str, ...] = ()
    """Canonical label words (verbalizers), in label-id order."""
    label_map: Mapping[str, str] = field(default_factory=dict)
    """Raw label value (as a string) -> label word, e.g. {"0": "negative"}."""
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Extra words the parser accepts for a label, e.g. {"yes": ("duplicate",)}."""
    metrics: tuple[str, ...] = ("accuracy",)
    value_range: tuple[float, float] = (0.0, 5.0)
    """Regression only: the valid range of the score."""
    group: str = "custom"
    """Benchmark family: rllr, glue, superglue, ood, qa, lm, custom."""
    hub: tuple[str, ...] = ()
    """(path, name) for `datasets.load_dataset` when the hub is reachable."""
    hub_fields: Mapping[str, str] = field(default_factory=dict)
    """Hub column -> record field, e.g. {"sentence": "text"}."""
    description: str = ""
    sft_rows: int | None = None
    """Train rows used for SFT/reward data when the data folder doesn't say (RLLR Table 2)."""


class Task:
    """Generic task behaviour driven by a `TaskSpec`; subclasses override what differs."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    # --- identity -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> Kind:
        return self.spec.kind

    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    @property
    def metric_names(self) -> tuple[str, ...]:
        return self.spec.metrics

    @property
    def primary_metric(self) -> str:
        return self.spec.metrics[0]

    def __repr__(self) -> str:
        return f"Task({self.name!r}, kind={self.kind!r})"

    # --- data -----------------------------------------------------------------------

    def data_folder(self, data_dir: str | Path | None = None) -> Path:
        folder = Path(self.spec.folder)
        return folder if folder.is_absolute() else resolve_data_dir(data_dir) / folder

    def load(self, split: Split, data_dir: str | Path | None = None, limit: int | None = None) -> list[Example]:
        """Examples of `split`: 'train', 'sft' (train rows before the RLLR cut), 'rl' (after it), 'test'."""
        file_split = "test" if split == "test" else "train"
        if data_dir is not None and str(data_dir) == "hub":
            from rllr.data.hub import load_hub_records

            records, path, folder = load_hub_records(self, file_split), Path(f"hub:{self.name}"), None
        else:
            folder = self.data_folder(data_dir)
            path = find_split_file(folder, file_split)
            records = read_records(path)
        offset = 0
        if split in ("sft", "rl"):
            cut = sft_rows(folder, len(records), self.spec.sft_rows) if folder else \
                sft_rows_default(len(records), self.spec.sft_rows)
            records, offset = (records[:cut], 0) if split == "sft" else (records[cut:], cut)
        if limit is not None:
            records = records[:limit]
        return [self.example(r, f"{path}:{i + offset + 1}", split) for i, r in enumerate(records)]

    def example(self, record: Mapping[str, Any], where: str, split: str = "train") -> Example:
        """Validate one record and make an Example; errors name `where` (file:line) and the field."""
        inputs = self.text_inputs(record, where)
        if "label" not in record:
            raise DataError(f"{where}: field 'label': missing")
        label = self.canonical_label(record["label"], where)
        return Example(task=self.name, uid=self.uid(where, split), inputs=inputs, label=label)

    def text_inputs(self, record: Mapping[str, Any], where: str) -> dict[str, str]:
        """The spec's fields of `record`, each a non-empty string (else DataError naming it)."""
        inputs = {}
        for f in self.spec.fields:
            value = record.get(f)
            if not isinstance(value, str) or not value.strip():
                if value is None:
                    problem = "missing"
                elif isinstance(value, str):
                    problem = "empty text"
                else:
                    problem = f"expected text, got {type(value).__name__}"
                raise DataError(f"{where}: field '{f}': {problem}")
            inputs[f] = value
        return inputs

    def uid(self, where: str, split: str) -> str:
        """``<task>/<split>/<line>`` from a ``file:line`` location."""
        return f"{self.name}/{split}/{where.rsplit(':', 1)[-1]}"

    def canonical_label(self, raw: Any, where: str = "label") -> Label:
        """Map a raw label (int code, string, float) to the canonical label."""
        if self.kind == "regression":
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise DataError(f"{where}: field 'label': {raw!r} is not a number") from None
            lo, hi = self.spec.value_range
            if not lo <= value <= hi:
                raise DataError(f"{where}: field 'label': {value} outside [{lo}, {hi}]")
            return value
        key = str(raw).lower() if isinstance(raw, bool) else str(raw)
        word = self.spec.label_map.get(key, key)
        for label in self.labels:
            if word == label or word.lower() == label.lower():
                return label
        raise DataError(f"{where}: field 'label': {raw!r} is not in the label set {list(self.labels)}")

    # --- prompts and answers -------------------------------------------------------------

    def question(self, ex: Example) -> str:
        """The RLLR question text (input template filled in), used in teacher prompts."""
        return _fill(self.spec.rllr_template, ex.inputs)

    def prompt(self, ex: Example, fmt: Format, demos: Sequence[Example] = ()) -> Prompt:
        """The chat prompt for `ex`; `demos` become earlier user/assistant turns (K-shot)."""
        system, response_prefix = self._system(fmt), self._response_prefix(fmt)
        messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        for d in demos:
            messages.append({"role": "user", "content": self._user(d, fmt)})
            messages.append({"role": "assistant", "content": response_prefix + self.target(d, fmt)})
        messages.append({"role": "user", "content": self._user(ex, fmt)})
        return Prompt(messages=tuple(messages), response_prefix=response_prefix)

    def target(self, ex: Example, fmt: Format, *, rationale: str | None = None, label: Label = None) -> str:
        """The gold answer text that follows the prompt's response prefix.

        `label` overrides the gold label (to write answers for a wrong label, RLLR App. D).
        """
        word = self.format_label(ex.label if label is None else label)
        if fmt == "judgement":
            return f"{word}{JUDGEMENT_CLOSE}" + (f"\n{rationale.strip()}" if rationale else "")
        answer = f"{ANSWER_PREFIX} {word}"
        return f"{rationale.strip()}\n\n{answer}" if rationale else answer

    def format_label(self, label: Label) -> str:
        if self.kind == "regression":
            return f"{float(label):.1f}"
        return str(label)

    def _system(self, fmt: Format) -> str:
        return self.spec.judgement_system if fmt == "judgement" else ""

    def _user(self, ex: Example, fmt: Format) -> str:
        template = self.spec.judgement_user if fmt == "judgement" else self.spec.rllr_template
        return _fill(template, ex.inputs)

    @staticmethod
    def _response_prefix(fmt: Format) -> str:
        return JUDGEMENT_OPEN if fmt == "judgement" else ""

    # --- parsing --------------------------------------------------------------------------

    def parse(self, completion: str, fmt: Format, *, strict: bool = False) -> Label | None:
        """The predicted label in a completion (the text after the response prefix), or None.

        judgement: the keyword inside the first ``<Judgement>…</Judgement>``.
        rllr: the text after the last ``The answer is:``; unless `strict`, a completion
        without it falls back to a keyword search over the whole text (zero-shot answers).
        In the rllr format the label named first wins ("negative, though parts are
        positive"); inside a <Judgement> tag two different labels are a format error.
        """
        span = answer_span(completion, fmt, strict=strict)
        if span is None:
            return None
        if self.kind == "regression":
            return parse_number(span, self.spec.value_range)
        return match_label(span, self.labels, self.spec.keywords, first_wins=fmt == "rllr")

    def is_correct(self, pred: Label | None, ex: Example) -> bool:
        if pred is None:
            return False
        if self.kind == "regression":
            return abs(float(pred) - float(ex.label)) < 0.5
        return bool(pred == ex.label)

    def wrong_label(self, ex: Example, rng: random.Random) -> Label:
        """A wrong label as RLLR Appendix D: a random other label; for scores gold+3+U[-1,1], minus 5 above 5."""
        if self.kind == "regression":
            value = float(ex.label) + 3.0 + rng.uniform(-1.0, 1.0)
            if value > 5.0:
                value -= 5.0
            return round(value, 1)
        others = [label for label in self.labels if label != ex.label]
        return rng.choice(others)

    # --- metrics --------------------------------------------------------------------------

    def metrics(self, preds: Sequence[Label | None], examples: Sequence[Example]) -> dict[str, float]:
        """Task metrics over predictions (None = format error, counted wrong) + format-error rate."""
        from rllr.eval.metrics import compute_metrics

        out = compute_metrics(self.metric_names, preds, examples, labels=self.labels, kind=self.kind)
        n = max(len(preds), 1)
        out["format_error_rate"] = sum(p is None for p in preds) / n
        return out


# --- pure helpers (shared by subclasses) ---------------------------------------------------


def _fill(template: str, inputs: Mapping[str, Any]) -> str:
    try:
        return template.format(**inputs)
    except (KeyError, IndexError) as e:
        raise DataError(f"template {template[:40]!r}...: unknown placeholder {e}") from None


def answer_span(completion: str, fmt: Format, *, strict: bool = False) -> str | None:
    """The part of a completion that holds the answer, or None when the format is broken."""
    if fmt == "judgement":
        text = completion if JUDGEMENT_OPEN in completion else JUDGEMENT_OPEN + completion
        m = re.search(re.escape(JUDGEMENT_OPEN) + r"(.*?)" + re.escape(JUDGEMENT_CLOSE), text, re.DOTALL)
        return m.group(1).strip() if m else None
    idx = completion.lower().rfind(ANSWER_PREFIX.lower())
    if idx >= 0:
        return completion[idx + len(ANSWER_PREFIX):].strip()
    return None if strict else completion.strip()


def match_label(span: str, labels: Sequence[str], keywords: Mapping[str, Sequence[str]] = {},
                *, first_wins: bool = False) -> str | None:
    """The label whose word (or extra keyword) occurs in `span`; None if none.

    When several labels occur, the one named first wins with `first_wins`, else None.
    Longer words are matched first and blanked out (same length, so positions stay), so
    "unacceptable" is not also read as "acceptable", nor "not_entailment" as "entailment".
    """
    text = " " + re.sub(r"[\s_\-]+", " ", span.lower()) + " "
    candidates = [(w.lower().replace("_", " "), label) for label in labels for w in (label, *keywords.get(label, ()))]
    first_pos: dict[str, int] = {}
    for word, label in sorted(candidates, key=lambda c: -len(c[0])):
        pattern = r"(?<![a-z0-9])" + re.escape(word) + r"(?![a-z0-9])"
        m = re.search(pattern, text)
        if m:
            first_pos[label] = min(first_pos.get(label, m.start()), m.start())
            text = re.sub(pattern, lambda x: " " * len(x.group(0)), text)
    if len(first_pos) == 1 or (first_wins and first_pos):
        return min(first_pos, key=lambda label: first_pos[label])
    return None


def parse_number(span: str, value_range: tuple[float, float]) -> float | None:
    """The first number in `span` if it lies in `value_range`, else None."""
    m = re.search(r"-?\d+(?:\.\d+)?", span)
    if not m:
        return None
    value = float(m.group(0))
    lo, hi = value_range
    return value if lo <= value <= hi else None


def one_of(words: Sequence[str]) -> str:
    """``'a' or 'b'`` / ``one of 'a', 'b' or 'c'``: the allowed answers, for system prompts."""
    quoted = [f"'{w}'" for w in words]
    if len(quoted) <= 2:
        return " or ".join(quoted)
    return "one of " + ", ".join(quoted[:-1]) + " or " + quoted[-1]


def judgement_system(subject: str, background: str, answers: str) -> str:
    """The <Judgement> system prompt (second paper, section 4.1).

    "You are an assistant to analyze {subject}." + task background + the allowed answers +
    the output rule. `answers` is e.g. ``one_of(labels)`` or "a number from 0.0 to 5.0".
    """
    return (
        f"You are an assistant to analyze {subject}. {background.strip()} "
        f"Answer with {answers}. Put your answer between {JUDGEMENT_OPEN}{JUDGEMENT_CLOSE}."
    )


def replace_spec(task: Task, **changes: Any) -> Task:
    """A copy of `task` with some spec fields changed (e.g. a different data folder)."""
    return type(task)(dataclasses.replace(task.spec, **changes))
