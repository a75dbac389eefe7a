"""`rllr reproduce rllr`: the RLLR paper (ACL 2024) end to end, as cached stages.

    rllr reproduce rllr --config configs/reproduce/quickstart.yaml sft.optim.max_steps=4

data -> rationales (teacher, gold + wrong label, refusal filter) -> sft (label only) and
sft_rat (with rationales) -> pairs (label- and rationale-sensitive) -> rm_label,
rm_rationale -> rm_eval (held-out label-sensitive pairs: Table 5) -> ppo_rlhf (rationale
RM), ppo_rllr (label RM), ppo_mixed (both, eq. 4), all from SFT w. rat. -> eval (five
methods × tasks, 95% CIs: Table 4) -> judge (rationales vs SFT w. rat.: Figure 4) ->
report. Each stage's wiring to the module that implements it is one function of
`rllr.pipelines.rllr_stages`.

Departures: the teacher is a small local model served by `rllr teacher serve` on
127.0.0.1 (the paper used GPT-3.5/4) unless `teacher.url` names another endpoint; sizes
follow the preset, not Table 2, in the quickstart. The refusal filter defaults to the
trained classifier; the tiny/quickstart presets use rules only (the classifier flags most
of a 135M teacher's rationales). Rationale-sensitive pairs come from teacher rankings
(App. C); with `pairs.fallback: demo_vs_sample` (tiny/quickstart) a prompt whose ranking is
unparseable contributes gold-rationale > wrong-sample pairs instead (counted separately in
the pairs stage's outputs). Label pairs of held-out prompts (Table 5) never enter RM training
(their prompts are not used for rationale pairs either; SFT w. rat. does see their gold
rationales, as SFT data).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rllr.config import to_dict
from rllr.pipelines import rllr_stages as st
from rllr.pipelines.common import RunSettings, data_files, merge
from rllr.pipelines.rllr_stages import METHODS
from rllr.pipelines.stages import Stage

log = logging.getLogger(__name__)
Section = dict[str, Any]

PPO_REWARDS: dict[str, dict[str, Any]] = {
    "ppo_rlhf": {"sources": {"rm_rationale": 1.0}, "mix": "sum"},
    "ppo_rllr": {"sources": {"rm_label": 1.0}, "mix": "sum"},
    "ppo_mixed": {"sources": {"rm_label": 1.0, "rm_rationale": 1.0}, "mix": "rllr"},
}


@dataclass(frozen=True)
class RllrReproduceConfig:
    """`configs/reproduce/{quickstart,cpu-full,gpu-7b,tiny}.yaml`: run block + one section per
    stage. Stage sections are passed to the stage's own config class (`SFTConfig`,
    `PPOConfig`, ...) after the pipeline wires in model, tasks, data and upstream paths."""

    run: RunSettings = field(default_factory=RunSettings)
    data: Section = field(default_factory=dict)
    """Split sizes: sft_limit, rl_limit, test_limit (examples per task; null = all)."""
    teacher: Section = field(default_factory=dict)
    """url (null = serve run.model / teacher.model on loopback), model, startup_timeout_s."""
    rationales: Section = field(default_factory=dict)
    sft: Section = field(default_factory=dict)
    sft_rat: Section = field(default_factory=dict)
    pairs: Section = field(default_factory=dict)
    rm: Section = field(default_factory=dict)
    """Shared by rm_label and rm_rationale (their own sections override it)."""
    rm_label: Section = field(default_factory=dict)
    rm_rationale: Section = field(default_factory=dict)
    rm_eval: Section = field(default_factory=dict)
    ppo: Section = field(default_factory=dict)
    """Shared by the three PPO runs (their own sections override it)."""
    ppo_rlhf: Section = field(default_factory=dict)
    ppo_rllr: Section = field(default_factory=dict)
    ppo_mixed: Section = field(default_factory=dict)
    eval: Section = field(default_factory=dict)
    judge: Section = field(default_factory=dict)


def sections(cfg: RllrReproduceConfig) -> dict[str, Section]:
    """Each stage's resolved section: the run block, pipeline defaults, then the YAML."""
    run = to_dict(cfg.run)
    run.pop("out", None)  # where the run lives does not change what it computes
    r = cfg.run
    sizes = {"sft_limit": None, "rl_limit": None, "test_limit": None, **cfg.data}
    teacher = {"url": None, "model": r.model, "startup_timeout_s": 600, **cfg.teacher}
    base_sft = {"model": r.model, "seed": r.seed, "eval": {"enabled": False},
                "data": {"tasks": list(r.tasks), "data_dir": r.data_dir, "limit": sizes["sft_limit"]}}
    base_ppo = {"model": r.model, "seed": r.seed, "fmt": "rllr", "split": "rl",
                "tasks": {t: 1.0 for t in r.tasks}, "data_dir": r.data_dir,
                "max_prompts": sizes["rl_limit"], "eval_limit": 0}
    out = {
        "data": {"sizes": sizes},
        "rationales": merge({"teacher": teacher, "limit": sizes["sft_limit"], "filter": "classifier"},
                            cfg.rationales),
        "sft": merge(base_sft, {"data": {"format": "label"}}, cfg.sft),
        "sft_rat": merge(base_sft, {"data": {"format": "rationale", "skip_missing_rationales": True}},
                         cfg.sft_rat),
        "pairs": merge({"teacher": teacher, "heldout": 0.25, "num_samples": 5,
                        "rationale_limit": sizes["sft_limit"]}, cfg.pairs),
        "rm_label": merge({"model": r.model, "seed": r.seed}, cfg.rm, cfg.rm_label),
        "rm_rationale": merge({"model": r.model, "seed": r.seed}, cfg.rm, cfg.rm_rationale),
        "rm_eval": merge({"n_resamples": 1000}, cfg.rm_eval),
        **{name: merge(base_ppo, {"rewards": PPO_REWARDS[name]}, cfg.ppo, getattr(cfg, name))
           for name in PPO_REWARDS},
        "eval": merge({"limit": sizes["test_limit"], "format": "rllr", "max_new_tokens": 128,
                       "batch_size": 16}, cfg.eval),
        "judge": merge({"teacher": teacher, "test_limit": sizes["test_limit"], "limit": None},
                       cfg.judge),
    }
    return {name: {"run": run, **section} for name, section in out.items()}


def stages(cfg: RllrReproduceConfig) -> list[Stage]:
    ppo_after = ("sft_rat", "rm_label", "rm_rationale")
    return [
        Stage("data", st.stage_data, input_files=data_files(cfg.run.tasks, cfg.run.data_dir)),
        Stage("rationales", st.stage_rationales, after=("data",)),
        Stage("sft", st.stage_sft, after=("data",)),
        Stage("sft_rat", st.stage_sft, after=("data", "rationales")),
        Stage("pairs", st.stage_pairs, after=("data", "rationales", "sft_rat")),
        Stage("rm_label", partial(st.stage_rm, kind="label"), after=("sft_rat", "pairs")),
        Stage("rm_rationale", partial(st.stage_rm, kind="rationale"), after=("sft_rat", "pairs")),
        Stage("rm_eval", st.stage_rm_eval, after=("sft_rat", "pairs", "rm_label", "rm_rationale")),
        *(Stage(name, st.stage_ppo, after=ppo_after) for name in PPO_REWARDS),
        Stage("eval", st.stage_eval, after=("sft", "sft_rat", *PPO_REWARDS)),
        Stage("judge", st.stage_judge, after=("eval",)),
    ]


# --- reproduce + report ---------------------------------------------------------------------


def reproduce(config_path: str | None, overrides: list[str], *, force: tuple[str, ...] = (),
              out: str | None = None) -> Path:
    """Run (or reuse) every stage, then write the report; return the report.md path."""
    from rllr.pipelines.common import run_pipeline

    return run_pipeline("rllr", RllrReproduceConfig, config_path, overrides, stages, sections, write_rllr_report,
                        force=force, out=out)


def write_rllr_report(cfg: RllrReproduceConfig, secs: Mapping[str, Any],
                      results: Mapping[str, Any], run_dir: Path) -> Path:
    from rllr.report.plots import training_curves, win_tie_lose_chart
    from rllr.report.render import Report, add_provenance, write_report
    from rllr.report.tables import methods_table, win_tie_lose_table

    rep = Report(f"RLLR reproduction: {cfg.run.model} on {', '.join(cfg.run.tasks)}")
    tasks = list(cfg.run.tasks)
    rep.heading("Table 4: accuracy (%) of the five methods, 95% bootstrap CI")
    rep.text(methods_table(results["eval"].outputs["table4"], tasks))
    rep.heading("Table 5: reward-model accuracy (%) on held-out label-sensitive pairs, 95% CI")
    rep.text(methods_table(results["rm_eval"].outputs["table5"], tasks, row_header="reward model"))
    rep.heading("Figure 4: rationale quality vs SFT w. rat. (pairwise judge)")
    wtl = results["judge"].outputs["win_tie_lose"]
    rep.text(win_tie_lose_table(wtl))
    rep.text("Each pair is judged in both orders: a win needs both orders to prefer the method; "
             "orders that disagree count as a tie (order-inconsistent column).")
    plots = run_dir / "plots"
    rep.image(win_tie_lose_chart(wtl, plots / "win_tie_lose.png"), "win / tie / lose vs SFT w. rat.")
    rep.heading("Training curves")
    ppo = {m: results[s].outputs["metrics"] for m, s in METHODS.items() if s in PPO_REWARDS}
    rep.image(training_curves(ppo, plots / "ppo_curves.png", "PPO: reward per source, KL, value "
                              "loss"), "PPO runs (RLHF, RLLR, RLLR-MIXED)")
    sup = {m: results[s].outputs["metrics"] for m, s in (("SFT", "sft"), ("SFT w. rat.", "sft_rat"),
                                                         ("label RM", "rm_label"),
                                                         ("rationale RM", "rm_rationale"))}
    rep.image(training_curves(sup, plots / "sft_rm_curves.png", "SFT and reward models"),
              "SFT and RM training")
    add_provenance(rep, model=cfg.run.model, seeds={"run": cfg.run.seed},
                   data_sizes=results["data"].outputs["sizes"],
                   stage_times={n: (r.wall_s, r.cached) for n, r in results.items()},
                   configs=dict(secs), extra={"run dir": str(run_dir)})
    md, _ = write_report(rep, run_dir)
    return md
