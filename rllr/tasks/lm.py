"""WikiText-2: language-modeling perplexity (second paper, section 5.6, Table 5).

No prompts, labels or parser: `text(split)` returns the split's articles joined with "\\n"
(the local `test.jsonl` is the whole tokenized test file, one record per article, so the
join reproduces it byte for byte); the evaluator scores it with a sliding window and turns
the summed NLL into perplexity with `rllr.eval.metrics.perplexity`. `train.jsonl` holds the
validation articles (the train file was not obtainable).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rllr.data.records import find_split_file, read_records
from rllr.errors import DataError
from rllr.tasks.base import Example, Format, Label, Prompt, Split, Task, TaskSpec


class LanguageModelingTask(Task):
    """Raw text for perplexity; every prompt/answer method raises `DataError`."""

    def text(self, split: Split = "test", data_dir: str | Path | None = None) -> str:
        """All `text` fields of the split's records, joined with "\\n"."""
        path = find_split_file(self.data_folder(data_dir), "test" if split == "test" else "train")
        return "\n".join(ex.inputs["text"] for ex in self._examples(path, split))

    def _examples(self, path: Path, split: str) -> list[Example]:
        return [self.example(r, f"{path}:{i + 1}", split) for i, r in enumerate(read_records(path))]

    def example(self, record: Mapping[str, Any], where: str, split: str = "train") -> Example:
        text = record.get("text")
        if not isinstance(text, str):  # articles may start with blank lines: only type-check
            raise DataError(f"{where}: field 'text': {'missing' if text is None else 'not text'}")
        return Example(task=self.name, uid=self.uid(where, split), inputs={"text": text}, label="")

    def _no_prompts(self) -> DataError:
        return DataError(f"task '{self.name}' is language modeling: it has no prompts or answers; "
                         "use task.text(split) and rllr.eval.metrics.perplexity")

    def prompt(self, ex: Example, fmt: Format, demos: Sequence[Example] = ()) -> Prompt:
        raise self._no_prompts()

    def target(self, ex: Example, fmt: Format, *, rationale: str | None = None, label: Label = None) -> str:
        raise self._no_prompts()

    def parse(self, completion: str, fmt: Format, *, strict: bool = False) -> Label | None:
        raise self._no_prompts()

    def wrong_label(self, ex: Example, rng: random.Random) -> Label:
        raise self._no_prompts()

    def metrics(self, preds: Sequence[Label | None], examples: Sequence[Example]) -> dict[str, float]:
        raise self._no_prompts()


WIKITEXT2 = LanguageModelingTask(TaskSpec(
    name="wikitext2", kind="language_modeling", folder="wikitext2", fields=("text",),
    rllr_template="", judgement_system="", judgement_user="",
    metrics=("perplexity",), group="lm", hub=("wikitext", "wikitext-2-v1"),
    description="WikiText-2 test perplexity (tokenized wiki.test.tokens)",
))
