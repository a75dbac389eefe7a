"""Tests for `rllr.models.load`: name resolution, tiny real models, corrupt weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from rllr.errors import ConfigError, ModelError
from rllr.models.fetch import model_dir
from rllr.models.load import (
    check_safetensors,
    load_causal_lm,
    load_encoder,
    load_tokenizer,
    resolve_model_path,
)

FAKE = "fake-tiny"  # registered by the `fake_model` fixture (conftest.py)


# --- resolve_model_path ---------------------------------------------------------------


def test_registry_name_not_cached_without_fetch(rllr_home: Path) -> None:
    with pytest.raises(ModelError, match="run: rllr models fetch minilm-l6"):
        resolve_model_path("minilm-l6", fetch=False)


def test_registry_name_fetches_on_demand(fake_model) -> None:
    fake_model()
    with pytest.raises(ModelError, match="not in the cache"):
        resolve_model_path(FAKE, fetch=False)
    assert resolve_model_path(FAKE) == str(model_dir(FAKE))
    assert resolve_model_path(FAKE, fetch=False) == str(model_dir(FAKE))


def test_local_folder_needs_config(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"^{tmp_path}: not a model folder \\(no config.json\\)$"):
        resolve_model_path(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    with pytest.raises(ModelError, match="expected a model folder, got a file"):
        resolve_model_path(str(tmp_path / "config.json"))


def test_missing_local_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model folder"):
        resolve_model_path(str(tmp_path / "nope" / "deeper"))


def test_hub_id_passes_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        resolve_model_path("HuggingFaceTB/SmolLM2-135M-Instruct")
        == "HuggingFaceTB/SmolLM2-135M-Instruct"
    )
    (tmp_path / "runs").mkdir()  # a typo under an existing folder is a path, not a hub id
    with pytest.raises(ModelError, match="no such model folder"):
        resolve_model_path("runs/sft-1")


def test_unknown_name_lists_known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ModelError, match="unknown model 'smollm'.*smollm2-135m-instruct.*minilm-l6"
    ):
        resolve_model_path("smollm")


# --- loading tiny real models ---------------------------------------------------------


def test_load_tiny_causal_lm(tiny_llama_dir: Path) -> None:
    model = load_causal_lm(str(tiny_llama_dir))
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    assert next(model.parameters()).dtype == torch.float32
    logits = model(torch.tensor([[2, 3, 4]])).logits
    assert logits.shape == (1, 3, 9) and torch.isfinite(logits).all()
    half = load_causal_lm(str(tiny_llama_dir), dtype="bfloat16")
    assert next(half.parameters()).dtype == torch.bfloat16


def test_load_tokenizer_pads_left_with_eos(tiny_llama_dir: Path) -> None:
    tokenizer = load_tokenizer(str(tiny_llama_dir))
    assert tokenizer.pad_token == tokenizer.eos_token == "<eos>"
    batch = tokenizer(["the cat", "the cat sat on"], padding=True)
    assert batch["input_ids"][0][:2] == [1, 1]  # left padding with <eos> (id 1)
    assert load_tokenizer(str(tiny_llama_dir), padding_side="right").padding_side == "right"


def test_load_registry_name_end_to_end(fake_model) -> None:
    fake_model()
    model = load_causal_lm(FAKE)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert load_tokenizer(FAKE).eos_token == "<eos>"


def test_load_encoder(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=30,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    BertModel(config).save_pretrained(tmp_path)
    encoder = load_encoder(str(tmp_path))
    out = encoder(input_ids=torch.tensor([[1, 2, 3]])).last_hidden_state
    assert type(encoder).__name__ == "BertModel" and out.shape == (1, 3, 16)


def test_bad_dtype(tiny_llama_dir: Path) -> None:
    with pytest.raises(ConfigError, match="dtype: unknown value 'fp8'"):
        load_causal_lm(str(tiny_llama_dir), dtype="fp8")  # type: ignore[arg-type]


# --- corrupt weights ------------------------------------------------------------------


@pytest.fixture
def broken_copy(tiny_llama_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_llama_dir, folder)
    return folder


def test_truncated_safetensors(broken_copy: Path) -> None:
    weights = broken_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelError, match=f"^{weights}: corrupt safetensors file .*truncated"):
        load_causal_lm(str(broken_copy))


def test_garbled_safetensors_header(broken_copy: Path) -> None:
    weights = broken_copy / "model.safetensors"
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!" + b"\x00" * 64)
    with pytest.raises(ModelError, match=f"^{weights}: corrupt safetensors file"):
        load_causal_lm(str(broken_copy))


def test_tiny_header_only_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\xff" * 5)
    with pytest.raises(ModelError, match="unreadable header"):
        check_safetensors(bad)
