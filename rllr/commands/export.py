"""`rllr export`: write an adapter merged into its base as a plain Hugging Face model folder.

    rllr export --model smollm2-135m-instruct --adapter runs/sft-1/adapter --out runs/sft-1/merged --merge

The merged SFT model is the reference policy that the RM and PPO stages share; the folder
(config, safetensors, tokenizer) loads with `AutoModelForCausalLM.from_pretrained`.
Without --merge the adapter folder is copied as is (peft format).
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="smollm2-135m-instruct", help="base model of the adapter")
    parser.add_argument("--adapter", required=True, help="peft adapter folder (e.g. runs/sft-1/adapter)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--merge", action="store_true", help="merge the LoRA weights into the base")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                        help="dtype of the written weights")


def run(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from rllr.errors import ModelError
    from rllr.io import prepare_run_dir
    from rllr.models.load import load_merged, load_tokenizer

    adapter, out = Path(args.adapter), Path(args.out)
    if not (adapter / "adapter_config.json").is_file():
        raise ModelError(f"{adapter}: not a peft adapter folder (no adapter_config.json)")
    if not args.merge:
        shutil.copytree(adapter, out, dirs_exist_ok=True)
        print(out)
        return 0
    model = load_merged(args.model, str(adapter), dtype=args.dtype)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    load_tokenizer(args.model).save_pretrained(tmp)
    prepare_run_dir(tmp, {"base": args.model, "adapter": str(adapter), "dtype": args.dtype})
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    print(out)
    return 0
