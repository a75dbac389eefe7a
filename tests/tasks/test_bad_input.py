"""Bad data raises one-line `DataError`s naming file, line and field; bad answers parse to None."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rllr.errors import DataError
from rllr.tasks.base import match_label
from rllr.tasks.registry import TASKS, get_task


def _write(folder: Path, rows: list[object], split: str = "test") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _error(task: str, tmp_path: Path, rows: list[object], split: str = "test") -> str:
    t = TASKS[task]
    _write(tmp_path / t.spec.folder, rows, "test" if split == "test" else "train")
    with pytest.raises(DataError) as info:
        t.load(split, tmp_path)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


# --- data files ---------------------------------------------------------------------------


def test_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"sst2/test\.jsonl: data file not found"):
        TASKS["sst2"].load("test", tmp_path)
    with pytest.raises(DataError, match=r"mnli_m_hard/train\.jsonl: data file not found"):
        TASKS["mnli_m"].load("train")  # test-only task


def test_malformed_jsonl_line(tmp_path: Path) -> None:
    msg = _error("sst2", tmp_path, [{"text": "fine", "label": 1}, '{"text": "broken", "label": '])
    assert msg.startswith(f"{tmp_path / 'sst2' / 'test.jsonl'}:2: malformed JSON")


def test_label_outside_label_set(tmp_path: Path) -> None:
    msg = _error("sst2", tmp_path, [{"text": "ok", "label": 1}, {"text": "bad", "label": 7}])
    assert f"{tmp_path / 'sst2' / 'test.jsonl'}:2: field 'label': 7 is not in the label set" in msg
    assert "test.jsonl:1: field 'label': 'maybe'" in _error("mnli", tmp_path, [{"text_a": "a", "text_b": "b", "label": "maybe"}])


def test_empty_and_missing_text(tmp_path: Path) -> None:
    assert "test.jsonl:1: field 'text': empty text" in _error("sst2", tmp_path, [{"text": "  ", "label": 0}])
    assert "test.jsonl:1: field 'text_b': missing" in _error("mrpc", tmp_path, [{"text_a": "a", "label": 0}])
    assert "test.jsonl:1: field 'label': missing" in _error("cola", tmp_path, [{"text": "a"}])
    assert "field 'text': expected text, got int" in _error("cola", tmp_path, [{"text": 5, "label": 0}])


def test_error_line_numbers_count_from_the_file_start_in_the_rl_split(tmp_path: Path) -> None:
    folder = tmp_path / "sst2"
    rows: list[object] = [{"text": "a", "label": 0}] * 3 + [{"text": "", "label": 0}]
    _write(folder, rows, "train")
    (folder / "meta.json").write_text(json.dumps({"sft_rows": 2}))
    with pytest.raises(DataError, match=r"train\.jsonl:4: field 'text': empty text"):
        TASKS["sst2"].load("rl", tmp_path)


def test_regression_labels(tmp_path: Path) -> None:
    assert "test.jsonl:1: field 'label': 7.5 outside [0.0, 5.0]" in _error(
        "stsb", tmp_path, [{"text_a": "a", "text_b": "b", "label": 7.5}])
    assert "field 'label': 'high' is not a number" in _error("stsb", tmp_path, [{"text_a": "a", "text_b": "b", "label": "high"}])


def test_special_task_fields(tmp_path: Path) -> None:
    copa = {"text_a": "p", "text_b": "cause", "choices": ["a"], "label": 0}
    assert "test.jsonl:1: field 'choices': expected a list of 2 strings" in _error("copa", tmp_path, [copa])
    copa = {"text_a": "p", "text_b": "why", "choices": ["a", "b"], "label": 0}
    assert "field 'text_b': 'why' is not 'cause' or 'effect'" in _error("copa", tmp_path, [copa])
    multirc = {"text_a": "p", "text_b": "q", "answer": "a", "label": 0}
    assert "field 'question_idx': missing" in _error("multirc", tmp_path, [multirc])
    squad = {"text_a": "p", "text_b": "q", "answers": [], "label": ""}
    assert "test.jsonl:1: field 'answers'" in _error("squad_v1", tmp_path, [squad])
    record = {"text_a": "p", "text_b": "q @placeholder", "answers": ["X"], "label": "X"}
    assert "field 'entities': missing" in _error("record", tmp_path, [record])


def test_unknown_task() -> None:
    with pytest.raises(DataError, match=r"^unknown task 'x' \(known: "):
        get_task("x")


# --- answer parsing -------------------------------------------------------------------------


def test_unacceptable_is_not_read_as_acceptable() -> None:
    cola = TASKS["cola"]
    assert cola.parse("unacceptable</Judgement>", "judgement") == "unacceptable"
    assert cola.parse("acceptable</Judgement>", "judgement") == "acceptable"
    assert cola.parse("The sentence is not acceptable.</Judgement>", "judgement") == "unacceptable"
    assert cola.parse("The answer is: unacceptable", "rllr") == "unacceptable"
    # both words present as separate answers -> ambiguous
    assert cola.parse("acceptable or unacceptable</Judgement>", "judgement") is None


def test_not_entailment_is_not_read_as_entailment() -> None:
    rte = TASKS["rte"]
    assert rte.parse("not_entailment</Judgement>", "judgement") == "not_entailment"
    assert rte.parse("The answer is: not entailment", "rllr") == "not_entailment"
    assert rte.parse("The answer is: entailment", "rllr") == "entailment"
    assert match_label("Not-Entailment", ("entailment", "not_entailment")) == "not_entailment"


def test_judgement_tag_missing_or_unclosed_is_none() -> None:
    sst2 = TASKS["sst2"]
    assert sst2.parse("positive", "judgement") is None  # never closed
    assert sst2.parse("The review is positive.", "judgement") is None
    assert sst2.parse("<Judgement>positive</Judgement>", "judgement") == "positive"
    assert sst2.parse(" Positive </Judgement> because ...", "judgement") == "positive"
    assert sst2.parse("</Judgement>", "judgement") is None  # empty


def test_rllr_strict_vs_lenient() -> None:
    sst2 = TASKS["sst2"]
    assert sst2.parse("I think it is positive.", "rllr", strict=True) is None
    assert sst2.parse("I think it is positive.", "rllr") == "positive"
    assert sst2.parse("Positive words... The answer is: negative", "rllr", strict=True) == "negative"
    # the last "The answer is:" wins
    assert sst2.parse("The answer is: positive\nThe answer is: negative", "rllr") == "negative"
    assert sst2.parse("The answer is: it depends", "rllr") is None


def test_numbers_out_of_range_are_none() -> None:
    stsb = TASKS["stsb"]
    assert stsb.parse("The answer is: 3.5", "rllr") == 3.5
    assert stsb.parse("4</Judgement>", "judgement") == 4.0
    assert stsb.parse("The answer is: 7.5", "rllr") is None
    assert stsb.parse("The answer is: -1", "rllr") is None
    assert stsb.parse("The answer is: high", "rllr") is None
    app = TASKS["app_reviews"]
    assert app.parse("The answer is: 4", "rllr") == "4"
    assert app.parse("The answer is: 4 stars", "rllr") == "4"
    assert app.parse("The answer is: 6", "rllr") is None


def test_keywords_of_other_tasks() -> None:
    assert TASKS["qqp"].parse("The answer is: not duplicates", "rllr") == "no"
    assert TASKS["qqp"].parse("The answer is: duplicates", "rllr") == "yes"
    assert TASKS["ag_news"].parse("The answer is: world politics", "rllr") == "World politics"
    assert TASKS["ag_news"].parse("The answer is: Sci/Tech", "rllr") == "Science and technology"
    assert TASKS["multirc"].parse("incorrect</Judgement>", "judgement") == "no"
    assert TASKS["copa"].parse("The answer is: Option 2", "rllr") == "2"


def test_qa_answers() -> None:
    squad = TASKS["squad_v1"]
    assert squad.parse("The answer is: \u201cthe Arctic\u201d\nBecause ...", "rllr") == "the Arctic"
    assert squad.parse("Arctic</Judgement>", "judgement") == "Arctic"
    assert squad.parse("no tag", "judgement") is None
    assert squad.parse("   </Judgement>", "judgement") is None
