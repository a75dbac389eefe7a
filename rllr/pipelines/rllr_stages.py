"""The stages of `rllr reproduce rllr`: one wiring function per stage, each calling the module
that implements it (`rllr.data.rationales`, `rllr.data.make_pairs`, `rllr.train.sft`,
`rllr.train.reward_model`, `rllr.train.ppo`, `rllr.eval.evaluate`, `rllr.teacher.judge`).

Every function has the `StageFn` signature `(inputs, section, out_dir) -> outputs`; `inputs`
maps upstream stage names to their outputs, `section` is the resolved config section
(`rllr_pipeline.sections`), and the outputs are JSON (paths as strings).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rllr.errors import ConfigError, DataError
from rllr.pipelines.common import (
    EvalJob,
    data_sizes,
    evaluate_job,
    primary_cell,
    stage_config,
    teacher_endpoint,
)

log = logging.getLogger(__name__)
Section = dict[str, Any]

METHODS = {"SFT": "sft", "SFT w. rat.": "sft_rat", "RLHF": "ppo_rlhf", "RLLR": "ppo_rllr",
           "RLLR-MIXED": "ppo_mixed"}
"""Table 4 row name -> the stage whose adapter it evaluates."""
JUDGED = ("RLHF", "RLLR", "RLLR-MIXED")
"""Figure 4: each of these against SFT w. rat."""


def _teacher(t: Mapping[str, Any], url: str, cache_dir: Path) -> Any:
    from rllr.teacher.client import make_teacher

    return make_teacher(url=url, model=None if t["url"] is None else t["model"],
                        cache_dir=str(cache_dir), concurrency=int(t.get("concurrency", 8)),
                        timeout=float(t.get("timeout_s", 900)))


def _by_task(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["task"], []).append(r)
    return out


def _capped_batch(optim: Mapping[str, Any], n: int, default: int = 8) -> dict[str, Any]:
    """`optim` with batch_size and micro_batch_size capped at `n` rows (tiny presets, where the
    filters leave fewer rows than one batch; the trainers refuse a batch larger than the data)."""
    B = max(1, min(int(optim.get("batch_size", default)), n))
    micro = min(int(optim.get("micro_batch_size", B)), B)
    return {**optim, "batch_size": B, "micro_batch_size": micro if B % micro == 0 else B}


# --- data, rationales, SFT ------------------------------------------------------------------


def stage_data(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    run, sizes = cfg["run"], cfg["sizes"]
    limits = {"sft": sizes["sft_limit"], "rl": sizes["rl_limit"], "test": sizes["test_limit"]}
    return {"sizes": data_sizes(run["tasks"], run["data_dir"], limits)}


def _refusal_check(kind: str, threshold: float | None) -> Any:
    from rllr.data import refusal

    if kind == "classifier":
        return refusal.RefusalFilter.load(threshold=threshold).reasons
    return {"rules": refusal.rules_only, "none": None}[kind]


def stage_rationales(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    """Teacher rationales for the gold and a wrong label (`build_rationales`, resuming) with the
    refusal filter (`filter`: classifier | rules | none); refused / failed rows go to the side
    files. `rllr.data.sft` reads the accepted file's `rationale_gold` directly."""
    from rllr.data.rationales import build_rationales, side_paths
    from rllr.io import read_jsonl
    from rllr.tasks import get_task

    t, run = cfg["teacher"], cfg["run"]
    gen = {k: cfg[k] for k in ("max_tokens", "temperature", "chunk_size", "truncated", "resample",
                               "resample_temperature") if k in cfg}
    check = _refusal_check(cfg.get("filter", "classifier"), cfg.get("threshold"))
    path = out / "rationales.jsonl"
    counts = {}
    with teacher_endpoint(t["url"], t["model"], out, t["startup_timeout_s"]) as url:
        teacher = _teacher(t, url, out / "teacher-cache")
        for name in run["tasks"]:
            task = get_task(name)
            examples = task.load("sft", run["data_dir"], limit=cfg["limit"])
            counts[name] = build_rationales(task, examples, teacher, path, seed=run["seed"],
                                            check=check, **gen)._asdict()
    ok, failed, filtered = side_paths(path)
    rows = read_jsonl(ok)
    if not rows:
        raise DataError(f"rationales: every rationale failed or was filtered (see {failed}, {filtered})")
    return {"rationales": str(ok), "failed": str(failed),
            "filtered": str(filtered), "counts": counts}


def stage_sft(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    """`rllr.train.sft.run`; label-only, or with the gold rationales for sft_rat."""
    from rllr.io import read_jsonl
    from rllr.train.sft import SFTConfig, run

    wired: dict[str, Any] = {"out": str(out), "resume": True}
    if "rationales" in inputs:  # only examples with an accepted gold rationale are trained on (ok or gold_ok)
        path = inputs["rationales"]["rationales"]
        wired["data"] = {"rationale_file": path}
        wired["optim"] = _capped_batch(cfg.get("optim", {}), len(read_jsonl(path)))
    summary = run(stage_config(SFTConfig, cfg, wired, "sft"))
    return {"adapter": str(out / "adapter"), "metrics": str(out / "metrics.jsonl"),
            "summary": {k: v for k, v in summary.items() if k != "eval"}}


# --- preference pairs and reward models -------------------------------------------------------


def stage_pairs(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    """Label-sensitive pairs from the rationales (App. D; `heldout` share of prompts held out
    for Table 5) and rationale-sensitive pairs: `num_samples` responses per prompt sampled from
    SFT w. rat., ranked by the teacher (App. C), on the first `rationale_limit` SFT prompts
    that have a rationale and are not held out. `fallback: demo_vs_sample` fills prompts with unusable rankings."""
    from rllr.data.make_pairs import (
        is_heldout,
        label_pairs,
        load_rationales,
        rationale_pairs,
        sample_responses,
        write_pairs,
    )
    from rllr.io import write_jsonl
    from rllr.tasks import get_task

    run, t = cfg["run"], cfg["teacher"]
    seed, heldout = run["seed"], float(cfg.get("heldout", 0.25))
    if not 0 < heldout < 1:
        raise ConfigError(f"pairs.heldout must be in (0, 1) (Table 5 needs held-out pairs), got {heldout}")
    rationales = _by_task(load_rationales(inputs["rationales"]["rationales"]))
    labels, dropped = [], []
    for name in run["tasks"]:
        p, d = label_pairs(get_task(name), rationales.get(name, []))
        labels += p
        dropped += d
    write_pairs(labels, out / "label.jsonl", heldout, seed)
    write_jsonl(out / "label.dropped.jsonl", dropped)

    samples: dict[str, tuple[list[Any], list[list[str]]]] = {}
    for name in run["tasks"]:
        task = get_task(name)
        with_rationale = {r["uid"] for r in rationales.get(name, [])}
        examples = [ex for ex in task.load("sft", run["data_dir"])  # SFT prompts, not Table 5's
                    if ex.uid in with_rationale and not is_heldout(ex.uid, heldout, seed)]
        examples = examples[:cfg.get("rationale_limit")]
        responses = sample_responses(
            task, examples, run["model"], adapter=inputs["sft_rat"]["adapter"],
            num_samples=int(cfg.get("num_samples", 5)), max_new_tokens=int(cfg.get("max_new_tokens", 128)),
            temperature=float(cfg.get("temperature", 1.0)), batch_size=int(cfg.get("batch_size", 10)),
            seed=seed)
        samples[name] = (examples, responses)
    write_jsonl(out / "rationale.samples.jsonl", ({"uid": ex.uid, "responses": r}
                                                  for exs, rs in samples.values() for ex, r in zip(exs, rs)))
    ranked, rejected = [], []
    with teacher_endpoint(t["url"], t["model"], out, t["startup_timeout_s"]) as url:
        teacher = _teacher(t, url, out / "teacher-cache")
        for name, (examples, responses) in samples.items():
            p, r = rationale_pairs(get_task(name), examples, responses, teacher, seed=seed,
                                   max_tokens=int(cfg.get("rank_max_tokens", 384)))
            ranked += p
            rejected += r
    n_ranked = len(ranked)
    if cfg.get("fallback", "none") == "demo_vs_sample":
        ranked += demo_vs_sample_pairs(samples, rejected, rationales)
    write_pairs(ranked, out / "rationale.jsonl", 0.0, seed)
    write_jsonl(out / "rationale.rejected.jsonl", rejected)
    counts = {"label_pairs": len(labels), "label_dropped": len(dropped),
              "rationale_pairs_ranked": n_ranked, "rationale_pairs_fallback": len(ranked) - n_ranked,
              "rationale_rejected_prompts": len(rejected)}
    log.info("pairs: %s", counts)
    return {"label": str(out / "label.train.jsonl"), "heldout_label": str(out / "label.heldout.jsonl"),
            "rationale": str(out / "rationale.jsonl"), "counts": counts}


def demo_vs_sample_pairs(samples: Mapping[str, tuple[list[Any], list[list[str]]]],
                         rejected: list[dict[str, Any]],
                         rationales: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Fallback (ours, not the paper's) for prompts whose teacher ranking was unusable:
    chosen = the teacher's gold rationale + gold answer (the SFT w. rat. target), rejected =
    each sampled response whose "The answer is: X" is not the gold label (rule reward < 1).
    A small teacher (the quickstart's 135M model) rarely writes a parseable App. C ranking."""
    from rllr.rewards.rule import answer_template_reward
    from rllr.tasks import get_task

    failed = {r["uid"] for r in rejected}
    pairs = []
    for name, (examples, responses) in samples.items():
        task = get_task(name)
        gold = {r["uid"]: r["rationale_gold"] for r in rationales.get(name, [])}
        for ex, answers in zip(examples, responses):
            if ex.uid not in failed or ex.uid not in gold:
                continue
            chosen = task.target(ex, "rllr", rationale=gold[ex.uid], label=ex.label)
            for a in dict.fromkeys(answers):
                if a.strip() and a != chosen and answer_template_reward(a, ex, task) < 1:
                    pairs.append({"prompt": task.question(ex), "chosen": chosen, "rejected": a,
                                  "task": name, "uid": ex.uid, "kind": "rationale",
                                  "source": "fallback:demo_vs_sample"})
    return pairs


def stage_rm(inputs: Mapping[str, Any], cfg: Section, out: Path, *, kind: str) -> dict[str, Any]:
    """A Bradley-Terry reward model (`rllr.train.reward_model.run`) on label- or
    rationale-sensitive pairs, initialised from SFT w. rat. Evaluation is the rm_eval stage.
    The batch is capped at the number of training pairs (tiny presets)."""
    from rllr.io import read_jsonl
    from rllr.train.reward_model import RMConfig, run

    train = inputs["pairs"][kind]
    n = len(read_jsonl(train))
    if n == 0:
        raise DataError(f"rm_{kind}: no {kind}-sensitive pairs in {train} (see the pairs stage's "
                        "dropped / rejected files)")
    optim = _capped_batch(cfg.get("optim", {}), n, default=16)
    rcfg = stage_config(RMConfig, {**cfg, "optim": optim}, {
        "train_file": train, "init_adapter": inputs["sft_rat"]["adapter"], "adapter_name": f"rm_{kind}",
        "eval_file": None, "eval_fraction": 0.0, "out": str(out), "resume": True}, f"rm_{kind}")
    summary = run(rcfg)
    return {"adapter": str(out / "adapter"), "metrics": str(out / "metrics.jsonl"),
            "summary": summary if isinstance(summary, dict) else {}}


def stage_rm_eval(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    """Pair accuracy (95% CI) of both RMs on the held-out label-sensitive pairs: Table 5."""
    from rllr.data.pairs import encode_pairs, read_pairs
    from rllr.io import atomic_write_json
    from rllr.models.load import load_tokenizer
    from rllr.rewards.reward_model import attach_reward_models
    from rllr.train.reward_model import build_model, evaluate_pairs

    run = cfg["run"]
    pairs = read_pairs(inputs["pairs"]["heldout_label"])
    if not pairs:
        raise DataError(f"rm_eval: no held-out label pairs in {inputs['pairs']['heldout_label']}")
    tokenizer = load_tokenizer(run["model"], padding_side="right")
    rows = encode_pairs(tokenizer, pairs, int(cfg.get("max_length", 512)))
    model = build_model(run["model"], inputs["sft_rat"]["adapter"])  # RMs were trained on SFT w. rat.
    attach_reward_models(model, {"rm_label": inputs["rm_label"]["adapter"],
                                 "rm_rationale": inputs["rm_rationale"]["adapter"]})
    model.eval()
    full, table = {}, {}
    for row_name, adapter in (("label RM", "rm_label"), ("rationale RM", "rm_rationale")):
        res = evaluate_pairs(model, adapter, rows, tokenizer.pad_token_id,
                             batch_size=int(cfg.get("batch_size", 16)),
                             n_resamples=int(cfg.get("n_resamples", 1000)), seed=run["seed"])
        full[row_name] = res
        table[row_name] = {t: r["accuracy"] for t, r in res.items() if t != "all"}
    atomic_write_json(out / "rm_eval.json", full)
    return {"table5": table, "details": str(out / "rm_eval.json"),
            "n": {t: r["n"] for t, r in full["label RM"].items()}}


# --- PPO, evaluation, judge -------------------------------------------------------------------


def stage_ppo(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    """`rllr.train.ppo.run` from SFT w. rat. with the preset's reward sources; the critic is
    initialised from the label RM (`value_init: rm_label`)."""
    from rllr.train.ppo import PPOConfig, run

    srcs = cfg["rewards"]["sources"]
    rms = {"rm_label": inputs["rm_label"]["adapter"], "rm_rationale": inputs["rm_rationale"]["adapter"]}
    wired = {"sft_adapter": inputs["sft_rat"]["adapter"], "out": str(out), "resume": True,
             "rewards": {k: v for k, v in rms.items()
                         if k in srcs or (k == "rm_label" and cfg.get("value_init") == "rm_label")}}
    pcfg = stage_config(PPOConfig, cfg, wired, out.name.rsplit("-", 1)[0])
    summary = run(pcfg)
    chain = [inputs["sft_rat"]["adapter"]] if pcfg.reference == "sft_merged" else []
    return {"adapter": str(out / "policy"), "merge_chain": [*chain, str(out / "policy")],
            "metrics": str(out / "metrics.jsonl"),
            "summary": {k: v for k, v in summary.items() if k not in ("eval", "reward_history")}}


def stage_eval(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    """`rllr.eval.evaluate` of the five methods on every task (95% bootstrap CIs): Table 4."""
    run = cfg["run"]
    settings = {k: v for k, v in cfg.items() if k != "run"}
    table: dict[str, dict[str, Any]] = {}
    predictions: dict[str, dict[str, str]] = {}
    for method, stage in METHODS.items():
        chain = inputs[stage].get("merge_chain") or [inputs[stage]["adapter"]]
        job = EvalJob(run["model"], tuple(chain), tuple(run["tasks"]), out / stage, settings)
        results = evaluate_job(job, run["data_dir"], run["seed"])
        table[method] = {t: primary_cell(r) for t, r in results.items()}
        predictions[method] = {t: str(out / stage / "predictions" / f"{t}.jsonl") for t in results}
    return {"table4": table, "predictions": predictions}


def judge_items(path: str | Path, questions: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """uid -> {uid, question, answer} from an `evaluate` predictions file (first completion)."""
    from rllr.io import read_jsonl

    items = {}
    for r in read_jsonl(path):
        completions = r.get("completions") or [""]
        answer = completions[0] if isinstance(completions, list) else str(completions)
        items[r["uid"]] = {"uid": r["uid"], "question": questions.get(r["uid"], r.get("prompt", "")),
                           "answer": answer}
    return items


def stage_judge(inputs: Mapping[str, Any], cfg: Section, out: Path) -> dict[str, Any]:
    """Pairwise judge of each RL method's test rationales against SFT w. rat. (Figure 4), in
    both orders (`rllr.teacher.judge.judge_pairs`): win / tie / lose, invalid and the share of
    pairs whose two orders disagree."""
    from rllr.io import atomic_write_json, write_jsonl
    from rllr.tasks import get_task
    from rllr.teacher.judge import judge_pairs

    run, t = cfg["run"], cfg["teacher"]
    preds = inputs["eval"]["predictions"]
    results: dict[str, dict[str, Any]] = {}
    with teacher_endpoint(t["url"], t["model"], out, t["startup_timeout_s"]) as url:
        teacher = _teacher(t, url, out / "teacher-cache")
        for method in JUDGED:
            rows: list[dict[str, Any]] = []
            for task_name, path in preds[method].items():
                task = get_task(task_name)
                questions = {ex.uid: task.question(ex)
                             for ex in task.load("test", run["data_dir"], limit=cfg.get("test_limit"))}
                a = judge_items(path, questions)
                b = judge_items(preds["SFT w. rat."][task_name], questions)
                uids = [u for u in a if u in b][:cfg.get("limit")]  # limit: pairs per task
                r, _ = judge_pairs(teacher, [a[u] for u in uids], [b[u] for u in uids],
                                   max_tokens=int(cfg.get("max_tokens", 64)))
                rows += [{**x, "task": task_name} for x in r]
            write_jsonl(out / f"{method}.jsonl", rows)
            valid = [r for r in rows if r["outcome"] != "invalid"]
            results[f"{method} vs SFT w. rat."] = {
                **{o: sum(r["outcome"] == o for r in valid) for o in ("win", "tie", "lose")},
                "invalid": len(rows) - len(valid),
                "inconsistent_rate": sum(r["inconsistent"] for r in valid) / max(len(valid), 1)}
    atomic_write_json(out / "judge.json", results)
    return {"win_tie_lose": results}
