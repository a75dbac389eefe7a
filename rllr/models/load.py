"""Load tokenizers and models from a registry name, a local folder or a hub id.

    load_causal_lm("smollm2-135m-instruct")        # registry: fetched into the cache on demand
    load_causal_lm("runs/sft-1/merged")             # local HF folder (needs config.json)
    load_causal_lm("HuggingFaceTB/SmolLM2-135M")    # hub id, for users who have the hub

Broken local weights (a truncated or garbled `*.safetensors`) raise `ModelError` naming the
file instead of a safetensors traceback. Nothing heavy is imported until a loader runs.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from rllr.errors import ConfigError, ModelError
from rllr.models.fetch import fetch as fetch_model
from rllr.models.fetch import is_cached, model_dir
from rllr.models.registry import MODELS

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

Dtype = Literal["float32", "bfloat16", "float16", "auto"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_model_path(spec: str, *, fetch: bool = True) -> str:
    """A path or hub id that `from_pretrained` accepts for `spec`.

    Registry names resolve to their cache folder (fetched first when `fetch` is true);
    existing local paths must be folders with a `config.json`; `org/name` strings that are
    not local paths pass through unchanged as hub ids.
    """
    if spec in MODELS:
        if is_cached(spec):
            return str(model_dir(spec))
        if not fetch:
            raise ModelError(
                f"model {spec!r} is not in the cache ({model_dir(spec)}); "
                f"run: rllr models fetch {spec}"
            )
        return str(fetch_model(spec))
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{path}: expected a model folder, got a file")
        if not (path / "config.json").is_file():
            raise ModelError(f"{path}: not a model folder (no config.json)")
        return str(path)
    first = Path(spec).parts[0] if Path(spec).parts else ""
    if _HUB_ID.match(spec) and not Path(first).is_dir():
        return spec
    if os.sep in spec or spec.startswith((".", "~")):
        raise ModelError(f"{path}: no such model folder")
    raise ModelError(
        f"unknown model {spec!r}: not a registry name ({', '.join(MODELS)}), "
        "a local folder or a hub id org/name"
    )


def load_tokenizer(
    spec: str, padding_side: str = "left", *, fetch: bool = True
) -> PreTrainedTokenizerBase:
    """The tokenizer for `spec`, with `pad_token` set to `eos_token` when it has none.

    Left padding is the default because batched generation needs it.
    """
    from transformers import AutoTokenizer

    path = resolve_model_path(spec, fetch=fetch)
    tokenizer = _guarded(path, lambda: AutoTokenizer.from_pretrained(path))
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return cast("PreTrainedTokenizerBase", tokenizer)


def load_causal_lm(
    spec: str, dtype: Dtype = "float32", device: str | None = None, *, fetch: bool = True
) -> PreTrainedModel:
    """An `AutoModelForCausalLM` for `spec` in `dtype`, moved to `device` when given."""
    from transformers import AutoModelForCausalLM

    return _load(AutoModelForCausalLM, spec, dtype, device, fetch)


def load_encoder(
    spec: str, dtype: Dtype = "float32", device: str | None = None, *, fetch: bool = True
) -> PreTrainedModel:
    """An `AutoModel` (e.g. BERT / MiniLM) for `spec` in `dtype`, moved to `device` when given."""
    from transformers import AutoModel

    return _load(AutoModel, spec, dtype, device, fetch)


def check_safetensors(path: str | os.PathLike[str]) -> None:
    """Cheap structural check of one `.safetensors` file: header parses, data fully present.

    Catches truncation and garbled headers without reading the tensors; a full byte check
    against the fetch manifest is `rllr.models.fetch.verify`.
    """
    path = Path(path)
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(f.read(n))
        ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    except (struct.error, ValueError, KeyError, TypeError, IndexError):
        raise ModelError(f"{path}: corrupt safetensors file (unreadable header)") from None
    if 8 + n + max(ends, default=0) != size:
        raise ModelError(
            f"{path}: corrupt safetensors file (expected {8 + n + max(ends, default=0)} bytes, "
            f"found {size}; truncated?)"
        )


# --- internals ------------------------------------------------------------------------


def _torch_dtype(dtype: str) -> Any:
    import torch

    table = {
        "float32": torch.float32,
        "bfloat16": torch.bfloat16,
        "float16": torch.float16,
        "auto": "auto",
    }
    if dtype not in table:
        raise ConfigError(f"dtype: unknown value {dtype!r} (expected {', '.join(table)})")
    return table[dtype]


def _load(auto_cls: Any, spec: str, dtype: str, device: str | None, fetch: bool) -> PreTrainedModel:
    torch_dtype = _torch_dtype(dtype)
    path = resolve_model_path(spec, fetch=fetch)
    if Path(path).is_dir():
        for weights in sorted(Path(path).glob("*.safetensors")):
            check_safetensors(weights)
    model = _guarded(path, lambda: auto_cls.from_pretrained(path, dtype=torch_dtype))
    if device is not None:
        model = model.to(device)
    model.eval()
    return cast("PreTrainedModel", model)


def _guarded(path: str, load: Any) -> Any:
    """Run `load()`, turning file-level failures on a local folder into one-line ModelErrors."""
    from safetensors import SafetensorError

    try:
        return load()
    except SafetensorError as e:
        raise ModelError(f"{path}: corrupt safetensors file ({e})") from None
    except (OSError, ValueError) as e:
        if not Path(path).is_dir():
            raise  # hub ids: keep transformers' own message about the hub
        text = str(e).strip().splitlines()
        raise ModelError(
            f"{path}: cannot load ({type(e).__name__}: {text[0] if text else ''})"
        ) from None


def load_merged(spec: str, adapter: str | None = None, dtype: str = "float32") -> Any:
    """The causal LM `spec`, with the peft adapter folder `adapter` merged into it when given.

    This is how later stages get "the SFT model" (RLLR initialises RMs and the PPO policy
    from it); `rllr export --merge` writes the same model to disk.
    """
    base = load_causal_lm(spec, dtype=dtype)  # type: ignore[arg-type]
    if adapter is None:
        return base
    if not (Path(adapter) / "adapter_config.json").is_file():
        raise ModelError(f"{adapter}: not a peft adapter folder (no adapter_config.json)")
    from peft import PeftModel

    return PeftModel.from_pretrained(base, adapter).merge_and_unload().eval()
