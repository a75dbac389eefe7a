"""SFT dataset: loss masking, left truncation (counted), rationale files, mixtures, collator."""

import json

import pytest

from rllr.data.sft import (
    IGNORE_INDEX,
    SFTStats,
    build_sft_rows,
    collate_sft,
    encode_sft,
    epoch_order,
    load_rationales,
    mix,
)
from rllr.errors import DataError
from rllr.models.chat import end_of_turn, render_prompt
from rllr.tasks.registry import get_task
from tests.train.toy import write_toy_data


@pytest.fixture
def toy(tmp_path):
    data_dir = write_toy_data(tmp_path / "data")
    task = get_task("sst2")
    return task, task.load("sft", data_dir), data_dir


def test_labels_masked_on_prompt(toy, tiny_tokenizer):
    task, examples, _ = toy
    rows = build_sft_rows(task, examples[:2], tiny_tokenizer, answer="label", max_length=1024)
    ex, row = examples[0], rows[0]
    prompt = render_prompt(tiny_tokenizer, task.prompt(ex, "rllr"))
    n_prompt = len(tiny_tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert row["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    answer = [t for t in row["labels"] if t != IGNORE_INDEX]
    assert tiny_tokenizer.decode(answer) == f"The answer is: {ex.label}" + end_of_turn(tiny_tokenizer)
    assert row["input_ids"][n_prompt:] == answer


def test_judgement_target(toy, tiny_tokenizer):
    task, examples, _ = toy
    row = build_sft_rows(task, examples[:1], tiny_tokenizer, answer="judgement", max_length=2048)[0]
    assert tiny_tokenizer.decode(row["input_ids"]).endswith(
        f"<Judgement>{examples[0].label}</Judgement><|im_end|>")


def test_left_truncation_is_counted(toy, tiny_tokenizer):
    task, examples, _ = toy
    stats = SFTStats()
    rows = build_sft_rows(task, examples[:3], tiny_tokenizer, answer="label", max_length=64, stats=stats)
    assert stats.truncated_prompts == 3 and all(len(r["input_ids"]) == 64 for r in rows)
    # the end of the prompt (assistant header) survives, the start is gone
    assert tiny_tokenizer.decode(rows[0]["input_ids"]).split("The answer")[0].endswith("assistant\n")
    ids, labels, cut = encode_sft(tiny_tokenizer, "short", "ans", 64)
    assert not cut and len(ids) == 8 and labels == [IGNORE_INDEX] * 5 + ids[5:]  # "short" + "ans"


def test_rationale_file_uid_and_index(toy, tiny_tokenizer, tmp_path):
    task, examples, _ = toy
    path = tmp_path / "rat.jsonl"
    path.write_text(json.dumps({"uid": examples[0].uid.replace("/sft/", "/train/"), "rationale": "R0"}) + "\n"
                    + json.dumps({"task": "sst2", "index": 1, "rationale": "R1"}) + "\n")
    rats = load_rationales(path)
    rows = build_sft_rows(task, examples[:2], tiny_tokenizer, answer="rationale", max_length=2048,
                          rationales=rats, rationale_file=path)
    text = tiny_tokenizer.decode([t for t in rows[1]["labels"] if t != IGNORE_INDEX])
    assert text.startswith("R1\n\nThe answer is: ")


def test_missing_rationale_errors_or_counts(toy, tiny_tokenizer, tmp_path):
    task, examples, _ = toy
    path = tmp_path / "rat.jsonl"
    path.write_text(json.dumps({"task": "sst2", "index": 0, "rationale": "R0"}) + "\n")
    rats = load_rationales(path)
    with pytest.raises(DataError, match=r"rat\.jsonl: no rationale for uid 'sst2/sft/2'"):
        build_sft_rows(task, examples[:2], tiny_tokenizer, answer="rationale", max_length=2048,
                       rationales=rats, rationale_file=path)
    stats = SFTStats()
    rows = build_sft_rows(task, examples[:2], tiny_tokenizer, answer="rationale", max_length=2048,
                          rationales=rats, skip_missing_rationales=True, stats=stats)
    assert len(rows) == 1 and stats.skipped_missing_rationales == 1


def test_bad_rationale_rows(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"rationale": "x"}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: field 'uid'"):
        load_rationales(path)
    path.write_text(json.dumps({"uid": "a", "rationale": " "}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: field 'rationale'"):
        load_rationales(path)


def test_teacher_rationale_file_reads_directly(tmp_path):
    # the rows `rllr data rationales` writes: the gold-label rationale is `rationale_gold`
    path = tmp_path / "rationales.jsonl"
    row = {"uid": "sst2/sft/3", "task": "sst2", "label": "positive", "wrong_label": "negative",
           "rationale_gold": "Warm praise throughout.", "rationale_wrong": "It drags."}
    path.write_text(json.dumps(row) + "\n")
    assert load_rationales(path) == {"sst2/sft/3": "Warm praise throughout."}


def test_mixture_weights_and_order_are_seeded():
    per_task = {"a": [{"t": "a", "i": i} for i in range(10)], "b": [{"t": "b", "i": i} for i in range(2)]}
    rows = mix(per_task, (1.0, 1.0), total=10, seed=3)
    assert sum(r["t"] == "a" for r in rows) == 5 and sum(r["t"] == "b" for r in rows) == 5
    assert rows == mix(per_task, (1.0, 1.0), total=10, seed=3)
    assert len(mix(per_task)) == 12
    order = epoch_order(5, 2, seed=1)
    assert sorted(order[:5]) == list(range(5)) and sorted(order[5:]) == list(range(5))
    assert order == epoch_order(5, 2, seed=1) and order != epoch_order(5, 2, seed=2)


def test_collator_right_pads():
    batch = collate_sft([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
                         {"input_ids": [5], "labels": [5]}], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [5, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
