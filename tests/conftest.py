"""Shared fixtures: a tiny random-initialised Llama and a byte-level tokenizer with a chat template.

Plumbing and math tests use these (built from a config, no download); behaviour tests
use the real default model when it is cached (`default_model_path`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tiny_tokenizer():
    """A byte-level BPE tokenizer without merges: one token per byte, plus chat specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
        pad_token="<|endoftext|>", unk_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def make_tiny_lm(vocab_size: int = 300, seed: int = 0, layers: int = 2, hidden: int = 32):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=2048, bos_token_id=1, eos_token_id=2, pad_token_id=0,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture
def tiny_tokenizer():
    return make_tiny_tokenizer()


@pytest.fixture
def tiny_lm(tiny_tokenizer):
    return make_tiny_lm(vocab_size=len(tiny_tokenizer))


@pytest.fixture
def tiny_model_dir(tmp_path, tiny_tokenizer):
    """A tiny model saved as a plain Hugging Face folder (config + safetensors + tokenizer)."""
    model = make_tiny_lm(vocab_size=len(tiny_tokenizer))
    out = tmp_path / "tiny-llama"
    model.save_pretrained(out)
    tiny_tokenizer.save_pretrained(out)
    return out


def cached_default_model() -> Path | None:
    home = Path(os.environ.get("RLLR_HOME", Path.home() / ".cache" / "rllr"))
    path = home / "models" / "smollm2-135m-instruct"
    return path if (path / "config.json").is_file() else None


@pytest.fixture
def default_model_path():
    path = cached_default_model()
    if path is None:
        pytest.skip("default model not cached: run `rllr models fetch smollm2-135m-instruct`")
    return path


def shared_data_dir() -> Path | None:
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return path if path.is_dir() else None
