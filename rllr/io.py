"""Files: atomic writes, JSONL, run directories with their provenance.

Every write that produces a final artefact goes through a temporary file in the same
directory followed by `os.replace`, so a killed process leaves either the old file or
the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from rllr.errors import DataError


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path` for writing; move it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; final files get the usual mode
    encoding = None if "b" in mode else "utf-8"
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write all rows atomically; return how many were written."""
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            n += 1
    return n


def append_jsonl(path: str | os.PathLike[str], row: Mapping[str, Any]) -> None:
    """Append one line and fsync it (for logs and resumable outputs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | os.PathLike[str], *, tolerate_torn_tail: bool = False) -> list[dict[str, Any]]:
    """Read a JSONL file; a malformed line raises `DataError` naming file and line.

    With `tolerate_torn_tail`, a last line without its newline (a write cut short by a
    kill) is dropped instead: resumable appenders use this.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if tolerate_torn_tail and lineno == len(lines) and not line.endswith("\n"):
                break
            raise DataError(f"{path}:{lineno}: malformed JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


# --- provenance -------------------------------------------------------------------------


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str | None:
    """The current git commit of the rllr source tree (with '+dirty'), or None."""
    where = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], check=False, cwd=where, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            check=False, cwd=where, capture_output=True, text=True, timeout=10,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    """Versions of Python, rllr and the libraries whose behaviour shapes results."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("rllr", "torch", "transformers", "peft", "accelerate", "datasets",
                 "safetensors", "numpy", "scipy", "scikit-learn", "trl"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def prepare_run_dir(out_dir: str | os.PathLike[str], config: Mapping[str, Any] | None = None) -> Path:
    """Create a run directory and write `config.yaml`, `versions.json` and `git.txt` into it."""
    import yaml

    run = Path(out_dir)
    run.mkdir(parents=True, exist_ok=True)
    if config is not None:
        atomic_write_text(run / "config.yaml", yaml.safe_dump(dict(config), sort_keys=False))
    atomic_write_json(run / "versions.json", package_versions())
    atomic_write_text(run / "git.txt", (git_commit() or "unknown") + "\n")
    return run


def default_run_dir(kind: str) -> Path:
    """`runs/<kind>-<timestamp>` under the current directory (or $RLLR_RUNS)."""
    root = Path(os.environ.get("RLLR_RUNS", "runs"))
    return root / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


class MetricsLogger:
    """Metrics to `metrics.jsonl` always; to TensorBoard / W&B when asked (`report_to`)."""

    def __init__(self, run_dir: str | os.PathLike[str], report_to: Iterable[str] = (),
                 enabled: bool = True) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.enabled = enabled
        self._tb = None
        self._wandb = None
        if not enabled:
            return
        for sink in report_to:
            if sink == "tensorboard":
                from torch.utils.tensorboard import SummaryWriter  # optional extra

                self._tb = SummaryWriter(str(Path(run_dir) / "tb"))
            elif sink == "wandb":
                import wandb  # optional extra

                self._wandb = wandb.init(dir=str(run_dir), reinit=True)
            elif sink not in ("none", "jsonl"):
                raise DataError(f"report_to: unknown sink {sink!r} (expected tensorboard, wandb)")

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        append_jsonl(self.path, {"step": step, "time": time.time(), **metrics})
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)
        if self._wandb is not None:
            self._wandb.log(dict(metrics), step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
