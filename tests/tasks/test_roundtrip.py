"""Every registered task, both answer formats: load -> prompt -> gold target -> parse -> metrics.

Runs on the bundled samples always, and on the full data in ../shared/data when it exists
(every row of it is validated; the round trip uses its first rows).
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path

import pytest

from rllr.data.records import bundled_data_dir, find_split_file
from rllr.errors import DataError
from rllr.tasks.base import JUDGEMENT_CLOSE, JUDGEMENT_OPEN, Example, Task
from rllr.tasks.registry import TASKS

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SOURCES = ["samples", pytest.param("shared", marks=pytest.mark.skipif(not SHARED.is_dir(), reason="no shared data"))]
PROMPT_TASKS = [n for n, t in TASKS.items() if t.kind != "language_modeling"]
N_ROUNDTRIP = 24

# (sft, rl, test) rows of the bundled samples, as the brief asks for
SAMPLE_SIZES = {"sst2": (160, 64, 200), "mnli": (160, 64, 200), "mr": (64, 32, 100),
                "ag_news": (64, 32, 100), "app_reviews": (64, 32, 100), "mrpc": (64, 32, 100),
                "qqp": (64, 32, 100), "stsb": (64, 32, 100)}


def _data_dir(source: str) -> Path | None:
    return None if source == "samples" else SHARED


def _has_train(task: Task, data_dir: Path | None) -> bool:
    try:
        find_split_file(task.data_folder(data_dir), "train")
        return True
    except DataError:
        return False


@functools.cache
def _examples(name: str, source: str) -> dict[str, list[Example]]:
    """All splits of a task (validating every row), cached across the parametrized tests."""
    task, data_dir = TASKS[name], _data_dir(source)
    splits = ("sft", "rl", "test") if _has_train(task, data_dir) else ("test",)
    return {s: task.load(s, data_dir) for s in splits}


def _same(task: Task, pred: object, ex: Example) -> bool:
    if task.kind == "regression":
        return pred is not None and abs(float(pred) - float(ex.label)) <= 0.05 + 1e-9  # target has 1 decimal
    return task.is_correct(pred, ex)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", PROMPT_TASKS)
def test_every_row_loads(name: str, source: str) -> None:
    splits = _examples(name, source)
    assert len(splits["test"]) > 0
    for exs in splits.values():
        assert all(ex.task == name for ex in exs)
        assert len({ex.uid for ex in exs}) == len(exs)


@pytest.mark.parametrize("fmt", ["rllr", "judgement"])
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", PROMPT_TASKS)
def test_roundtrip(name: str, source: str, fmt: str) -> None:
    task = TASKS[name]
    for split, exs in _examples(name, source).items():
        exs = exs[:N_ROUNDTRIP]
        for ex in exs:
            prompt = task.prompt(ex, fmt)  # type: ignore[arg-type]
            user = prompt.messages[-1]
            assert user["role"] == "user" and user["content"].strip()
            assert "{" + "text" not in user["content"]  # every placeholder was filled
            if fmt == "judgement":
                assert prompt.messages[0]["role"] == "system"
                assert "<Judgement></Judgement>" in prompt.messages[0]["content"]
                assert prompt.response_prefix == JUDGEMENT_OPEN
            else:
                assert prompt.response_prefix == "" and prompt.messages[0]["role"] == "user"
            gold = task.target(ex, fmt)  # type: ignore[arg-type]
            assert _same(task, task.parse(gold, fmt, strict=True), ex), (split, gold)  # type: ignore[arg-type]
            with_rationale = task.target(ex, fmt, rationale="Let me think about it.")  # type: ignore[arg-type]
            assert _same(task, task.parse(with_rationale, fmt, strict=True), ex), with_rationale  # type: ignore[arg-type]
        if not exs:
            continue
        golds = [task.parse(task.target(ex, fmt), fmt) for ex in exs]  # type: ignore[arg-type]
        scores = task.metrics(golds, exs)
        assert set(task.metric_names) <= set(scores) and scores["format_error_rate"] == 0.0
        if len({str(ex.label) for ex in exs}) > 1 or task.kind != "regression":
            assert scores[task.primary_metric] == pytest.approx(1.0, abs=1e-3), (split, scores)


@pytest.mark.parametrize("name", PROMPT_TASKS)
def test_wrong_label_and_demos(name: str) -> None:
    task = TASKS[name]
    exs = _examples(name, "samples")["test"][:6]
    rng = random.Random(0)
    for ex in exs:
        wrong = task.wrong_label(ex, rng)
        assert not _same(task, task.parse(task.target(ex, "rllr", label=wrong), "rllr"), ex)
    prompt = task.prompt(exs[0], "judgement", demos=exs[1:3])
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert prompt.messages[2]["content"].startswith(JUDGEMENT_OPEN)
    assert prompt.messages[2]["content"].endswith(JUDGEMENT_CLOSE)


def test_all_wrong_predictions_score_zero() -> None:
    task = TASKS["sst2"]
    exs = _examples("sst2", "samples")["test"][:50]
    preds = [task.wrong_label(ex, random.Random(i)) for i, ex in enumerate(exs)]
    assert task.metrics(preds, exs)["accuracy"] == 0.0
    assert task.metrics([None] * len(exs), exs) == {"accuracy": 0.0, "format_error_rate": 1.0}


@pytest.mark.parametrize("name", list(TASKS))
def test_bundled_sample_sizes(name: str) -> None:
    folder = TASKS[name].data_folder(None)
    assert folder.parent == bundled_data_dir()
    meta = json.loads((folder / "meta.json").read_text())
    if name == "wikitext2":
        assert meta["counts"] == {"sft": 2, "rl": 0, "test": 2}
        return
    splits = _examples(name, "samples")
    sizes = tuple(len(splits.get(s, [])) for s in ("sft", "rl", "test"))
    assert meta["sft_rows"] == sizes[0] and meta["counts"] == dict(zip(("sft", "rl", "test"), sizes))
    if name in SAMPLE_SIZES:
        assert sizes == SAMPLE_SIZES[name]
    assert sum(sizes) <= 500


def test_bundled_samples_are_small() -> None:
    total = sum(p.stat().st_size for p in bundled_data_dir().rglob("*") if p.is_file())
    assert total < 3 * 1024 * 1024


def test_multirc_sample_keeps_whole_questions() -> None:
    splits = _examples("multirc", "samples")
    for exs in splits.values():
        groups = [ex.group for ex in exs]
        assert None not in groups
        # each question's options are contiguous and no question is cut at the end
        assert len(set(groups)) == len([g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g])
    if SHARED.is_dir():
        full = TASKS["multirc"].load("test", SHARED)
        sample_q = {ex.group for ex in splits["test"]}
        assert sum(ex.group in sample_q for ex in full) == len(splits["test"])


@pytest.mark.parametrize("source", SOURCES)
def test_wikitext_text(source: str) -> None:
    task = TASKS["wikitext2"]
    data_dir = _data_dir(source)
    lines = (task.data_folder(data_dir) / "test.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    text = task.text("test", data_dir)
    assert text == "\n".join(r["text"] for r in rows)
    assert " = Robert <unk> = " in text
    with pytest.raises(DataError, match="language modeling"):
        task.prompt(task.load("test", data_dir, limit=1)[0], "rllr")
