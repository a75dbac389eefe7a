"""`--data-dir hub`: records from `datasets.load_dataset`, renamed and cut like local folders.

No network: `load_dataset` is replaced by a function returning real in-memory `datasets`
objects shaped like the hub's GLUE SST-2 and MNLI.
"""

import datasets
import pytest

from rllr.errors import DataError
from rllr.tasks.registry import get_task


def _fake_hub(monkeypatch, rows, names):
    features = datasets.Features({
        **{k: datasets.Value("string") for k in rows[0] if k != "label"},
        "label": datasets.ClassLabel(names=names),
    })
    calls = []

    def load_dataset(path, *name, split):
        calls.append((path, *name, split))
        if split not in ("train", "validation", "validation_matched"):
            raise ValueError(f"Unknown split {split}")
        return datasets.Dataset.from_list(rows, features=features)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_sst2_from_hub_renames_fields_and_keeps_int_labels(monkeypatch):
    task = get_task("sst2")
    rows = [{"sentence": f"a fine film {i}", "label": i % 2} for i in range(6)]
    calls = _fake_hub(monkeypatch, rows, ["negative", "positive"])
    test = task.load("test", data_dir="hub")
    assert [ex.label for ex in test] == ["negative", "positive"] * 3
    assert test[0].inputs["text"] == "a fine film 0"
    assert calls[0][-1] == "validation"
    # no meta.json on the hub: half the rows (<= 5000) are SFT, the rest RL prompts
    assert len(task.load("sft", data_dir="hub")) == 3 and len(task.load("rl", data_dir="hub")) == 3


def test_mnli_class_names_become_labels(monkeypatch):
    task = get_task("mnli")
    rows = [{"premise": "p", "hypothesis": "h", "label": i} for i in range(3)]
    _fake_hub(monkeypatch, rows, ["entailment", "neutral", "contradiction"])
    assert [ex.label for ex in task.load("test", data_dir="hub")] == ["entailment", "neutral", "contradiction"]


def test_unreachable_hub_is_one_line_error(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DataError, match=r"hub:glue/sst2: cannot load \(ConnectionError: offline\)"):
        get_task("sst2").load("test", data_dir="hub")
