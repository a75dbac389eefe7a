"""Build the small real data samples shipped in `rllr/samples/` from the full data folders.

    .venv/bin/python scripts/make_samples.py [--src ../shared/data] [--out rllr/samples]

For each task folder of the source: `train.jsonl` = the first N_sft rows of the source train
(its SFT part) followed by the first N_rl rows of its RL part (rows 5000+ when the source has
them, else the rows right after the SFT part); `meta.json` records ``sft_rows`` so that
`Task.load("sft" | "rl")` splits the sample the same way; `test.jsonl` = the first N_test
rows of the source test. Rows are copied unchanged. MultiRC keeps whole questions (a part
is extended to the end of its last question, and the RL part starts at a question
boundary); WikiText-2 keeps the first 2 articles of each split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rllr.io import atomic_write_json, read_jsonl, write_jsonl

SOURCE_RL_START = 5000  # the shared data's SFT / RL cut (RLLR Table 2)
SIZES = {"sst2": (160, 64, 200), "mnli": (160, 64, 200)}  # (N_sft, N_rl, N_test)
SIZES.update({t: (64, 32, 100) for t in ("mr", "ag_news", "app_reviews", "mrpc", "qqp", "stsb")})
DEFAULT_SIZE = (32, 16, 64)
WIKITEXT_ARTICLES = 2
REPO = Path(__file__).resolve().parents[1]


def _take(rows: list[dict[str, Any]], start: int, n: int, whole_groups: bool) -> list[dict[str, Any]]:
    """rows[start:start+n]; with `whole_groups` (MultiRC) start and end on question boundaries."""
    if not whole_groups:
        return rows[start:start + n]

    def qid(i: int) -> Any:
        return rows[i].get("question_idx")

    while 0 < start < len(rows) and qid(start) == qid(start - 1):
        start += 1  # skip the tail of a question cut by the source's SFT/RL boundary
    end = min(start + n, len(rows))
    while start < end < len(rows) and qid(end) == qid(end - 1):
        end += 1
    return rows[start:end]


def sample_task(src: Path, out: Path, name: str) -> dict[str, int]:
    """Write one task's sample; return its row counts."""
    n_sft, n_rl, n_test = SIZES.get(name, DEFAULT_SIZE)
    whole = name == "multirc"
    if name == "wikitext2":
        n_sft, n_rl, n_test = WIKITEXT_ARTICLES, 0, WIKITEXT_ARTICLES
    counts = {"sft": 0, "rl": 0, "test": 0}
    src_meta = json.loads((src / name / "meta.json").read_text(encoding="utf-8"))
    if (src / name / "train.jsonl").is_file():
        train = read_jsonl(src / name / "train.jsonl")
        if len(train) < n_sft + n_rl:  # tiny sources (ReCoRD: 32 rows) keep the SFT:RL ratio
            n_sft = len(train) * n_sft // (n_sft + n_rl)
            n_rl = len(train) - n_sft
        sft = _take(train, 0, n_sft, whole)
        rl_start = SOURCE_RL_START if len(train) > SOURCE_RL_START else len(sft)
        rl = _take(train, rl_start, n_rl, whole)
        write_jsonl(out / name / "train.jsonl", sft + rl)
        counts.update(sft=len(sft), rl=len(rl))
        rl_note = (f"rows {len(sft)}+ = source rows {rl_start}+ (its RL part)"
                   if rl_start == SOURCE_RL_START else f"rows {len(sft)}+ follow the SFT rows in the source")
    else:
        rl_note = "no train split in the source (test only)"
    test = read_jsonl(src / name / "test.jsonl")
    counts["test"] = write_jsonl(out / name / "test.jsonl", _take(test, 0, n_test, whole))
    atomic_write_json(out / name / "meta.json", {
        "sft_rows": counts["sft"],
        "source": {"folder": f"shared/data/{name}", "original": src_meta.get("source")},
        "note": (f"Real rows copied unchanged from shared/data/{name}. train: rows 0-{counts['sft'] - 1} "
                 f"= the first source rows (SFT part); {rl_note}. test: the first {counts['test']} "
                 "source test rows." + (" Whole MultiRC questions only." if whole else "")),
        "label_names": src_meta.get("label_names"),
        "counts": counts,
    })
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "rllr" / "samples")
    args = parser.parse_args(argv)
    names = sorted(p.name for p in args.src.iterdir() if (p / "meta.json").is_file())
    total = 0
    for name in names:
        counts = sample_task(args.src, args.out, name)
        size = sum(f.stat().st_size for f in (args.out / name).iterdir())
        total += size
        print(f"{name:24s} sft={counts['sft']:4d} rl={counts['rl']:4d} test={counts['test']:4d} {size / 1024:7.1f} KB")
    print(f"total {total / 1024 / 1024:.2f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
