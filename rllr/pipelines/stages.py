"""A small cached stage runner for the `rllr reproduce` pipelines.

A `Stage` is a name, a function `fn(inputs, cfg_section, out_dir) -> outputs`, the names
of the stages it reads (`after`) and the config section it reads. Its cache key is

    sha256(stage name, its resolved config section, the keys of its upstream stages,
           sha256 of every input file it declares)

so changing one section changes that stage's key and its dependents' keys only. Outputs
live in `<run_dir>/stages/<name>-<key[:12]>/`; `DONE.json` (outputs + wall time) is written
atomically last. A rerun skips stages whose `DONE.json` exists ("cached"); a stage whose
folder exists without `DONE.json` was interrupted and is called again with the same folder,
so it may resume from partial files or checkpoints it left there.

Stages run in list order: every name in `after` must come earlier in the list (the list is
the topological order; no DAG library).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from rllr.errors import ConfigError, DataError
from rllr.io import atomic_write_json

log = logging.getLogger(__name__)

StageFn = Callable[[dict[str, dict[str, Any]], dict[str, Any], Path], dict[str, Any]]
DONE = "DONE.json"


@dataclass(frozen=True)
class Stage:
    """One step of a pipeline."""

    name: str
    fn: StageFn
    """`fn(inputs, cfg_section, out_dir)`; `inputs` maps each upstream name to its outputs."""
    after: tuple[str, ...] = ()
    """Upstream stages whose outputs this stage reads (and whose keys enter its key)."""
    section: str | None = None
    """Config section passed to `fn`; defaults to `name`."""
    input_files: tuple[str, ...] = ()
    """Files outside the run whose contents enter the key (e.g. raw data files)."""


class StageResult(NamedTuple):
    name: str
    key: str
    out_dir: Path
    outputs: dict[str, Any]
    wall_s: float
    cached: bool


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stage_key(name: str, section: Mapping[str, Any], upstream_keys: Mapping[str, str],
              file_hashes: Mapping[str, str] | None = None) -> str:
    """The cache key of a stage: sha256 of a canonical JSON of everything that defines it.

    Pure: dict order does not matter (keys are sorted); tuples and lists hash alike.
    """
    payload = {
        "stage": name,
        "config": section,
        "upstream": dict(sorted(upstream_keys.items())),
        "files": dict(sorted((file_hashes or {}).items())),
    }
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stage_dir(run_dir: str | Path, name: str, key: str) -> Path:
    return Path(run_dir) / "stages" / f"{name}-{key[:12]}"


def check_order(stages: Sequence[Stage]) -> None:
    """Every `after` name must be an earlier stage; names must be unique."""
    seen: set[str] = set()
    for st in stages:
        if st.name in seen:
            raise ConfigError(f"pipeline: stage {st.name!r} appears twice")
        for up in st.after:
            if up not in seen:
                raise ConfigError(f"pipeline: stage {st.name!r} needs {up!r}, which is not an "
                                  "earlier enabled stage")
        seen.add(st.name)


def plan(stages: Sequence[Stage], sections: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Name -> cache key for every stage, without running anything."""
    check_order(stages)
    keys: dict[str, str] = {}
    for st in stages:
        section = dict(sections.get(st.section or st.name, {}))
        # content, named by <folder>/<file>: moving a checkout or a data folder keeps the cache
        files = {f"{Path(p).parent.name}/{Path(p).name}": file_digest(p) for p in st.input_files}
        keys[st.name] = stage_key(st.name, _jsonable(section), {u: keys[u] for u in st.after}, files)
    return keys


def run_stages(stages: Sequence[Stage], sections: Mapping[str, Mapping[str, Any]],
               run_dir: str | Path, *, force: Sequence[str] = ()) -> dict[str, StageResult]:
    """Run (or reuse) every stage in order; return name -> `StageResult`.

    `force` names stages to rerun even when cached (their DONE.json is removed first).
    """
    for name in force:
        if name not in {st.name for st in stages}:
            raise ConfigError(f"pipeline: --force names unknown stage {name!r}")
    keys = plan(stages, sections)
    results: dict[str, StageResult] = {}
    for st in stages:
        key = keys[st.name]
        out = stage_dir(run_dir, st.name, key)
        done = out / DONE
        if st.name in force and done.is_file():
            done.unlink()
        if done.is_file():
            record = json.loads(done.read_text(encoding="utf-8"))
            log.info("stage %-14s cached  (%s)", st.name, out.name)
            results[st.name] = StageResult(st.name, key, out, record["outputs"],
                                           float(record.get("wall_s", 0.0)), True)
            continue
        resuming = out.is_dir()
        out.mkdir(parents=True, exist_ok=True)
        section = _jsonable(dict(sections.get(st.section or st.name, {})))
        atomic_write_json(out / "config.json", {"stage": st.name, "key": key,
                                                "upstream": {u: keys[u] for u in st.after},
                                                "config": section})
        log.info("stage %-14s %s (%s)", st.name, "resuming" if resuming else "running", out.name)
        inputs = {u: dict(results[u].outputs) for u in st.after}
        t0 = time.time()
        outputs = st.fn(inputs, section, out)
        wall = time.time() - t0
        if not isinstance(outputs, dict):
            raise DataError(f"stage {st.name!r} returned {type(outputs).__name__}, expected a dict")
        outputs = _jsonable(outputs)
        atomic_write_json(done, {"stage": st.name, "key": key, "outputs": outputs,
                                 "wall_s": wall, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        log.info("stage %-14s done in %.1fs", st.name, wall)
        results[st.name] = StageResult(st.name, key, out, outputs, wall, False)
    return results


def _jsonable(obj: Any) -> Any:
    """Round-trip through JSON so keys hash and compare the same before and after caching."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))
