"""The registry, groups, and the RLLR Appendix A templates and label words (checked verbatim)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rllr.commands import tasks as tasks_command
from rllr.errors import DataError
from rllr.tasks import get_task as package_get_task
from rllr.tasks.base import Example
from rllr.tasks.registry import TASKS, get_task, list_tasks, resolve_tasks, task_groups

EXPECTED = ["sst2", "mnli", "mnli_m", "mnli_mm", "qqp", "mrpc", "stsb", "cola", "qnli", "rte", "wnli",
            "boolq", "cb", "copa", "superglue_rte", "wic", "wsc", "multirc", "record", "mr", "ag_news",
            "app_reviews", "financial_phrasebank", "fin_news_sentiment", "mental_health", "emotion",
            "sick", "amazon_5star", "squad_v1", "wikitext2"]
EXAMPLE_YAML = Path(__file__).resolve().parents[2] / "configs" / "tasks" / "example_sentiment.yaml"


def test_every_expected_task_is_registered_under_its_name() -> None:
    assert sorted(list_tasks()) == sorted(EXPECTED)
    for name, task in TASKS.items():
        assert task.name == name and get_task(name) is task and package_get_task(name) is task


def test_groups() -> None:
    groups = task_groups()
    assert groups["rllr"] == ["mr", "ag_news", "app_reviews", "mrpc", "qqp", "mnli", "sst2", "stsb"]
    assert set(groups["superglue"]) == {"boolq", "cb", "copa", "superglue_rte", "wic", "wsc", "multirc", "record"}
    assert {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli_m", "mnli_mm", "qnli", "rte", "wnli"} <= set(groups["glue"])
    assert groups["all"] == list_tasks()
    for names in groups.values():
        assert set(names) <= set(TASKS)


def test_resolve_tasks_names_groups_and_files() -> None:
    assert [t.name for t in resolve_tasks("sst2,mnli")] == ["sst2", "mnli"]
    assert [t.name for t in resolve_tasks(" sst2 , rllr ,")][:2] == ["sst2", "mr"]
    assert len(resolve_tasks("sst2,rllr")) == 8  # de-duplicated
    assert [t.name for t in resolve_tasks(f"sst2,{EXAMPLE_YAML}")] == ["sst2", "example_sentiment"]
    with pytest.raises(DataError, match="no tasks"):
        resolve_tasks(" , ")


def test_unknown_task_names_the_task_and_the_known_ones() -> None:
    with pytest.raises(DataError, match=r"unknown task 'sst3' \(known: cola, sst2, .*wikitext2"):
        get_task("sst3")
    with pytest.raises(DataError, match="unknown task 'nope'"):
        resolve_tasks("sst2,nope")


def _user_turn(name: str, **inputs: str) -> str:
    ex = Example(task=name, uid="x", inputs=inputs, label=TASKS[name].labels[0] if TASKS[name].labels else 1.0)
    return TASKS[name].prompt(ex, "rllr").messages[-1]["content"]


def test_rllr_templates_are_appendix_a_verbatim() -> None:
    assert _user_turn("mr", text="T") == "T What sentiment does the writer express for the movie?"
    assert _user_turn("ag_news", text="T") == "What label best describes this news article?\nT"
    assert _user_turn("mnli", text_a="P", text_b="H") == (
        "Given a premise and a hypothesis, predict the relationship between them. Choose one of the "
        "following labels: entailment, contradiction, or neutral. Premise:P, Hypothesis:H")
    assert _user_turn("qqp", text_a="A", text_b="B") == "I received the questions \u201cA\u201d and \u201cB\u201d. Are they duplicates?"
    assert _user_turn("sst2", text="T") == "Movie review: T What sentiment dose the movie review express?"
    assert _user_turn("stsb", text_a="A", text_b="B") == (
        "Analyze the semantic similarity between two sentences and predict a similarity score from "
        "0 to 5. Sentence 1: A, Sentence 2: B")
    assert _user_turn("mrpc", text_a="A", text_b="B") == (
        "Does the sentence\nA\nparaphrase (that is, mean the same thing as) this sentence?\nB")
    assert _user_turn("app_reviews", text="T") == (
        "On a scale of 1-5 (with 1 being least favorable and 5 being most favorable), how would you "
        "rate this review? \u201cT\u201d")


def test_rllr_label_words() -> None:
    assert TASKS["mr"].labels == TASKS["sst2"].labels == ("negative", "positive")
    assert TASKS["ag_news"].labels == ("World politics", "Sports", "Business", "Science and technology")
    assert TASKS["mnli"].labels == ("entailment", "contradiction", "neutral")
    assert TASKS["qqp"].labels == TASKS["mrpc"].labels == ("no", "yes")
    assert TASKS["app_reviews"].labels == ("1", "2", "3", "4", "5")
    assert TASKS["stsb"].kind == "regression" and TASKS["stsb"].spec.value_range == (0.0, 5.0)
    assert TASKS["stsb"].primary_metric == "pearson"  # RLLR 4.1: Pearson for STS-B, accuracy else
    for name in ("mr", "ag_news", "app_reviews", "mrpc", "qqp", "mnli", "sst2"):
        assert TASKS[name].primary_metric == "accuracy"


def test_raw_labels_map_to_label_words() -> None:
    assert TASKS["sst2"].canonical_label(0) == "negative"
    assert TASKS["ag_news"].canonical_label(3) == "Science and technology"
    assert TASKS["sick"].canonical_label("ENTAILMENT") == "entailment"
    assert TASKS["boolq"].canonical_label(True) == "yes" and TASKS["wic"].canonical_label(False) == "no"
    assert TASKS["copa"].canonical_label(0) == "1" and TASKS["copa"].canonical_label(1) == "2"
    assert TASKS["fin_news_sentiment"].canonical_label(0) == "bearish"
    assert TASKS["mental_health"].canonical_label(1) == "yes"
    assert TASKS["wnli"].canonical_label(1) == "entailment"
    assert TASKS["app_reviews"].canonical_label(5) == "5"
    assert TASKS["stsb"].canonical_label(3.8) == 3.8


def test_label_maps_and_keywords_point_at_labels() -> None:
    for name, task in TASKS.items():
        assert set(task.spec.label_map.values()) <= set(task.labels), name
        assert set(task.spec.keywords) <= set(task.labels), name
        assert task.spec.metrics and task.spec.folder, name


def test_judgement_prompts_name_the_task_answers_and_rule() -> None:
    for name, task in TASKS.items():
        if task.kind == "language_modeling":
            continue
        system = task.spec.judgement_system
        assert system.startswith("You are an assistant to analyze"), name
        assert "<Judgement></Judgement>" in system, name
        for label in task.labels:
            assert f"'{label}'" in system, (name, label)
    assert "'acceptable' or 'unacceptable'" in TASKS["cola"].spec.judgement_system
    assert "float number from 0.0 to 5.0" in TASKS["stsb"].spec.judgement_system


def test_tasks_command_prints_a_row_per_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert tasks_command.run(argparse.Namespace(tasks="all", data_dir=None)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["NAME", "GROUPS", "KIND", "LABELS", "METRICS"]
    rows = {line.split()[0]: line.split() for line in out[1:] if line.strip() and not line.startswith("data:")}
    assert set(rows) == set(TASKS)
    assert rows["sst2"][-3:] == ["160", "64", "200"]
    assert rows["squad_v1"][-3:] == ["-", "-", "64"]
