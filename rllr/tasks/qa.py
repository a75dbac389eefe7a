"""Extractive QA tasks: SQuAD v1.1 (second paper, Appendix A) and SuperGLUE ReCoRD.

The answer is free text, read from after the last ``The answer is:`` (rllr format) or from
inside ``<Judgement>…</Judgement>``; only its first line counts. It is scored with the
official SQuAD v1.1 normalisation (lower-case, drop punctuation and a/an/the, squeeze
spaces): exact match and token F1, each the max over the gold answers
(`rllr.eval.metrics.squad_em` / `squad_f1`). ReCoRD's official scorer uses the same
normalisation, with the gold answers being all mentions of the right entity.

Local data: `squad_v1` is XQuAD-en (1,190 SQuAD v1.1 dev questions, one gold answer each, test
only); `record` has only the 64 labelled FewGLUE examples (32 train / 32 test).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from rllr.errors import DataError
from rllr.tasks.base import Example, Format, Label, Task, TaskSpec, answer_span, judgement_system


def _gold_answers(record: Mapping[str, Any], where: str) -> list[str]:
    """`answers` as a list of strings, or hub-style ``{"text": [...]}``; falls back to `label`."""
    raw = record.get("answers", record.get("label"))
    if isinstance(raw, Mapping):
        raw = raw.get("text")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{where}: field 'answers': missing or not a non-empty list")
    if not all(isinstance(a, str) and a.strip() for a in raw):
        raise DataError(f"{where}: field 'answers': empty text")
    return list(raw)


class ExtractiveQATask(Task):
    """A task whose label is an answer string; metrics are SQuAD EM / F1 over `Example.answers`."""

    def example(self, record: Mapping[str, Any], where: str, split: str = "train") -> Example:
        inputs = self.text_inputs(record, where)
        answers = _gold_answers(record, where)
        return Example(task=self.name, uid=self.uid(where, split), inputs=inputs,
                       label=answers[0], answers=tuple(answers))

    def canonical_label(self, raw: Any, where: str = "label") -> Label:
        if not isinstance(raw, str) or not raw.strip():
            raise DataError(f"{where}: field 'label': expected a non-empty answer string")
        return raw

    def parse(self, completion: str, fmt: Format, *, strict: bool = False) -> Label | None:
        span = answer_span(completion, fmt, strict=strict)
        if span is None:
            return None
        lines = [line.strip() for line in span.splitlines() if line.strip()]
        answer = lines[0].strip(" \"'\u201c\u201d") if lines else ""
        return answer or None

    def is_correct(self, pred: Label | None, ex: Example) -> bool:
        from rllr.eval.metrics import squad_em

        return pred is not None and squad_em(str(pred), ex.answers or (str(ex.label),)) == 1.0

    def wrong_label(self, ex: Example, rng: random.Random) -> Label:
        """A span of the passage (same length in words as the gold) that is not a gold answer."""
        words = str(ex.inputs.get("text_a", "")).split()
        n = max(1, len(str(ex.label).split()))
        for _ in range(20):
            start = rng.randrange(max(1, len(words) - n + 1))
            span = " ".join(words[start:start + n])
            if span and not self.is_correct(span, ex):
                return span
        return "unknown"


SQUAD_V1 = ExtractiveQATask(TaskSpec(
    name="squad_v1", kind="extractive_qa", folder="squad_v1", fields=("text_a", "text_b"),
    rllr_template="Read the passage and answer the question with the shortest span copied from "
                  "the passage.\nPassage: {text_a}\nQuestion: {text_b}",
    judgement_system=judgement_system(
        "reading-comprehension questions",
        "The task (SQuAD) gives a Wikipedia paragraph and a question whose answer is a span of "
        "the paragraph.",
        "the shortest span of the paragraph that answers the question, copied exactly"),
    judgement_user="Paragraph: {text_a}\nQuestion: {text_b}",
    metrics=("em", "f1"), group="qa", hub=("squad",),
    hub_fields={"context": "text_a", "question": "text_b"},
    description="extractive QA (XQuAD-en = SQuAD v1.1 dev subset, 1 gold answer each; test only)",
))


class RecordTask(ExtractiveQATask):
    """ReCoRD: which entity of the passage fills ``@placeholder`` in the query?

    ``@highlight`` markers of the CNN/Daily Mail passages become "- " bullet lines, and the
    candidate entities are listed in the prompt.
    """

    def example(self, record: Mapping[str, Any], where: str, split: str = "train") -> Example:
        entities = record.get("entities")
        if not isinstance(entities, list) or not entities:
            raise DataError(f"{where}: field 'entities': missing or not a non-empty list")
        passage = record.get("text_a")
        if isinstance(passage, str):
            passage = re.sub(r"\s*@highlight\s*", "\n- ", passage).strip()
        fixed = {**record, "text_a": passage, "entities": ", ".join(dict.fromkeys(map(str, entities)))}
        return super().example(fixed, where, split)

    def wrong_label(self, ex: Example, rng: random.Random) -> Label:
        """A random candidate entity that is not a gold answer (RLLR App. D style)."""
        entities = [e.strip() for e in str(ex.inputs["entities"]).split(", ")]
        others = [e for e in entities if e and not self.is_correct(e, ex)]
        return rng.choice(others) if others else super().wrong_label(ex, rng)


RECORD = RecordTask(TaskSpec(
    name="record", kind="extractive_qa", folder="record", fields=("text_a", "text_b", "entities"),
    rllr_template="Passage: {text_a}\nQuery: {text_b}\nWhich entity should replace "
                  "@placeholder in the query? Possible entities: {entities}",
    judgement_system=judgement_system(
        "reading comprehension with commonsense reasoning",
        "The task (ReCoRD) gives a news passage, a query sentence in which one entity is "
        "replaced by @placeholder, and the candidate entities from the passage.",
        "the one candidate entity that should replace @placeholder, written exactly as listed"),
    judgement_user="Passage: {text_a}\nQuery: {text_b}\nPossible entities: {entities}",
    metrics=("f1", "em"), group="superglue", hub=("super_glue", "record"),
    hub_fields={"passage": "text_a", "query": "text_b"},
    description="cloze-style entity QA (only 32 train / 32 test rows available)",
))
