"""Encoder baseline for the GLUE pipeline: MiniLM (`minilm-l6`) + a linear head, fine-tuned.

The RL-for-NLU paper compares with BERT-style encoders fine-tuned per task (its Table 1
rows). We fine-tune all-MiniLM-L6-v2 (22.7M parameters, `rllr models fetch minilm-l6`,
loaded with `transformers.AutoModel`) with mean pooling over real tokens (or the CLS
vector) and a linear head, cross-entropy, AdamW, a few epochs on the task's SFT rows, and
report test accuracy with a 95% bootstrap CI. Classification tasks only (regression and
QA tasks are skipped and say so).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderSettings:
    model: str = "minilm-l6"
    """Registry name or local folder of an encoder (AutoModel)."""
    pooling: Literal["mean", "cls"] = "mean"
    epochs: int = 3
    lr: float = 5e-5
    weight_decay: float = 0.01
    batch_size: int = 16
    max_length: int = 128
    train_limit: int | None = None
    test_limit: int | None = None
    seed: int = 0


class EncoderClassifier(nn.Module):
    """`encoder` -> pooled [B, H] -> dropout -> Linear(H, n_labels) logits [B, C]."""

    def __init__(self, encoder: nn.Module, n_labels: int, pooling: str = "mean") -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(encoder.config.hidden_size, n_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(self.dropout(pool(hidden, attention_mask, self.pooling)))


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[B, T, H] -> [B, H]: mean over real tokens (mask True/1) or the first (CLS) token."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def encode_inputs(example: Any, fields: Sequence[str]) -> tuple[str, str | None]:
    """(text, optional second text) of an example, for a sentence or sentence-pair task."""
    texts = [str(example.inputs[f]) for f in fields if f in example.inputs]
    return (texts[0], texts[1] if len(texts) > 1 else None) if texts else ("", None)


def train_and_evaluate(task: Any, encoder: nn.Module, tokenizer: Any, settings: EncoderSettings,
                       data_dir: str | None) -> dict[str, Any]:
    """Fine-tune on the task's SFT rows; return test accuracy with a 95% bootstrap CI."""
    from rllr.eval.bootstrap import bootstrap_ci

    if task.kind not in ("classification", "multiple_choice") or not task.labels:
        return {"skipped": f"{task.name}: {task.kind} task (encoder baseline is classification only)"}
    labels = list(task.labels)
    train = task.load("sft", data_dir, limit=settings.train_limit)
    test = task.load("test", data_dir, limit=settings.test_limit)
    fields = task.spec.fields
    torch.manual_seed(settings.seed)
    clf = EncoderClassifier(encoder, len(labels), settings.pooling)
    opt = torch.optim.AdamW(clf.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)

    def batch(examples: Sequence[Any]) -> dict[str, torch.Tensor]:
        a, b = zip(*(encode_inputs(ex, fields) for ex in examples))
        second = list(b) if all(x is not None for x in b) else None
        return tokenizer(list(a), second, padding=True, truncation=True,
                         max_length=settings.max_length, return_tensors="pt")

    # --- train -----------------------------------------------------------------------------
    t0, step, losses = time.time(), 0, []
    rng = random.Random(settings.seed)
    clf.train()
    for _ in range(settings.epochs):
        order = list(range(len(train)))
        rng.shuffle(order)
        for i in range(0, len(order), settings.batch_size):
            exs = [train[j] for j in order[i:i + settings.batch_size]]
            enc = batch(exs)
            target = torch.tensor([labels.index(ex.label) for ex in exs])
            loss = nn.functional.cross_entropy(clf(enc["input_ids"], enc["attention_mask"]), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
    # --- evaluate --------------------------------------------------------------------------
    clf.eval()
    correct: list[float] = []
    with torch.no_grad():
        for i in range(0, len(test), 64):
            exs = test[i:i + 64]
            enc = batch(exs)
            pred = clf(enc["input_ids"], enc["attention_mask"]).argmax(-1).tolist()
            correct += [float(labels[p] == ex.label) for p, ex in zip(pred, exs)]
    ci = bootstrap_ci(correct, seed=settings.seed) if correct else None
    return {"task": task.name, "n_train": len(train), "n_test": len(test), "steps": step,
            "final_loss": losses[-1] if losses else None, "seconds": round(time.time() - t0, 1),
            "accuracy": None if ci is None else ci._asdict()}


def run(tasks: Sequence[str], settings: EncoderSettings, data_dir: str | None) -> dict[str, Any]:
    """Fresh encoder per task (`load_encoder`), fine-tuned and evaluated."""
    from rllr.models.load import load_encoder, load_tokenizer
    from rllr.tasks import get_task

    out = {}
    for name in tasks:
        encoder = load_encoder(settings.model)
        tokenizer = load_tokenizer(settings.model, padding_side="right")
        out[name] = train_and_evaluate(get_task(name), encoder, tokenizer, settings, data_dir)
        log.info("encoder baseline %s: %s", name, out[name].get("accuracy"))
    return out
