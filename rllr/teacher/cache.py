"""Crash-safe on-disk cache of teacher answers: one append-only JSONL file.

    cache = ResponseCache("runs/teacher-cache")       # folder; file: cache.jsonl
    key = request_key(model, messages, temperature=0.0, top_p=1.0, max_tokens=256, n=1, seed=0)
    cache.get(key) -> dict | None;  cache.put(key, {"texts": [...], ...})

The key is the sha256 of the canonical JSON of (model, messages, sampling params), so a
rerun of the same job costs no requests and a crashed job resumes where it stopped. Each
`put` appends one fsynced line under a lock. A line cut short by a kill is cut off when
the cache is opened next (the file is truncated to its last newline), so later appends
never glue onto a torn line. Only successful answers are cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CACHE_FILE = "cache.jsonl"


def request_key(model: str, messages: Sequence[Mapping[str, str]], **params: Any) -> str:
    """sha256 hex of the canonical JSON of the model, the messages and the sampling params."""
    blob = json.dumps(
        {"model": model, "messages": [dict(m) for m in messages], "params": params},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """Append-only JSONL cache: `{"key": ..., "value": {...}}` per line; last write wins."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / CACHE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # torn tail from a killed writer: drop it on disk too
            with open(self.path, "r+b") as f:
                f.truncate(end)
        for line in data[:end].decode("utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
                self._entries[row["key"]] = row["value"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a damaged line is a cache miss, never an error

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        line = json.dumps({"key": key, "value": dict(value)}, ensure_ascii=False) + "\n"
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self._entries[key] = dict(value)
