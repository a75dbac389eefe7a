"""User tasks from YAML: the shipped example round-trips; bad files name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rllr.errors import ConfigError
from rllr.tasks.registry import get_task
from rllr.tasks.user import load_task_file

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "tasks" / "example_sentiment.yaml"


def test_example_task_loads_and_roundtrips() -> None:
    task = get_task(str(EXAMPLE))
    assert task.name == "example_sentiment" and task.labels == ("bad", "good")
    assert task.data_folder(None) == EXAMPLE.parent / "example_sentiment"  # relative to the YAML
    train, test = task.load("train"), task.load("test")
    assert (len(train), len(test)) == (16, 8)
    assert {ex.label for ex in train} == {"bad", "good"}
    for fmt in ("rllr", "judgement"):
        preds = []
        for ex in test:
            prompt = task.prompt(ex, fmt)  # type: ignore[arg-type]
            assert ex.inputs["text"] in prompt.messages[-1]["content"]
            preds.append(task.parse(task.target(ex, fmt), fmt, strict=True))  # type: ignore[arg-type]
        assert preds == [ex.label for ex in test]
        assert task.metrics(preds, test) == {"accuracy": 1.0, "f1": 1.0, "format_error_rate": 0.0}
    assert task.parse("The answer is: positive", "rllr") == "good"  # keyword


def _write(tmp_path: Path, overrides: dict[str, object], drop: tuple[str, ...] = ()) -> Path:
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["folder"] = str(EXAMPLE.parent / "example_sentiment")
    spec.update(overrides)
    for key in drop:
        spec.pop(key)
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _error(tmp_path: Path, overrides: dict[str, object], drop: tuple[str, ...] = ()) -> str:
    path = _write(tmp_path, overrides, drop)
    with pytest.raises(ConfigError) as info:
        load_task_file(path)
    assert str(info.value).startswith(str(path))
    return str(info.value)


def test_unknown_keys_are_named(tmp_path: Path) -> None:
    assert "unknown key 'lables'" in _error(tmp_path, {"lables": ["a"]})
    assert "unknown key 'templates.judgment'" in _error(tmp_path, {"templates": {"rllr": "{text}", "judgment": {}}})
    bad = {"templates": {"rllr": "{text}", "judgement": {"system": "s", "usr": "u"}}}
    assert "unknown key 'templates.judgement.usr'" in _error(tmp_path, bad)


def test_bad_values_are_named(tmp_path: Path) -> None:
    assert "key 'kind': 'ranking' is not one of" in _error(tmp_path, {"kind": "ranking"})
    assert "key 'label_map.1': 'great' is not in labels" in _error(tmp_path, {"label_map": {"1": "great"}})
    assert "key 'templates.rllr': placeholder {review}" in _error(tmp_path, {"templates": {"rllr": "{review}?"}})
    assert "key 'metrics': unknown metric 'bleu'" in _error(tmp_path, {"metrics": ["bleu"]})
    assert "key 'labels': a classification task needs at least 2 labels" in _error(tmp_path, {"labels": ["x"]}, ("label_map", "keywords"))
    assert "key 'fields': missing" in _error(tmp_path, {}, ("fields",))
    assert "key 'keywords.great': not a label" in _error(tmp_path, {"keywords": {"great": ["x"]}})


def test_malformed_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nfields: [text\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:\d+: malformed YAML"):
        load_task_file(path)
    with pytest.raises(ConfigError, match="task file not found"):
        get_task(str(tmp_path / "nope.yaml"))


def test_regression_task_and_default_judgement_prompt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "test.jsonl").write_text('{"a": "x", "b": "y", "label": 7.5}\n')
    path = tmp_path / "reg.yaml"
    path.write_text(yaml.safe_dump({
        "name": "sim", "kind": "regression", "folder": "data", "fields": ["a", "b"],
        "templates": {"rllr": "Rate {a} vs {b} from 0 to 10."}, "value_range": [0, 10],
        "description": "How similar are the two texts?",
    }))
    task = load_task_file(path)
    assert task.metric_names == ("pearson", "spearman") and task.spec.value_range == (0.0, 10.0)
    assert "<Judgement></Judgement>" in task.spec.judgement_system
    [ex] = task.load("test")
    assert ex.label == 7.5 and task.parse(task.target(ex, "judgement"), "judgement") == 7.5
