"""Reading raw task records: JSONL (the ../shared/data layout) and CSV/TSV (GLUE layout).

A data folder holds `train.jsonl` and `test.jsonl` (or `train.tsv`/`dev.tsv`/`test.tsv`,
or `.csv`), and optionally `meta.json`. The RLLR split (paper Table 2) is kept by row
position: train rows `[0, cut)` are SFT / reward data, rows `[cut, ...)` are RL prompts.
The cut is the folder's `meta.json` `sft_rows` when set (the bundled samples set it), else
the task's own value (RLLR Table 2: MR 2,000, MRPC 1,000), else 5000 (the ../shared/data
convention), or half the rows when there are no more than 5000, so RL prompts remain.
"""

from __future__ import annotations

import csv
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from rllr.errors import DataError
from rllr.io import read_jsonl

DEFAULT_SFT_ROWS = 5000
SPLIT_FILES = {"train": ("train",), "test": ("test", "dev", "validation")}


def bundled_data_dir() -> Path:
    """The small real samples shipped inside the package (`rllr/samples`)."""
    return Path(str(resources.files("rllr") / "samples"))


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """`None` -> $RLLR_DATA or the bundled samples; otherwise the given folder."""
    if data_dir is None:
        env = os.environ.get("RLLR_DATA")
        return Path(env) if env else bundled_data_dir()
    return Path(data_dir)


def find_split_file(folder: Path, split: str) -> Path:
    """The file holding `split` ('train' or 'test') in `folder`, in any supported format."""
    stems = SPLIT_FILES.get(split, (split,))
    for stem in stems:
        for ext in (".jsonl", ".tsv", ".csv"):
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
    raise DataError(f"{folder}/{stems[0]}.jsonl: data file not found (split {split!r})")


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a .jsonl, .tsv or .csv file as dicts; errors name the file and line."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if path.suffix in (".tsv", ".csv"):
        return _read_delimited(path, "\t" if path.suffix == ".tsv" else ",")
    raise DataError(f"{path}: unsupported data file type (use .jsonl, .tsv or .csv)")


def read_meta(folder: Path) -> dict[str, Any]:
    p = folder / "meta.json"
    if not p.is_file():
        return {}
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{p}:{e.lineno}: malformed JSON ({e.msg})") from None
    return meta if isinstance(meta, dict) else {}


def sft_rows(folder: Path, n_rows: int | None = None, task_default: int | None = None) -> int:
    """Where the SFT part of the train file ends (see the module docstring)."""
    value = read_meta(folder).get("sft_rows")
    if value is not None:
        if not isinstance(value, int) or value < 0:
            raise DataError(f"{folder}/meta.json: field 'sft_rows' must be a non-negative integer")
        return value
    if n_rows is None:
        return task_default if task_default is not None else DEFAULT_SFT_ROWS
    return sft_rows_default(n_rows, task_default)


def sft_rows_default(n_rows: int, task_default: int | None = None) -> int:
    """The cut without a meta.json: the task's value, else 5000, else half the rows."""
    if task_default is not None:
        return task_default
    return DEFAULT_SFT_ROWS if n_rows > DEFAULT_SFT_ROWS else n_rows // 2


def _read_delimited(path: Path, delimiter: str) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", newline="") as f:
        # GLUE TSVs contain bare quotes inside sentences: read them without quoting.
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
        header = next(reader, None)
        if not header:
            raise DataError(f"{path}:1: empty file or missing header row")
        for lineno, values in enumerate(reader, start=2):
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise DataError(
                    f"{path}:{lineno}: expected {len(header)} columns ({', '.join(header)}), got {len(values)}"
                )
            rows.append(dict(zip(header, values)))
    return rows
