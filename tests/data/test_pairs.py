"""Preference pairs: validation errors name file:line:field, skips and truncations are counted."""

import json

import pytest

from rllr.data.pairs import PairStats, collate_pairs, encode_pairs, read_pairs
from rllr.errors import DataError


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


GOOD = {"prompt": "Is it good?", "chosen": "The answer is: positive", "rejected": "The answer is: negative",
        "task": "sst2", "kind": "label"}


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="empty file"):
        read_pairs(_write(tmp_path / "p.jsonl", []))


@pytest.mark.parametrize("field", ["prompt", "chosen", "rejected"])
def test_missing_field_names_file_line_field(tmp_path, field):
    bad = {k: v for k, v in GOOD.items() if k != field}
    with pytest.raises(DataError, match=rf"p\.jsonl:2: field '{field}': missing"):
        read_pairs(_write(tmp_path / "p.jsonl", [GOOD, bad]))


def test_bad_margin_and_kind(tmp_path):
    with pytest.raises(DataError, match=r":1: field 'margin'"):
        read_pairs(_write(tmp_path / "p.jsonl", [{**GOOD, "margin": "big"}]))
    with pytest.raises(DataError, match=r":1: field 'kind'"):
        read_pairs(_write(tmp_path / "p.jsonl", [{**GOOD, "kind": "style"}]))


def test_identical_and_other_kind_are_skipped_and_counted(tmp_path):
    rows = [GOOD, {**GOOD, "rejected": GOOD["chosen"]}, {**GOOD, "kind": "rationale"}]
    stats = PairStats()
    pairs = read_pairs(_write(tmp_path / "p.jsonl", rows), kind="label", stats=stats)
    assert len(pairs) == 1 and stats.skipped_identical == 1 and stats.skipped_kind == 1
    with pytest.raises(DataError, match="no usable pairs"):
        read_pairs(_write(tmp_path / "q.jsonl", rows[1:2]))


def test_left_truncation_counted_and_keeps_the_answer(tmp_path, tiny_tokenizer):
    long = {**GOOD, "prompt": "blah " * 100}
    stats = PairStats()
    pairs = read_pairs(_write(tmp_path / "p.jsonl", [GOOD, long]))
    rows = encode_pairs(tiny_tokenizer, pairs, max_length=80, stats=stats)
    assert stats.truncated == 1 and len(rows[1]["chosen_ids"]) == 80
    assert tiny_tokenizer.decode(rows[1]["chosen_ids"]).endswith("The answer is: positive<|im_end|>")
    batch = collate_pairs(rows, pad_id=0)
    assert batch["input_ids"].shape[0] == 4 and batch["margin"].tolist() == [0.0, 0.0]
