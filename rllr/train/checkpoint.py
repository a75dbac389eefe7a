"""Crash-safe training checkpoints shared by SFT, reward-model and RL trainers.

Layout: ``<run_dir>/checkpoints/step-<N>/`` holding

    adapters/<name>/          each adapter (+ head) in peft format (AdapterModel.save_adapter)
    optim-<key>.pt            optimizer state dicts
    sched-<key>.pt            scheduler state dicts
    rng.pt                    python / numpy / torch (+ cuda) RNG states
    state.json                {"step": N, ...extra state such as the data position}
    COMPLETE                  written last: a folder without it is a partial save

Everything is written into a hidden temp folder that is renamed into place, then the
``COMPLETE`` marker is written; `latest_checkpoint` ignores folders without it, so a process
killed mid-save (even by SIGKILL) leaves the previous good checkpoint as the latest.
Only the newest `keep` checkpoints are kept.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim import Optimizer

from rllr.io import atomic_write_json, atomic_write_text
from rllr.models.adapters import AdapterModel

COMPLETE = "COMPLETE"


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step-{step}"


def save_checkpoint(run_dir: str | Path, step: int, *, model: AdapterModel, adapters: Sequence[str],
                    optimizers: Mapping[str, Optimizer], schedulers: Mapping[str, Any] = {},
                    state: Mapping[str, Any] = {}, keep: int = 2) -> Path:
    """Write ``run_dir/checkpoints/step-<step>/`` atomically; return its path."""
    final = checkpoint_dir(run_dir, step)
    tmp = final.parent / f".tmp-step-{step}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name in adapters:
        model.save_adapter(name, tmp / "adapters" / name)
    for key, opt in optimizers.items():
        torch.save(opt.state_dict(), tmp / f"optim-{key}.pt")
    for key, sched in schedulers.items():
        torch.save(sched.state_dict(), tmp / f"sched-{key}.pt")
    torch.save(_rng_state(), tmp / "rng.pt")
    atomic_write_json(tmp / "state.json", {"step": step, **dict(state)})
    if final.exists():  # re-saving the same step (e.g. after a resume)
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(final / COMPLETE, "ok\n")
    _prune(Path(run_dir) / "checkpoints", keep)
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint under ``run_dir/checkpoints`` (partial ones ignored)."""
    steps = _complete_steps(Path(run_dir) / "checkpoints")
    return steps[-1][1] if steps else None


def load_checkpoint(path: str | Path, *, model: AdapterModel, adapters: Sequence[str],
                    optimizers: Mapping[str, Optimizer], schedulers: Mapping[str, Any] = {},
                    restore_rng: bool = True) -> dict[str, Any]:
    """Restore adapter weights, optimizer/scheduler states and RNGs in place; return state.json.

    The adapters must already exist on `model` (same names, same LoRA settings): their
    weights are overwritten, so optimizers built over those parameters stay valid.
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from rllr.models.adapters import HEAD_FILE

    path = Path(path)
    if not (path / COMPLETE).is_file():
        raise FileNotFoundError(f"{path}: not a complete checkpoint (no {COMPLETE} marker)")
    for name in adapters:
        folder = path / "adapters" / name
        weights = load_file(str(folder / "adapter_model.safetensors"))
        result = set_peft_model_state_dict(model.peft, weights, adapter_name=name)
        missing = [k for k in getattr(result, "unexpected_keys", []) if ".lora_" in k]
        if missing:
            raise RuntimeError(f"{folder}: unexpected adapter keys {missing[:3]}")
        if name in model.heads and (folder / HEAD_FILE).is_file():
            model.heads[name].load_state_dict(load_file(str(folder / HEAD_FILE)))
    for key, opt in optimizers.items():
        opt.load_state_dict(torch.load(path / f"optim-{key}.pt", weights_only=False))
    for key, sched in schedulers.items():
        sched.load_state_dict(torch.load(path / f"sched-{key}.pt", weights_only=False))
    if restore_rng:
        _set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    return json.loads((path / "state.json").read_text(encoding="utf-8"))


# --- internals -----------------------------------------------------------------------------


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _complete_steps(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        if p.name.startswith("step-") and (p / COMPLETE).is_file():
            try:
                out.append((int(p.name.removeprefix("step-")), p))
            except ValueError:
                continue
    return sorted(out)


def _prune(root: Path, keep: int) -> None:
    for _, p in _complete_steps(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".tmp-step-*"):  # leftovers of killed saves
        if not str(os.getpid()) in p.name:
            shutil.rmtree(p, ignore_errors=True)
