"""Batched text generation with a Hugging Face causal LM (evaluation, teacher, RL rollouts).

    texts = generate_texts(model, tokenizer, prompts, max_new_tokens=32)  # greedy; texts[i][0]
    res = generate(model, tokenizer, prompts, do_sample=True, num_return_sequences=8, seed=1)
    res.texts[i][j], res.num_tokens[i][j], res.token_ids[i][j]                     # prompt i, sample j

Prompts are full rendered prompt texts (see `rllr.models.chat.render_prompt`). They are
tokenized once, sorted by length (longest first, so an out-of-memory error shows at the
first batch) and cut into batches, which keeps left padding small; results come back in
the caller's order. Decoding uses `model.generate` (KV cache) and stops at every EOS id of
the tokenizer and of the model's generation config, or at `stop_strings`. Sampling is
seeded inside `torch.random.fork_rng`, so the caller's global RNG state is untouched and
the same (prompts, batch_size, seed) give the same samples.

`token_ids` are the completion tokens up to and including the stop token; `texts` are
those tokens decoded without special tokens. With `stop_strings` the text keeps the stop
string (as transformers does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

__all__ = ["GenerationResult", "eos_token_ids", "generate", "generate_texts"]


class GenerationResult(NamedTuple):
    """Per prompt, one entry per returned sequence (`num_return_sequences`)."""

    texts: list[list[str]]
    num_tokens: list[list[int]]
    """Generated tokens per completion, counting the EOS token when one was produced."""
    token_ids: list[list[list[int]]]
    """Completion token ids, up to and including the first EOS (no padding)."""


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """All ids that end a completion: the tokenizer's EOS and the model's generation-config EOS ids."""
    ids: list[int] = []
    candidates: list[Any] = [getattr(tokenizer, "eos_token_id", None)]
    gen_cfg = getattr(model, "generation_config", None)
    if gen_cfg is not None:
        candidates.append(getattr(gen_cfg, "eos_token_id", None))
    for c in candidates:
        for i in c if isinstance(c, (list, tuple)) else [c]:
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    return ids


def _tokenize(tokenizer: Any, prompts: Sequence[str], add_special_tokens: bool | None) -> list[list[int]]:
    # A chat template already writes every special token the model expects (BOS included);
    # plain-text prompts (base models) get the tokenizer's own BOS.
    if add_special_tokens is None:
        add_special_tokens = not getattr(tokenizer, "chat_template", None)
    enc = tokenizer(list(prompts), add_special_tokens=add_special_tokens)
    return [list(ids) for ids in enc["input_ids"]]


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """input_ids and attention_mask [B, L], padded on the left."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        if r:
            input_ids[b, width - len(r):] = torch.tensor(list(r), dtype=torch.long)
            attention_mask[b, width - len(r):] = 1
    return input_ids, attention_mask


def _cut_at_eos(ids: list[int], eos: set[int], pad_id: int) -> list[int]:
    """Completion ids up to and including the first EOS; trailing padding dropped."""
    for t, tok in enumerate(ids):
        if tok in eos:
            return ids[: t + 1]
    while ids and ids[-1] == pad_id and pad_id not in eos:
        ids = ids[:-1]
    return ids


def _rng_devices(model: Any) -> list[Any]:
    device = getattr(model, "device", torch.device("cpu"))
    return [device] if torch.device(device).type == "cuda" else []


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 64,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    num_return_sequences: int = 1,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
    stop_strings: Sequence[str] | None = None,
    add_special_tokens: bool | None = None,
) -> GenerationResult:
    """Generate completions for `prompts`; greedy unless `do_sample`.

    `batch_size` counts sequences per forward pass, so each batch holds
    `max(1, batch_size // num_return_sequences)` prompts. `top_k=0` disables top-k,
    which makes `do_sample` with `temperature=1, top_p=1` pure ancestral sampling.
    `add_special_tokens=None` adds them only when the tokenizer has no chat template.
    """
    from tqdm.auto import tqdm  # type: ignore[import-untyped]
    from transformers import GenerationConfig

    if num_return_sequences < 1:
        raise ValueError(f"num_return_sequences must be >= 1, got {num_return_sequences}")
    if num_return_sequences > 1 and not do_sample:
        raise ValueError("num_return_sequences > 1 needs do_sample=True (greedy gives identical copies)")
    if do_sample and temperature <= 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
    if not prompts:
        return GenerationResult([], [], [])

    eos = eos_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    # Every field set explicitly: transformers fills unset (None) fields from the model's
    # own generation_config, which may ask for sampling or a top-k.
    gen_cfg = GenerationConfig(  # type: ignore[no-untyped-call]
        max_new_tokens=max_new_tokens, do_sample=do_sample, num_beams=1,
        # greedy: the library defaults, so transformers does not warn about unused flags
        temperature=temperature if do_sample else 1.0, top_p=top_p if do_sample else 1.0,
        top_k=top_k if do_sample else 50, num_return_sequences=num_return_sequences,
        eos_token_id=eos, pad_token_id=pad_id, use_cache=True,
        stop_strings=list(stop_strings) if stop_strings else None,
    )
    extra = {"tokenizer": tokenizer} if stop_strings else {}

    encoded = _tokenize(tokenizer, prompts, add_special_tokens)
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))  # longest first
    per_batch = max(1, batch_size // num_return_sequences)
    batches = [order[s: s + per_batch] for s in range(0, len(order), per_batch)]
    device = getattr(model, "device", torch.device("cpu"))

    outputs: list[list[list[int]]] = [[] for _ in prompts]
    bar = tqdm(total=len(prompts), desc="generate", unit="prompt", disable=not progress, leave=False)
    with torch.random.fork_rng(devices=_rng_devices(model)), torch.inference_mode():
        torch.manual_seed(seed)
        for batch in batches:
            input_ids, attention_mask = _left_pad([encoded[i] for i in batch], pad_id)
            out = model.generate(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                generation_config=gen_cfg, **extra,
            )
            # [B * num_return_sequences, L + new]: rows of one prompt are consecutive
            completions = out[:, input_ids.shape[1]:].tolist()
            for b, i in enumerate(batch):
                rows = completions[b * num_return_sequences: (b + 1) * num_return_sequences]
                outputs[i] = [_cut_at_eos(r, set(eos), pad_id) for r in rows]
            bar.update(len(batch))
    bar.close()

    texts = [[tokenizer.decode(ids, skip_special_tokens=True) for ids in per] for per in outputs]
    num_tokens = [[len(ids) for ids in per] for per in outputs]
    return GenerationResult(texts, num_tokens, outputs)


def generate_texts(model: Any, tokenizer: Any, prompts: Sequence[str], **kwargs: Any) -> list[list[str]]:
    """Only the completion texts of `generate`: one list per prompt, `num_return_sequences` long."""
    return generate(model, tokenizer, prompts, **kwargs).texts
