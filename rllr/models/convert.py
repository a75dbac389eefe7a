"""Convert a GGUF checkpoint into a plain Hugging Face folder (bf16 safetensors).

transformers' GGUF loader dequantizes the weights and rebuilds the tokenizer (with its
chat template), but a GGUF-loaded model refuses `save_pretrained` ("quantized with gguf
and not serializable"). So we rebuild a clean model from the same config, copy the state
dict in, tie the embeddings again and save that in bf16. The result loads in about a
second with `from_pretrained` and needs neither `gguf` nor `accelerate`.
Recipe: shared/models/README.md, "Convert once to a plain HF folder".
"""

from __future__ import annotations

from pathlib import Path

from rllr.errors import ModelError


def gguf_to_hf(gguf: Path, out: Path) -> None:
    """Write config, bf16 `model.safetensors`, generation config and tokenizer to `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, file = str(gguf.parent), gguf.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32)
    except (OSError, ValueError, ImportError) as e:
        raise ModelError(f"{gguf}: cannot read GGUF ({type(e).__name__}: {_first_line(e)})") from e

    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    missing, unexpected = clean.load_state_dict(loaded.state_dict(), strict=False)
    if missing or unexpected:
        raise ModelError(
            f"{gguf}: converted weights do not match {type(clean).__name__} "
            f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})"
        )
    clean.tie_weights()
    clean.generation_config = loaded.generation_config
    del loaded

    out.mkdir(parents=True, exist_ok=True)
    clean.to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else ""
