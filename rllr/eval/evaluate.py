"""Evaluate a causal LM on tasks: prompts, generation, parsing, metrics and 95% CIs.

For each classification / regression / QA task: the first `limit` test examples, K-shot
demonstrations drawn from the task's train split, chat prompts (`Task.prompt` +
`render_prompt`), generation, `Task.parse`, `Task.metrics`. Language-modeling tasks
(WikiText-2) get sliding-window perplexity instead (`rllr.eval.perplexity`).

Confidence intervals (`rllr.eval.bootstrap`):
- greedy decoding (`samples` 0 or 1, no temperature): percentile bootstrap over examples
  of the primary metric and of accuracy;
- `samples = N > 1`: RL-for-NLU Table 3. N sampled completions per example give N full
  prediction sets; every metric is the mean over sets, and the CI is the 2.5th/97.5th
  percentiles of the per-set values.

Departures: demonstrations are drawn per example with an RNG seeded by (seed, example uid),
so an example gets the same demos whatever `limit` is; the papers do not say how they
drew theirs. Bootstrap resampling of MultiRC treats answer options as independent.

Outputs under `out_dir`: `metrics.json` (the returned dict, keyed by task name) and
`predictions/<task>.jsonl` (uid, prompt, completions, predictions, gold, correct).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rllr.config import check
from rllr.eval.bootstrap import bootstrap_ci, sampled_predictions_ci
from rllr.eval.generate import generate
from rllr.io import atomic_write_json, write_jsonl
from rllr.models.chat import render_prompt
from rllr.tasks.base import Example, Format, Task

log = logging.getLogger(__name__)

CI_LEVEL = 0.95


@dataclass(frozen=True)
class EvalConfig:
    """`rllr eval`: which model, which tasks, how to prompt and decode."""

    model: str = "smollm2-135m-instruct"
    """Registry name, local HF folder, or hub id."""
    adapter: str | None = None
    """Optional peft LoRA adapter folder, loaded on top of `model` and merged."""
    tasks: tuple[str, ...] = ("sst2", "mnli")
    """Task names, group names (glue, rllr, ...) or task YAML paths."""
    format: Literal["rllr", "judgement"] = "rllr"
    """Answer format: RLLR "The answer is: X" or the <Judgement> tag of the second paper."""
    shots: int = 0
    """K demonstrations from the train split, as earlier chat turns."""
    samples: int = 0
    """0/1: one completion per example; N > 1: N sampled completions (Table 3 CIs)."""
    limit: int | None = None
    """Evaluate only the first `limit` test examples (all when None)."""
    data_dir: str | None = None
    """Data root (one folder per task); None = $RLLR_DATA or the bundled samples; "hub"."""
    seed: int = 0
    """Seeds demo draws, sampling and the bootstrap."""
    max_new_tokens: int = 64
    batch_size: int = 16
    """Sequences per generation batch (and windows per perplexity batch, divided by 8)."""
    temperature: float | None = None
    """Sampling temperature; None = greedy unless samples > 1 (then 1.0)."""
    top_p: float = 1.0
    out: str | None = None
    """Run directory; None = runs/eval-<timestamp>."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """auto = float32 on CPU, bfloat16 on CUDA."""
    n_resamples: int = 1000
    """Bootstrap resamples for greedy CIs."""
    ppl_max_length: int = 1024
    """Perplexity window (tokens)."""
    ppl_stride: int = 512
    """Perplexity stride (tokens); equal to the window = independent chunks."""

    def __post_init__(self) -> None:
        check(len(self.tasks) > 0, "tasks: give at least one task")
        check(self.shots >= 0, f"shots must be >= 0, got {self.shots}")
        check(self.samples >= 0, f"samples must be >= 0, got {self.samples}")
        check(self.limit is None or self.limit > 0, f"limit must be > 0, got {self.limit}")
        check(self.max_new_tokens > 0, f"max_new_tokens must be > 0, got {self.max_new_tokens}")
        check(self.batch_size > 0, f"batch_size must be > 0, got {self.batch_size}")
        check(self.temperature is None or self.temperature > 0,
              f"temperature must be > 0, got {self.temperature}")
        check(0.0 < self.top_p <= 1.0, f"top_p must be in (0, 1], got {self.top_p}")
        check(self.n_resamples > 0, f"n_resamples must be > 0, got {self.n_resamples}")
        check(1 <= self.ppl_stride <= self.ppl_max_length,
              f"ppl_stride must be in [1, ppl_max_length], got {self.ppl_stride}")


# --- prompts -------------------------------------------------------------------------------


def draw_demos(ex: Example, pool: Sequence[Example], shots: int, seed: int) -> list[Example]:
    """`shots` train examples for `ex`, drawn by an RNG seeded with (seed, ex.uid).

    Pool examples with the same input text as `ex` are skipped.
    """
    if shots == 0 or not pool:
        return []
    rng = random.Random(f"{seed}:{ex.uid}")
    candidates = rng.sample(range(len(pool)), min(len(pool), shots + 8))
    demos = [pool[i] for i in candidates if dict(pool[i].inputs) != dict(ex.inputs)]
    return demos[:shots]


def build_prompts(task: Task, examples: Sequence[Example], tokenizer: Any, *, fmt: Format,
                  shots: int, demo_pool: Sequence[Example], seed: int) -> list[str]:
    """Rendered prompt texts (up to the start of the answer) for `examples`."""
    return [render_prompt(tokenizer, task.prompt(ex, fmt, draw_demos(ex, demo_pool, shots, seed)))
            for ex in examples]


# --- one task ------------------------------------------------------------------------------


def score_predictions(task: Task, examples: Sequence[Example], preds: Sequence[Sequence[Any]], *,
                      n_resamples: int, seed: int) -> dict[str, Any]:
    """Metrics and CIs from `preds[i][j]` = parsed prediction j for example i.

    One prediction per example: task metrics + example bootstrap. N > 1: mean metrics over
    the N prediction sets + the sampled-sets percentile CI (RL-for-NLU Table 3).
    """
    n_sets = len(preds[0]) if preds else 1
    ci_names = [m for m in dict.fromkeys((task.primary_metric, "accuracy")) if m in task.metric_names]
    if n_sets == 1:
        flat = [p[0] for p in preds]
        metrics = task.metrics(flat, examples)

        def metric_at(name: str) -> Any:
            return lambda idx: task.metrics([flat[i] for i in idx], [examples[i] for i in idx])[name]

        cis = {m: bootstrap_ci(metric_at(m), n_resamples, 1 - CI_LEVEL, seed, n=len(examples))
               for m in ci_names}
        method = "bootstrap over examples"
    else:
        per_set = [task.metrics([p[j] for p in preds], examples) for j in range(n_sets)]
        metrics = {k: sum(s[k] for s in per_set) / n_sets for k in per_set[0]}
        cis = {m: sampled_predictions_ci([s[m] for s in per_set], 1 - CI_LEVEL) for m in ci_names}
        method = f"percentiles over {n_sets} sampled prediction sets"
    return {"metrics": metrics, "ci": {m: c._asdict() for m, c in cis.items()}, "ci_method": method}


def _eval_generative(task: Task, model: Any, tokenizer: Any, *, fmt: Format, shots: int,
                     samples: int, limit: int | None, data_dir: str | None, seed: int,
                     max_new_tokens: int, batch_size: int, temperature: float | None,
                     top_p: float, n_resamples: int, out_dir: Path | None,
                     progress: bool) -> dict[str, Any]:
    examples = task.load("test", data_dir, limit=limit)
    pool = task.load("train", data_dir) if shots > 0 else []
    prompts = build_prompts(task, examples, tokenizer, fmt=fmt, shots=shots, demo_pool=pool, seed=seed)
    do_sample = samples > 1 or temperature is not None
    n = max(samples, 1)
    gen = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, do_sample=do_sample,
                   temperature=temperature or 1.0, top_p=top_p, num_return_sequences=n,
                   batch_size=batch_size, seed=seed, progress=progress)
    preds = [[task.parse(c, fmt) for c in comps] for comps in gen.texts]
    result = score_predictions(task, examples, preds, n_resamples=n_resamples, seed=seed)
    result["generated_tokens"] = sum(sum(t) for t in gen.num_tokens)
    if out_dir is not None:
        rows = ({"uid": ex.uid, "prompt": p, "completions": c, "predictions": pr, "gold": ex.label,
                 "correct": [task.is_correct(x, ex) for x in pr]}
                for ex, p, c, pr in zip(examples, prompts, gen.texts, preds))
        path = Path(out_dir) / "predictions" / f"{task.name}.jsonl"
        write_jsonl(path, rows)
        result["predictions"] = str(path.relative_to(out_dir))
    result["n"] = len(examples)
    return result


def _eval_perplexity(task: Task, model: Any, tokenizer: Any, *, limit: int | None,
                     data_dir: str | None, max_length: int, stride: int, batch_size: int,
                     progress: bool) -> dict[str, Any]:
    from rllr.eval.perplexity import text_perplexity

    articles = task.load("test", data_dir, limit=limit)
    text = "\n".join(ex.inputs["text"] for ex in articles)
    res = text_perplexity(model, tokenizer, text, max_length=max_length, stride=stride,
                          batch_size=max(1, batch_size // 8), progress=progress)
    return {"metrics": {"perplexity": res.ppl, "nll_sum": res.nll_sum, "num_tokens": res.num_tokens},
            "ci": {}, "ci_method": None, "n": len(articles), "windows": res.num_windows,
            "window": max_length, "stride": stride}


# --- all tasks -----------------------------------------------------------------------------


def evaluate(model: Any, tokenizer: Any, tasks: Sequence[Task], *, fmt: Format = "rllr",
             shots: int = 0, samples: int = 0, limit: int | None = None,
             data_dir: str | None = None, seed: int = 0, max_new_tokens: int = 64,
             batch_size: int = 16, temperature: float | None = None, top_p: float = 1.0,
             n_resamples: int = 1000, ppl_max_length: int = 1024, ppl_stride: int = 512,
             out_dir: str | Path | None = None, progress: bool = True,
             print_table: bool = True) -> dict[str, dict[str, Any]]:
    """Evaluate every task; return {task name: result}, also written to out_dir/metrics.json.

    A result holds `metrics` (every task metric + format_error_rate), `primary_metric`,
    `ci` ({metric: {point, low, high}} at 95%), `ci_method`, `n`, `wall_time_s` and,
    for generative tasks, `generated_tokens` and the `predictions` file.
    """
    out = Path(out_dir) if out_dir is not None else None
    results: dict[str, dict[str, Any]] = {}
    for task in tasks:
        log.info("evaluating %s (%s, %d-shot, samples=%d)", task.name, fmt, shots, samples)
        start = time.perf_counter()
        if task.kind == "language_modeling":
            result = _eval_perplexity(task, model, tokenizer, limit=limit, data_dir=data_dir,
                                      max_length=ppl_max_length, stride=ppl_stride,
                                      batch_size=batch_size, progress=progress)
        else:
            result = _eval_generative(
                task, model, tokenizer, fmt=fmt, shots=shots, samples=samples, limit=limit,
                data_dir=data_dir, seed=seed, max_new_tokens=max_new_tokens, batch_size=batch_size,
                temperature=temperature, top_p=top_p, n_resamples=n_resamples, out_dir=out,
                progress=progress)
        primary = "perplexity" if task.kind == "language_modeling" else task.primary_metric
        results[task.name] = {
            "task": task.name, "kind": task.kind, "format": fmt, "shots": shots, "samples": samples,
            "primary_metric": primary, **result,
            "format_error_rate": result["metrics"].get("format_error_rate"),
            "wall_time_s": round(time.perf_counter() - start, 3),
        }
        if out is not None:  # rewrite after each task so a crash keeps what finished
            atomic_write_json(out / "metrics.json", results)
    if print_table:
        print(format_table(results))
    return results


def flat_metrics(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """`eval/<task>/<metric>` scalars, for metric loggers during training."""
    return {f"eval/{t}/{k}": float(v) for t, r in results.items() for k, v in r["metrics"].items()}


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: task, metric, value, 95% CI, format errors, n, seconds."""
    header = ("task", "metric", "value", "95% CI", "format err", "n", "time s")
    rows = []
    for name, r in results.items():
        metric = r["primary_metric"]
        value = r["metrics"][metric]
        ci = r["ci"].get(metric)
        ci_text = f"[{ci['low']:.4f}, {ci['high']:.4f}]" if ci else "-"
        fe = r.get("format_error_rate")
        rows.append((name, metric, f"{value:.4f}", ci_text, "-" if fe is None else f"{fe:.3f}",
                     str(r["n"]), f"{r['wall_time_s']:.1f}"))
        for extra, ci in r["ci"].items():
            if extra != metric:
                rows.append(("", extra, f"{r['metrics'][extra]:.4f}",
                             f"[{ci['low']:.4f}, {ci['high']:.4f}]", "", "", ""))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
             for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
