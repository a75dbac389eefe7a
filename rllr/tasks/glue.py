"""GLUE tasks: CoLA, SST-2, MRPC, QQP, STS-B, MNLI (+ matched / mismatched stand-ins), QNLI, RTE, WNLI.

SST-2, MRPC, QQP, STS-B and MNLI are also RLLR tasks: their ``rllr`` templates and label
words are copied verbatim from RLLR Appendix A (including its "dose" typo in SST-2 and the
missing space after "Premise:"); Appendix A's ``\\n`` is a newline. The other GLUE tasks
get templates in the same style. The ``judgement`` prompts follow the second paper
(section 4.1): background, allowed answers, and the <Judgement></Judgement> rule.

Metrics: RLLR reports accuracy everywhere and Pearson for STS-B; the second paper reports
F1 for QQP/MRPC, Spearman for STS-B and MCC for CoLA. Both are computed; the first name is
the task's primary metric.

`mnli_m` / `mnli_mm` read the ``mnli_m_hard`` / ``mnli_mm_hard`` folders: real MNLI
dev_matched / dev_mismatched pairs, but only the robust-NLI "hard" subset (pairs a
hypothesis-only model gets wrong), PTB-tokenized, test only. They are biased towards hard
items, so scores on them are lower than on the full dev sets and are not comparable with
the papers' MNLI-m/mm numbers. Plain `mnli` tests on a held-out slice of the MNLI *train*
set (matched genres).
"""

from __future__ import annotations

import dataclasses

from rllr.tasks.base import Task, TaskSpec, judgement_system, one_of

NLI3 = ("entailment", "contradiction", "neutral")  # RLLR A.3 order
NLI2 = ("entailment", "not_entailment")
YES_NO = ("no", "yes")
PAIR_USER = "Sentence 1: {text_a}\nSentence 2: {text_b}"


COLA = Task(TaskSpec(
    name="cola", kind="classification", folder="cola", fields=("text",),
    rllr_template="Sentence: {text} Is this sentence grammatically acceptable in English? "
                  "Choose one of the following labels: unacceptable, acceptable.",
    judgement_system=judgement_system(
        "the linguistic properties of a sentence",
        "The task (CoLA) is to judge whether a single English sentence is grammatically "
        "acceptable, i.e. whether a native speaker would consider it a well-formed sentence. "
        "Judge grammar only, not meaning or truth.",
        one_of(("acceptable", "unacceptable"))),
    judgement_user="Sentence: {text}",
    labels=("unacceptable", "acceptable"),
    label_map={"0": "unacceptable", "1": "acceptable"},
    keywords={"unacceptable": ("not acceptable", "ungrammatical"), "acceptable": ("grammatical",)},
    metrics=("mcc", "accuracy"), group="glue", hub=("glue", "cola"), hub_fields={"sentence": "text"},
    description="grammatical acceptability of one sentence",
))

SST2 = Task(TaskSpec(
    name="sst2", kind="classification", folder="sst2", fields=("text",),
    rllr_template="Movie review: {text} What sentiment dose the movie review express?",
    judgement_system=judgement_system(
        "the sentiment of movie reviews",
        "The task (SST-2) gives a sentence or phrase from a movie review; decide whether the "
        "sentiment it expresses about the movie is negative or positive.",
        one_of(("negative", "positive"))),
    judgement_user="Movie review: {text}",
    labels=("negative", "positive"), label_map={"0": "negative", "1": "positive"},
    metrics=("accuracy",), group="glue", hub=("glue", "sst2"), hub_fields={"sentence": "text"},
    description="binary sentiment of movie-review sentences",
))

MRPC = Task(TaskSpec(
    name="mrpc", kind="classification", folder="mrpc", fields=("text_a", "text_b"),
    rllr_template="Does the sentence\n{text_a}\nparaphrase (that is, mean the same thing as) "
                  "this sentence?\n{text_b}",
    judgement_system=judgement_system(
        "whether two sentences are paraphrases",
        "The task (MRPC) gives two sentences from news articles; decide whether they mean the "
        "same thing (yes) or not (no).",
        one_of(YES_NO)),
    judgement_user=PAIR_USER,
    labels=YES_NO, label_map={"0": "no", "1": "yes"},
    keywords={"no": ("not equivalent", "not a paraphrase"), "yes": ("equivalent", "paraphrase")},
    metrics=("accuracy", "f1"), group="glue", hub=("glue", "mrpc"), sft_rows=1000,
    hub_fields={"sentence1": "text_a", "sentence2": "text_b"},
    description="paraphrase detection (news sentence pairs)",
))

QQP = Task(TaskSpec(
    name="qqp", kind="classification", folder="qqp", fields=("text_a", "text_b"),
    rllr_template="I received the questions \u201c{text_a}\u201d and \u201c{text_b}\u201d. "
                  "Are they duplicates?",
    judgement_system=judgement_system(
        "whether two questions are duplicates",
        "The task (QQP) gives two questions from Quora; decide whether they ask the same thing, "
        "so that one answer would serve both (yes) or not (no).",
        one_of(YES_NO)),
    judgement_user="Question 1: {text_a}\nQuestion 2: {text_b}",
    labels=YES_NO, label_map={"0": "no", "1": "yes"},
    keywords={"no": ("not duplicate", "not duplicates", "not a duplicate"),
              "yes": ("duplicate", "duplicates")},
    metrics=("accuracy", "f1"), group="glue", hub=("glue", "qqp"),
    hub_fields={"question1": "text_a", "question2": "text_b"},
    description="duplicate-question detection (Quora)",
))

STSB = Task(TaskSpec(
    name="stsb", kind="regression", folder="stsb", fields=("text_a", "text_b"),
    rllr_template="Analyze the semantic similarity between two sentences and predict a "
                  "similarity score from 0 to 5. Sentence 1: {text_a}, Sentence 2: {text_b}",
    judgement_system=judgement_system(
        "the semantic similarity of two sentences",
        "The task (STS-B) gives two sentences; rate how similar their meanings are, from 0.0 "
        "(completely unrelated) to 5.0 (exactly the same meaning).",
        "a single float number from 0.0 to 5.0 with one decimal, e.g. 3.2"),
    judgement_user=PAIR_USER,
    metrics=("pearson", "spearman"), value_range=(0.0, 5.0), group="glue", hub=("glue", "stsb"), sft_rows=5000,
    hub_fields={"sentence1": "text_a", "sentence2": "text_b"},
    description="semantic textual similarity, a score in [0, 5]",
))

_MNLI_SPEC = TaskSpec(
    name="mnli", kind="classification", folder="mnli", fields=("text_a", "text_b"),
    rllr_template="Given a premise and a hypothesis, predict the relationship between them. "
                  "Choose one of the following labels: entailment, contradiction, or neutral. "
                  "Premise:{text_a}, Hypothesis:{text_b}",
    judgement_system=judgement_system(
        "the logical relationship between two sentences",
        "The task (natural language inference) gives a premise and a hypothesis. Answer "
        "'entailment' if the premise implies the hypothesis is true, 'contradiction' if it "
        "implies the hypothesis is false, and 'neutral' if neither.",
        one_of(NLI3)),
    judgement_user="Premise: {text_a}\nHypothesis: {text_b}",
    labels=NLI3,
    # Hub ids (glue/mnli): 0 entailment, 1 neutral, 2 contradiction; local files use words.
    label_map={"0": "entailment", "1": "neutral", "2": "contradiction"},
    keywords={"entailment": ("entails", "entailed"), "contradiction": ("contradicts", "contradictory")},
    metrics=("accuracy",), group="glue", hub=("glue", "mnli"),
    hub_fields={"premise": "text_a", "hypothesis": "text_b"},
    description="3-way NLI (test = held-out MNLI train slice, matched genres)",
)
MNLI = Task(_MNLI_SPEC)
MNLI_M = Task(dataclasses.replace(
    _MNLI_SPEC, name="mnli_m", folder="mnli_m_hard", hub=("glue", "mnli_matched"),
    description="MNLI dev_matched, robust-NLI 'hard' subset only (biased; test only)"))
MNLI_MM = Task(dataclasses.replace(
    _MNLI_SPEC, name="mnli_mm", folder="mnli_mm_hard", hub=("glue", "mnli_mismatched"),
    description="MNLI dev_mismatched, robust-NLI 'hard' subset only (biased; test only)"))

QNLI = Task(TaskSpec(
    name="qnli", kind="classification", folder="qnli", fields=("text_a", "text_b"),
    rllr_template="Given a question and a sentence, predict whether the sentence contains the "
                  "answer to the question. Choose one of the following labels: entailment, "
                  "not_entailment. Question:{text_a}, Sentence:{text_b}",
    judgement_system=judgement_system(
        "whether a sentence answers a question",
        "The task (QNLI) gives a question and a sentence from Wikipedia. Answer 'entailment' "
        "if the sentence contains the answer to the question, else 'not_entailment'.",
        one_of(NLI2)),
    judgement_user="Question: {text_a}\nSentence: {text_b}",
    labels=NLI2, label_map={"0": "entailment", "1": "not_entailment"},
    keywords={"not_entailment": ("no entailment", "not entailed")},
    metrics=("accuracy",), group="glue", hub=("glue", "qnli"),
    hub_fields={"question": "text_a", "sentence": "text_b"},
    description="question-answering NLI (does the sentence answer the question)",
))

_RTE_SYSTEM = judgement_system(
    "the logical relationship between two texts",
    "The task (recognizing textual entailment) gives a premise and a hypothesis. Answer "
    "'entailment' if the premise implies the hypothesis is true, else 'not_entailment'.",
    one_of(NLI2))
_RTE_TEMPLATE = ("Given a premise and a hypothesis, predict whether the premise entails the "
                 "hypothesis. Choose one of the following labels: entailment, not_entailment. "
                 "Premise:{text_a}, Hypothesis:{text_b}")

RTE = Task(TaskSpec(
    name="rte", kind="classification", folder="rte", fields=("text_a", "text_b"),
    rllr_template=_RTE_TEMPLATE, judgement_system=_RTE_SYSTEM,
    judgement_user="Premise: {text_a}\nHypothesis: {text_b}",
    labels=NLI2, label_map={"0": "entailment", "1": "not_entailment"},
    keywords={"not_entailment": ("no entailment", "not entailed")},
    metrics=("accuracy",), group="glue", hub=("glue", "rte"),
    hub_fields={"sentence1": "text_a", "sentence2": "text_b"},
    description="2-way textual entailment (news / Wikipedia)",
))

WNLI = Task(TaskSpec(
    name="wnli", kind="classification", folder="wnli", fields=("text_a", "text_b"),
    rllr_template="Given a sentence and a rewrite of it in which a pronoun is replaced, predict "
                  "whether the sentence entails the rewrite. Choose one of the following labels: "
                  "entailment, not_entailment. Sentence:{text_a}, Rewrite:{text_b}",
    judgement_system=judgement_system(
        "pronoun resolution as entailment",
        "The task (WNLI, from the Winograd Schema Challenge) gives a sentence with an ambiguous "
        "pronoun and a second sentence where the pronoun is replaced by a candidate referent. "
        "Answer 'entailment' if the second sentence follows from the first, else "
        "'not_entailment'.",
        one_of(NLI2)),
    judgement_user="Sentence 1: {text_a}\nSentence 2: {text_b}",
    labels=NLI2, label_map={"0": "not_entailment", "1": "entailment"},  # GLUE WNLI: 1 = entailment
    keywords={"not_entailment": ("no entailment", "not entailed")},
    metrics=("accuracy",), group="glue", hub=("glue", "wnli"),
    hub_fields={"sentence1": "text_a", "sentence2": "text_b"},
    description="Winograd NLI (excluded from the GLUE average)",
))
