"""SuperGLUE tasks: BoolQ, CB, COPA, RTE, WiC, WSC, MultiRC (ReCoRD is in `rllr.tasks.qa`).

Boolean labels (BoolQ, WiC, WSC) and MultiRC's 0/1 become the words ``no`` / ``yes`` (the
keywords the second paper's parser looks for). COPA's answer is the option number ``1`` /
``2`` (raw labels 0 / 1); the parser has no access to the example, so it cannot map a
copied choice sentence back to its number: the prompts ask for the number only.

MultiRC is one row per answer option; `Example.group` is ``"<passage_idx>/<question_idx>"``
so that per-question exact match (``em_q``) can be computed next to answer-level F1
(``f1a``), the two SuperGLUE MultiRC metrics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from rllr.errors import DataError
from rllr.tasks.base import Example, Task, TaskSpec, judgement_system, one_of

YES_NO = ("no", "yes")
BOOL_MAP = {"false": "no", "true": "yes", "0": "no", "1": "yes"}
NLI3 = ("entailment", "contradiction", "neutral")
NLI2 = ("entailment", "not_entailment")


BOOLQ = Task(TaskSpec(
    name="boolq", kind="classification", folder="boolq", fields=("text_a", "text_b"),
    rllr_template="Read the passage and answer the question with yes or no. "
                  "Passage: {text_a}\nQuestion: {text_b}?",
    judgement_system=judgement_system(
        "yes/no questions about a passage",
        "The task (BoolQ) gives a Wikipedia passage and a naturally occurring yes/no question "
        "about it; answer the question from the passage.",
        one_of(YES_NO)),
    judgement_user="Passage: {text_a}\nQuestion: {text_b}?",
    labels=YES_NO, label_map=BOOL_MAP, keywords={"no": ("false",), "yes": ("true",)},
    metrics=("accuracy",), group="superglue", hub=("super_glue", "boolq"),
    hub_fields={"passage": "text_a", "question": "text_b"},
    description="yes/no question answering over a passage",
))

CB = Task(TaskSpec(
    name="cb", kind="classification", folder="cb", fields=("text_a", "text_b"),
    rllr_template="Given a premise and a hypothesis, predict the relationship between them. "
                  "Choose one of the following labels: entailment, contradiction, or neutral. "
                  "Premise:{text_a}, Hypothesis:{text_b}",
    judgement_system=judgement_system(
        "the commitment of a speaker to an embedded clause",
        "The task (CommitmentBank) gives a short text (premise) that ends in an embedded "
        "clause and a hypothesis restating that clause. Answer 'entailment' if the author is "
        "committed to the hypothesis being true, 'contradiction' if committed to it being "
        "false, and 'neutral' otherwise.",
        one_of(NLI3)),
    judgement_user="Premise: {text_a}\nHypothesis: {text_b}",
    labels=NLI3, label_map={"0": "entailment", "1": "contradiction", "2": "neutral"},
    metrics=("accuracy", "macro_f1"), group="superglue", hub=("super_glue", "cb"),
    hub_fields={"premise": "text_a", "hypothesis": "text_b"},
    description="3-way NLI on dialogue/fiction (SuperGLUE reports macro F1 and accuracy)",
))

SUPERGLUE_RTE = Task(TaskSpec(
    name="superglue_rte", kind="classification", folder="superglue_rte", fields=("text_a", "text_b"),
    rllr_template="Given a premise and a hypothesis, predict whether the premise entails the "
                  "hypothesis. Choose one of the following labels: entailment, not_entailment. "
                  "Premise:{text_a}, Hypothesis:{text_b}",
    judgement_system=judgement_system(
        "the logical relationship between two texts",
        "The task (recognizing textual entailment) gives a premise and a hypothesis. Answer "
        "'entailment' if the premise implies the hypothesis is true, else 'not_entailment'.",
        one_of(NLI2)),
    judgement_user="Premise: {text_a}\nHypothesis: {text_b}",
    labels=NLI2, label_map={"0": "entailment", "1": "not_entailment"},
    keywords={"not_entailment": ("no entailment", "not entailed")},
    metrics=("accuracy",), group="superglue", hub=("super_glue", "rte"),
    hub_fields={"premise": "text_a", "hypothesis": "text_b"},
    description="2-way textual entailment (same pairs as GLUE RTE)",
))

WIC = Task(TaskSpec(
    name="wic", kind="classification", folder="wic", fields=("word", "text_a", "text_b"),
    rllr_template="Does the word \u201c{word}\u201d have the same meaning in these two sentences? "
                  "Sentence 1: {text_a}, Sentence 2: {text_b}",
    judgement_system=judgement_system(
        "word senses in context",
        "The task (Word-in-Context) gives a target word and two sentences that both contain it; "
        "decide whether the word is used with the same meaning in both (yes) or not (no).",
        one_of(YES_NO)),
    judgement_user="Word: {word}\nSentence 1: {text_a}\nSentence 2: {text_b}",
    labels=YES_NO, label_map=BOOL_MAP,
    keywords={"no": ("different meaning", "different meanings"), "yes": ("same meaning",)},
    metrics=("accuracy",), group="superglue", hub=("super_glue", "wic"),
    hub_fields={"sentence1": "text_a", "sentence2": "text_b"},
    description="same word sense in two sentences?",
))

WSC = Task(TaskSpec(
    name="wsc", kind="classification", folder="wsc", fields=("text", "span2_text", "span1_text"),
    rllr_template="{text} In the passage above, does the pronoun \u201c{span2_text}\u201d refer to "
                  "\u201c{span1_text}\u201d?",
    judgement_system=judgement_system(
        "pronoun coreference",
        "The task (Winograd Schema Challenge) gives a passage, a pronoun in it and a candidate "
        "noun phrase; decide whether the pronoun refers to that noun phrase (yes) or not (no).",
        one_of(YES_NO)),
    judgement_user="Passage: {text}\nPronoun: {span2_text}\nCandidate: {span1_text}",
    labels=YES_NO, label_map=BOOL_MAP, metrics=("accuracy",), group="superglue",
    hub=("super_glue", "wsc.fixed"), description="Winograd coreference (does the pronoun refer to X?)",
))


class CopaTask(Task):
    """COPA: premise + "cause"/"effect" + two choices -> answer "1" or "2".

    Records hold ``choices: [choice1, choice2]`` (or hub-style ``choice1``/``choice2``) and
    ``text_b`` = ``cause`` | ``effect``; the prompt turns that into a question.
    """

    QUESTIONS: ClassVar[dict[str, str]] = {"cause": "What was the cause of this?", "effect": "What happened as a result?"}

    def example(self, record: Mapping[str, Any], where: str, split: str = "train") -> Example:
        choices = record.get("choices")
        if choices is None and "choice1" in record:
            choices = [record.get("choice1"), record.get("choice2")]
        if not isinstance(choices, list) or len(choices) != 2:
            raise DataError(f"{where}: field 'choices': expected a list of 2 strings")
        if not all(isinstance(c, str) and c.strip() for c in choices):
            raise DataError(f"{where}: field 'choices': empty text")
        question = record.get("text_b")
        if question not in self.QUESTIONS:
            raise DataError(f"{where}: field 'text_b': {question!r} is not 'cause' or 'effect'")
        base = super().example({**record, "choice1": choices[0], "choice2": choices[1]}, where, split)
        inputs = {**base.inputs, "question": self.QUESTIONS[question]}
        return dataclasses.replace(base, inputs=inputs)


COPA = CopaTask(TaskSpec(
    name="copa", kind="multiple_choice", folder="copa", fields=("text_a", "text_b", "choice1", "choice2"),
    rllr_template="Premise: {text_a} {question} Choose the more plausible alternative. "
                  "Option 1: {choice1} Option 2: {choice2} Answer with 1 or 2.",
    judgement_system=judgement_system(
        "causal reasoning about everyday events",
        "The task (Choice of Plausible Alternatives) gives a premise, asks for its cause or "
        "its effect, and offers two alternatives; pick the more plausible one by its number.",
        one_of(("1", "2"))),
    judgement_user="Premise: {text_a}\nQuestion: {question}\nOption 1: {choice1}\nOption 2: {choice2}",
    labels=("1", "2"), label_map={"0": "1", "1": "2"},
    keywords={"1": ("option 1", "first"), "2": ("option 2", "second")},
    metrics=("accuracy",), group="superglue", hub=("super_glue", "copa"),
    hub_fields={"premise": "text_a", "question": "text_b"},
    description="choice of plausible alternatives (answer 1 or 2)",
))


class MultiRCTask(Task):
    """MultiRC: one row per (passage, question, answer option); is the option correct?"""

    EMPTY_ANSWER: ClassVar[str] = "(empty answer)"

    def example(self, record: Mapping[str, Any], where: str, split: str = "train") -> Example:
        # Two source train options have an empty answer text (both labelled wrong): keep them.
        answer = record.get("answer")
        if isinstance(answer, str) and not answer.strip():
            record = {**record, "answer": self.EMPTY_ANSWER}
        base = super().example(record, where, split)
        idx = record.get("idx")  # hub style: {"paragraph": p, "question": q, "answer": a}
        pid, qid = record.get("passage_idx", ""), record.get("question_idx")
        if qid is None and isinstance(idx, Mapping):
            pid, qid = idx.get("paragraph", ""), idx.get("question")
        if qid is None:
            raise DataError(f"{where}: field 'question_idx': missing (needed for per-question EM)")
        return dataclasses.replace(base, group=f"{pid}/{qid}")


MULTIRC = MultiRCTask(TaskSpec(
    name="multirc", kind="classification", folder="multirc", fields=("text_a", "text_b", "answer"),
    rllr_template="Passage: {text_a}\nQuestion: {text_b}\nCandidate answer: {answer}\n"
                  "Is the candidate answer correct? Choose one of the following labels: no, yes.",
    judgement_system=judgement_system(
        "answers to reading-comprehension questions",
        "The task (MultiRC) gives a paragraph, a question about it and one candidate answer; a "
        "question may have several correct answers. Decide whether this candidate answer is "
        "correct according to the paragraph (yes) or not (no).",
        one_of(YES_NO)),
    judgement_user="Paragraph: {text_a}\nQuestion: {text_b}\nCandidate answer: {answer}",
    labels=YES_NO, label_map=BOOL_MAP, keywords={"no": ("incorrect",), "yes": ("correct",)},
    metrics=("f1a", "em_q", "accuracy"), group="superglue", hub=("super_glue", "multirc"),
    hub_fields={"paragraph": "text_a", "question": "text_b"},
    description="multi-answer reading comprehension, one row per answer option",
))
