"""`rllr reproduce glue`: the RL-for-NLU paper (GLUE/SuperGLUE) as cached stages.

    rllr reproduce glue --config configs/reproduce/glue-quickstart.yaml

Parts (each a section with `enabled`): zero_shot, few_shot (1..max_shots demos, best per
task reported), encoder (MiniLM + linear head), sft, ppo and grpo (judgement format, rule
reward; single-task, or multi-task with `mode: multi`), eval of the trained adapters
(Table 1/9), transfer SST-2 -> financial_phrasebank / fin_news_sentiment / mental_health /
emotion and MNLI -> SICK with sampled-predictions CIs (Tables 2/3), amazon (1-5 stars
instruction following, Table 4), perplexity (WikiText-2 before/after, Table 5), squad
(PPO with EM/F1 rewards, Table 8), ppo_rm (PPO with a reward model vs rule, Table 10).
PPO vs GRPO seconds and peak memory per step come from their metrics.jsonl.

Departures: a 135M model with LoRA instead of LLaMA2-7B full fine-tuning; the bundled test
splits instead of the GLUE server; bAbI-NLI is not available (see shared/data/README.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rllr.config import to_dict
from rllr.pipelines.common import (
    EvalJob,
    RunSettings,
    data_files,
    data_sizes,
    evaluate_job,
    merge,
    primary_cell,
    stage_config,
)
from rllr.pipelines.stages import Stage

log = logging.getLogger(__name__)
Section = dict[str, Any]
TRANSFER = {"sst2": ("financial_phrasebank", "fin_news_sentiment", "mental_health", "emotion"),
            "mnli": ("sick",)}


@dataclass(frozen=True)
class GlueReproduceConfig:
    run: RunSettings = field(default_factory=RunSettings)
    data: Section = field(default_factory=dict)
    zero_shot: Section = field(default_factory=dict)
    few_shot: Section = field(default_factory=dict)
    encoder: Section = field(default_factory=dict)
    sft: Section = field(default_factory=dict)
    ppo: Section = field(default_factory=dict)
    grpo: Section = field(default_factory=dict)
    eval: Section = field(default_factory=dict)
    transfer: Section = field(default_factory=dict)
    amazon: Section = field(default_factory=dict)
    perplexity: Section = field(default_factory=dict)
    squad: Section = field(default_factory=dict)
    ppo_rm: Section = field(default_factory=dict)


def sections(cfg: GlueReproduceConfig) -> dict[str, Section]:
    r = cfg.run
    run = {k: v for k, v in to_dict(r).items() if k != "out"}
    test_limit = cfg.data.get("test_limit")
    ev = merge({"format": "judgement", "limit": test_limit, "max_new_tokens": 16}, cfg.eval)
    rl = {"model": r.model, "seed": r.seed, "fmt": "judgement", "data_dir": r.data_dir,
          "split": "rl", "max_prompts": cfg.data.get("rl_limit"), "eval_limit": 0,
          "rewards": {"sources": {"judgement": 1.0}}, "mode": "single", "init": "base"}
    out = {
        "data": {"sizes": {"sft_limit": cfg.data.get("sft_limit"), "rl_limit": cfg.data.get("rl_limit"),
                           "test_limit": test_limit}},
        "zero_shot": merge({"enabled": True}, ev, cfg.zero_shot),
        "few_shot": merge({"enabled": True, "max_shots": 5}, ev, cfg.few_shot),
        "encoder": merge({"enabled": True, "test_limit": test_limit,
                          "train_limit": cfg.data.get("sft_limit")}, cfg.encoder),
        "sft": merge({"enabled": True, "model": r.model, "seed": r.seed, "eval": {"enabled": False},
                      "data": {"tasks": list(r.tasks), "data_dir": r.data_dir, "format": "judgement",
                               "limit": cfg.data.get("sft_limit")}}, cfg.sft),
        "ppo": merge({"enabled": True}, rl, {"algo": "gae"}, cfg.ppo),
        "grpo": merge({"enabled": True}, rl, {"algo": "grpo", "group_size": 4}, cfg.grpo),
        "eval": dict(ev),
        "transfer": merge({"enabled": True, "samples": 5, "temperature": 1.0}, ev, cfg.transfer),
        "amazon": merge({"enabled": False}, ev, {"format": "rllr"}, cfg.amazon),
        "perplexity": merge({"enabled": False, "limit": 4}, cfg.perplexity),
        "squad": merge({"enabled": False}, rl, {"algo": "gae", "fmt": "rllr", "mode": "single",
                                                "tasks_override": ["squad_v1"],
                                                "rewards": {"sources": {"squad_f1": 1.0}}},
                       cfg.squad),
        "ppo_rm": merge({"enabled": False}, rl, {"algo": "gae", "mode": "single"}, cfg.ppo_rm),
    }
    return {name: {"run": run, **s} for name, s in out.items()}


def stages(cfg: GlueReproduceConfig) -> list[Stage]:
    secs = sections(cfg)
    on = {name for name, s in secs.items() if s.get("enabled", True)}
    trained = tuple(n for n in ("sft", "ppo", "grpo") if n in on)
    st = [Stage("data", _stage_data, input_files=data_files(cfg.run.tasks, cfg.run.data_dir))]
    for n, fn in (("zero_shot", _stage_zero_shot), ("few_shot", _stage_few_shot), ("encoder", _stage_encoder),
                  ("sft", _stage_sft), ("ppo", _stage_rl), ("grpo", _stage_rl), ("squad", _stage_rl),
                  ("ppo_rm", _stage_rl)):
        if n in on:
            from_sft = fn is _stage_rl and secs[n].get("init") == "sft"
            if from_sft and "sft" not in on:
                from rllr.errors import ConfigError

                raise ConfigError(f"reproduce glue: {n}.init=sft needs the sft section enabled")
            st.append(Stage(n, fn, after=("data", "sft") if from_sft else ("data",)))
    if trained:
        st.append(Stage("eval", _stage_eval, after=trained))
    for name, fn in (("transfer", _stage_transfer), ("amazon", _stage_amazon),
                     ("perplexity", _stage_perplexity)):
        if name in on:
            st.append(Stage(name, fn, after=tuple(n for n in ("ppo",) if n in on)))
    return st


# --- stages -----------------------------------------------------------------------------------


def _settings(cfg: Section, *drop: str) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k not in ("run", "enabled", *drop)}


def _stage_data(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    run, s = cfg["run"], cfg["sizes"]
    return {"sizes": data_sizes(run["tasks"], run["data_dir"],
                                {"sft": s["sft_limit"], "rl": s["rl_limit"], "test": s["test_limit"]})}


def _eval(run: Mapping[str, Any], chain: list[str], tasks: Any, out: Path,
          settings: Mapping[str, Any]) -> dict[str, Any]:
    job = EvalJob(run["model"], tuple(chain), tuple(tasks), out, dict(settings))
    return evaluate_job(job, run["data_dir"], run["seed"])


def _stage_zero_shot(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    res = _eval(cfg["run"], [], cfg["run"]["tasks"], out, _settings(cfg))
    return {"cells": {t: primary_cell(r) for t, r in res.items()}}


def _stage_few_shot(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    """1..max_shots demonstrations; per task the best k is reported (as the paper does)."""
    best: dict[str, Any] = {}
    for k in range(1, int(cfg["max_shots"]) + 1):
        res = _eval(cfg["run"], [], cfg["run"]["tasks"], out / f"{k}-shot",
                    {**_settings(cfg, "max_shots"), "shots": k})
        for t, r in res.items():
            cell = primary_cell(r)
            if cell and (t not in best or cell["point"] > best[t]["cell"]["point"]):
                best[t] = {"shots": k, "cell": cell}
    return {"cells": {t: b["cell"] for t, b in best.items()},
            "best_shots": {t: b["shots"] for t, b in best.items()}}


def _stage_encoder(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    from rllr.config import from_dict
    from rllr.pipelines.encoder_baseline import EncoderSettings, run

    settings = from_dict(EncoderSettings, {"seed": cfg["run"]["seed"], **_settings(cfg)},
                         source="reproduce: encoder")
    res = run(cfg["run"]["tasks"], settings, cfg["run"]["data_dir"])
    return {"cells": {t: r.get("accuracy") for t, r in res.items()}, "details": res}


def _stage_sft(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    from rllr.train.sft import SFTConfig, run

    run(stage_config(SFTConfig, _settings(cfg), {"out": str(out), "resume": True}, "sft"))
    return {"adapters": {"all": [str(out / "adapter")]}, "metrics": {"all": str(out / "metrics.jsonl")}}


def _stage_rl(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    """PPO / GRPO (rule reward); one run per task or one multi-task run.

    `init: base` starts from the base model (the paper: its 7B instruct models already answer
    in the <Judgement> format); `init: sft` starts from the sft stage's adapter merged into
    the base (reference = that SFT model), for small models that need the format taught first.
    """
    from rllr.train.ppo import PPOConfig, run

    tasks = list(cfg["run"]["tasks"]) if cfg["mode"] == "multi" else None
    groups = {"all": tasks} if tasks else {t: [t] for t in cfg.get("tasks_override") or cfg["run"]["tasks"]}
    start = inputs["sft"]["adapters"]["all"] if cfg.get("init") == "sft" else []
    wired: dict[str, Any] = {"sft_adapter": start[0], "reference": "sft_merged"} if start else {}
    adapters, metrics, summaries = {}, {}, {}
    for name, ts in groups.items():
        sub = out / name
        pcfg = stage_config(PPOConfig, _settings(cfg, "mode", "tasks_override", "init"),
                            {**wired, "tasks": {t: 1.0 for t in ts}, "out": str(sub), "resume": True}, "rl")
        s = run(pcfg)
        adapters[name] = [*start, str(sub / "policy")]
        metrics[name] = str(sub / "metrics.jsonl")
        summaries[name] = {k: v for k, v in s.items() if k not in ("eval", "reward_history")}
    return {"adapters": adapters, "metrics": metrics, "summary": summaries}


def _adapter_for(outputs: Mapping[str, Any], task: str) -> list[str] | None:
    a = outputs["adapters"]
    return a.get(task) or a.get("all")


def _stage_eval(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    cells: dict[str, dict[str, Any]] = {}
    for method, outputs in inputs.items():
        cells[method] = {}
        for task in cfg["run"]["tasks"]:
            res = _eval(cfg["run"], _adapter_for(outputs, task) or [], [task], out / method / task,
                        _settings(cfg))
            cells[method][task] = primary_cell(res[task])
    return {"cells": cells}


def _stage_transfer(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    """Zero-shot transfer with `samples` sampled predictions per example (Table 3 CIs)."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for src, targets in TRANSFER.items():
        if src not in cfg["run"]["tasks"]:
            continue
        methods: dict[str, list[str]] = {"zero-shot": []}
        if "ppo" in inputs and (a := _adapter_for(inputs["ppo"], src)):
            methods["PPO-ST"] = a
        table[src] = {t: {} for t in targets}
        for method, chain in methods.items():
            res = _eval(cfg["run"], chain, targets, out / src / method, _settings(cfg))
            for t in targets:
                table[src][t][method] = primary_cell(res[t])
    return {"table": table}


def _stage_amazon(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    rows: dict[str, list[str]] = {"zero-shot": []}
    if "ppo" in inputs:
        rows["PPO"] = next(iter(inputs["ppo"]["adapters"].values()))
    return {"cells": {m: {"amazon_5star": primary_cell(_eval(
        cfg["run"], chain, ["amazon_5star"], out / m, _settings(cfg))["amazon_5star"])}
        for m, chain in rows.items()}}


def _stage_perplexity(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    rows: dict[str, list[str]] = {"before (base)": []}
    if "ppo" in inputs:
        rows["after PPO"] = next(iter(inputs["ppo"]["adapters"].values()))
    return {"cells": {m: {"perplexity": primary_cell(_eval(
        cfg["run"], chain, ["wikitext2"], out / m.split()[0], _settings(cfg))["wikitext2"])}
        for m, chain in rows.items()}}


# --- reproduce + report ---------------------------------------------------------------------


def reproduce(config_path: str | None, overrides: list[str], *, force: tuple[str, ...] = (),
              out: str | None = None) -> Path:
    """Run (or reuse) every stage, then write the report; return the report.md path."""
    from rllr.pipelines.common import run_pipeline

    return run_pipeline("glue", GlueReproduceConfig, config_path, overrides, stages, sections, write_glue_report,
                        force=force, out=out)


def runtime_rows(metrics_files: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Mean seconds and peak memory per step from metrics.jsonl (`time/step_s`, `memory/*`)."""
    from rllr.io import read_jsonl

    rows: dict[str, dict[str, Any]] = {}
    for name, path in metrics_files.items():
        if not Path(path).is_file():
            continue
        recs = read_jsonl(path, tolerate_torn_tail=True)
        secs = [r["time/step_s"] for r in recs if isinstance(r.get("time/step_s"), (int, float))]
        mem = [v for r in recs for k, v in r.items() if k.startswith("memory/") and
               isinstance(v, (int, float))]
        rows[name] = {"s/step": sum(secs) / len(secs) if secs else None,
                      "peak memory (MiB)": max(mem) if mem else None}
    return rows


def write_glue_report(cfg: GlueReproduceConfig, secs: Mapping[str, Any],
                      results: Mapping[str, Any], run_dir: Path) -> Path:
    from rllr.report.plots import training_curves
    from rllr.report.render import Report, add_provenance, write_report
    from rllr.report.tables import methods_table, transfer_table, value_table

    rep = Report(f"RL for NLU reproduction: {cfg.run.model} on {', '.join(cfg.run.tasks)}")
    tasks = list(cfg.run.tasks)
    table1: dict[str, Any] = {}
    for name, label in (("zero_shot", "Zero-shot prompting"), ("few_shot", "Few-shot prompting"),
                        ("encoder", "MiniLM-L6 fine-tuned")):
        if name in results:
            table1[label] = results[name].outputs["cells"]
    if "eval" in results:
        labels = {"sft": "SFT-ST", "ppo": "PPO-ST", "grpo": "GRPO-ST"}
        cells = results["eval"].outputs["cells"]  # stage outputs come back with sorted keys
        order = [m for m in labels if m in cells] + sorted(m for m in cells if m not in labels)
        table1.update({labels.get(m, m): cells[m] for m in order})
    rep.heading("Table 1 / 9: test metric (%) per task, 95% bootstrap CI")
    rep.text(methods_table(table1, tasks))
    if "few_shot" in results:
        rep.text("Best number of demonstrations: " + ", ".join(
            f"{t}: {k}" for t, k in results["few_shot"].outputs["best_shots"].items()))
    if "transfer" in results:
        rep.heading("Tables 2 / 3: zero-shot transfer, 95% CI over sampled prediction sets")
        rep.text(transfer_table(results["transfer"].outputs["table"]))
    if "amazon" in results:
        rep.heading("Table 4: Amazon 1-5 stars (instruction following)")
        rep.text(methods_table(results["amazon"].outputs["cells"], ["amazon_5star"], avg=False))
    if "perplexity" in results:
        rep.heading("Table 5: WikiText-2 perplexity")
        ppl = results["perplexity"].outputs["cells"]
        rep.text(value_table(dict(sorted(ppl.items(), key=lambda kv: not kv[0].startswith("before"))),
                             ["perplexity"]))
    rl = {n: m for n in ("ppo", "grpo", "squad", "ppo_rm") if n in results
          for m in [results[n].outputs["metrics"]]}
    if rl:
        files = {f"{n}/{k}": p for n, m in rl.items() for k, p in m.items()}
        rep.heading("PPO vs GRPO: time and memory per step")
        rep.text(value_table(runtime_rows(files), ["s/step", "peak memory (MiB)"], row_header="run"))
        rep.image(training_curves(files, run_dir / "plots" / "rl_curves.png", "RL training"),
                  "RL runs: reward, KL, value loss, accuracy")
    add_provenance(rep, model=cfg.run.model, seeds={"run": cfg.run.seed},
                   data_sizes=results["data"].outputs["sizes"],
                   stage_times={n: (r.wall_s, r.cached) for n, r in results.items()},
                   configs=dict(secs), extra={"run dir": str(run_dir)})
    md, _ = write_report(rep, run_dir)
    return md
