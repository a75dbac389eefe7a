"""Toy task data for the training tests: a tiny SST-2-shaped folder (real task spec, fake rows)."""

from __future__ import annotations

import json
from pathlib import Path

POS = ["a great film", "wonderful and warm", "i loved it", "a joy to watch", "brilliant acting"]
NEG = ["a dull mess", "boring and long", "i hated it", "a waste of time", "awful acting"]


def write_toy_data(root: Path, n_train: int = 32, n_test: int = 8, sft_rows: int = 24) -> Path:
    """`root/sst2/{train,test}.jsonl` + meta.json; returns `root` (use as data_dir)."""
    folder = root / "sst2"
    folder.mkdir(parents=True, exist_ok=True)

    def rows(n: int, offset: int) -> list[dict]:
        out = []
        for i in range(n):
            label = (i + offset) % 2
            words = (POS if label else NEG)[(i + offset) % 5]
            out.append({"text": f"{words} #{i + offset}", "label": label})
        return out

    for name, data in (("train", rows(n_train, 0)), ("test", rows(n_test, 1000))):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    (folder / "meta.json").write_text(json.dumps({"sft_rows": sft_rows}))
    return root
