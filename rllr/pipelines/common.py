"""Helpers shared by the reproduction pipelines: config sections, data sizes, the loopback
teacher server, evaluation of one adapter, and building a stage's own config dataclass.

Each pipeline YAML has a `run:` block (model, tasks, data dir, seed, output folder) and one
mapping per stage. A stage's *resolved section* is `{"run": <run block>, **defaults,
**yaml section}`; it is what the stage function receives and what its cache key hashes, so
changing the model reruns everything and changing `sft.optim.lr` reruns SFT and its
dependents only.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rllr.config import check, from_dict
from rllr.errors import RllrError, TeacherError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RunSettings:
    """What every stage shares (it enters every stage's cache key)."""

    model: str = "smollm2-135m-instruct"
    """Base model: registry name, local HF folder or hub id."""
    tasks: tuple[str, ...] = ("sst2", "mnli")
    """Registered task names."""
    data_dir: str | None = None
    """Folder with one data folder per task; None = $RLLR_DATA or the bundled samples."""
    seed: int = 0
    """Seed passed to every stage."""
    out: str | None = None
    """Run directory; None = runs/reproduce-<paper>-<config name>."""

    def __post_init__(self) -> None:
        check(len(self.tasks) > 0, "run.tasks: give at least one task")


class StagePending(RllrError):
    """A stage whose implementation (another module of rllr) is not available yet."""


def need(module: str, stage: str) -> Any:
    """Import `module` for `stage`, or raise a one-line `StagePending`."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise StagePending(f"stage {stage!r} needs {module} ({e}); not available yet") from None


def merge(*dicts: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge, later wins; inputs are not mutated."""
    out: dict[str, Any] = {}
    for d in dicts:
        for k, v in d.items():
            if isinstance(v, Mapping) and isinstance(out.get(k), dict):
                out[k] = merge(out[k], v)
            else:
                out[k] = copy.deepcopy(dict(v) if isinstance(v, Mapping) else v)
    return out


def stage_config(cls: type[T], section: Mapping[str, Any], wired: Mapping[str, Any],
                 stage: str) -> T:
    """Build a stage's own config dataclass from its section (minus `run`) plus wired paths."""
    body = {k: v for k, v in section.items() if k != "run"}
    return from_dict(cls, merge(body, wired), source=f"reproduce: {stage}")


def data_files(tasks: Sequence[str], data_dir: str | None) -> tuple[str, ...]:
    """The train/test files of `tasks` (their contents enter the data stage's key)."""
    from rllr.data.records import find_split_file
    from rllr.tasks import get_task

    files: list[str] = []
    for name in tasks:
        folder = get_task(name).data_folder(data_dir)
        for split in ("train", "test"):
            with contextlib.suppress(Exception):
                files.append(str(find_split_file(folder, split)))
    return tuple(files)


def data_sizes(tasks: Sequence[str], data_dir: str | None,
               limits: Mapping[str, int | None]) -> dict[str, dict[str, int]]:
    """Examples per task and split after the configured limits (split -> limit)."""
    from rllr.tasks import get_task

    sizes: dict[str, dict[str, int]] = {}
    for name in tasks:
        task = get_task(name)
        sizes[name] = {}
        for split, limit in limits.items():
            try:
                sizes[name][split] = len(task.load(split, data_dir, limit=limit))  # type: ignore[arg-type]
            except RllrError:
                sizes[name][split] = 0
    return sizes


@contextlib.contextmanager
def teacher_endpoint(url: str | None, model: str, workdir: Path,
                     startup_timeout_s: float = 600.0) -> Iterator[str]:
    """Yield an OpenAI-compatible base URL: `url` when given, else a `rllr teacher serve`
    subprocess on 127.0.0.1 (any free port) that is stopped on exit."""
    if url:
        yield url
        return
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / "teacher-port.txt"
    port_file.unlink(missing_ok=True)
    log_path = workdir / "teacher-serve.log"
    cmd = [sys.executable, "-m", "rllr.cli", "teacher", "serve", "--model", model,
           "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)]
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        deadline = time.time() + startup_timeout_s
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None:
                raise TeacherError(f"rllr teacher serve exited with {proc.returncode}; see {log_path}")
            if time.time() > deadline:
                raise TeacherError(f"rllr teacher serve did not start in {startup_timeout_s:.0f}s; "
                                   f"see {log_path}")
            time.sleep(0.5)
        port = int(port_file.read_text().strip())
        log.info("teacher: serving %s on 127.0.0.1:%d (pid %d)", model, port, proc.pid)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass(frozen=True)
class EvalJob:
    """One model (base + optional adapter) evaluated on tasks into `out_dir`."""

    model: str
    adapters: tuple[str, ...]
    """peft adapter folders merged into the base in order (SFT, then a PPO policy on top)."""
    tasks: tuple[str, ...]
    out_dir: Path
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Extra `EvalConfig` fields (format, shots, samples, limit, max_new_tokens, ...)."""


def evaluate_job(job: EvalJob, data_dir: str | None, seed: int) -> dict[str, dict[str, Any]]:
    """Evaluate with `rllr.eval.evaluate` (metrics.json + predictions/ under out_dir).

    Reuses `out_dir/metrics.json` when it already covers every task (resume after a kill).
    """
    import json

    metrics_path = job.out_dir / "metrics.json"
    if metrics_path.is_file():
        done = json.loads(metrics_path.read_text(encoding="utf-8"))
        if all(t in done for t in job.tasks):
            return {t: done[t] for t in job.tasks}
    evaluate_mod = need("rllr.eval.evaluate", "eval")
    from rllr.commands.eval import load_model
    from rllr.tasks import get_task

    cfg = from_dict(evaluate_mod.EvalConfig, merge(
        {"model": job.model, "adapter": None, "tasks": list(job.tasks),
         "data_dir": data_dir, "seed": seed, "out": str(job.out_dir)}, job.settings),
        source="reproduce: eval")
    model, tokenizer = load_model(cfg)
    model = merge_adapters(model, job.adapters)
    return evaluate_mod.evaluate(
        model, tokenizer, [get_task(t) for t in cfg.tasks], fmt=cfg.format, shots=cfg.shots,
        samples=cfg.samples, limit=cfg.limit, data_dir=cfg.data_dir, seed=cfg.seed,
        max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size,
        temperature=cfg.temperature, top_p=cfg.top_p, n_resamples=cfg.n_resamples,
        ppl_max_length=cfg.ppl_max_length, ppl_stride=cfg.ppl_stride, out_dir=job.out_dir,
        progress=False, print_table=False)


def merge_adapters(model: Any, adapters: Sequence[str]) -> Any:
    """Merge peft LoRA adapters into `model` one after another (PPO with
    reference="sft_merged" trains its policy LoRA on top of the SFT-merged base)."""
    from peft import PeftModel

    for path in adapters:
        if not (Path(path) / "adapter_config.json").is_file():
            raise RllrError(f"{path}: not a peft adapter folder (no adapter_config.json)")
        model = PeftModel.from_pretrained(model, path).merge_and_unload()
    return model.eval()


def primary_cell(result: Mapping[str, Any]) -> dict[str, float] | None:
    """{point, low, high} of a result's primary metric (from `rllr.eval.evaluate`)."""
    metric = result.get("primary_metric", "accuracy")
    ci = (result.get("ci") or {}).get(metric)
    value = (result.get("metrics") or {}).get(metric)
    if ci:
        return {"point": float(ci.get("point", value)), "low": float(ci["low"]),
                "high": float(ci["high"])}
    return None if value is None else {"point": float(value)}


def default_out(paper: str, config_path: str | None) -> Path:
    name = Path(config_path).stem if config_path else "default"
    return Path(os.environ.get("RLLR_RUNS", "runs")) / f"reproduce-{paper}-{name}"


def run_pipeline(paper: str, config_cls: Any, config_path: str | None, overrides: list[str],
                 stages: Any, sections: Any, write_report: Any, *, force: tuple[str, ...] = (),
                 out: str | None = None) -> Path:
    """Load `config_cls`, run (or reuse) `stages(cfg)` with `sections(cfg)`, write the report
    with `write_report(cfg, sections, results, run_dir)`; return the report.md path."""
    from rllr.config import load_config, to_dict
    from rllr.io import prepare_run_dir
    from rllr.pipelines.stages import run_stages

    cfg = load_config(config_cls, config_path, overrides)
    run_dir = Path(out or cfg.run.out or default_out(paper, config_path))
    secs = sections(cfg)
    prepare_run_dir(run_dir, to_dict(cfg))
    results = run_stages(stages(cfg), secs, run_dir, force=force)
    return Path(write_report(cfg, secs, results, run_dir))
