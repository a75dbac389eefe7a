"""The task registry: one literal dict from task name to `Task`, plus named groups.

    get_task("sst2")                       # a registered task
    get_task("configs/tasks/my.yaml")      # a user task file (see `rllr.tasks.user`)
    resolve_tasks("rllr")                  # a group name expands to its tasks
    resolve_tasks("sst2,mnli,superglue")   # names and groups, comma-separated, de-duplicated

Task definitions live one file per family: `glue`, `superglue`, `qa`, `transfer`, `lm`.
"""

from __future__ import annotations

from pathlib import Path

from rllr.errors import DataError
from rllr.tasks import glue, lm, qa, superglue, transfer
from rllr.tasks.base import Task

TASKS: dict[str, Task] = {
    # GLUE (second paper, Table 1); sst2, mrpc, qqp, stsb, mnli are also RLLR tasks
    "cola": glue.COLA,
    "sst2": glue.SST2,
    "mrpc": glue.MRPC,
    "qqp": glue.QQP,
    "stsb": glue.STSB,
    "mnli": glue.MNLI,
    "mnli_m": glue.MNLI_M,
    "mnli_mm": glue.MNLI_MM,
    "qnli": glue.QNLI,
    "rte": glue.RTE,
    "wnli": glue.WNLI,
    # SuperGLUE (second paper, Table 6)
    "boolq": superglue.BOOLQ,
    "cb": superglue.CB,
    "copa": superglue.COPA,
    "superglue_rte": superglue.SUPERGLUE_RTE,
    "wic": superglue.WIC,
    "wsc": superglue.WSC,
    "multirc": superglue.MULTIRC,
    "record": qa.RECORD,
    # RLLR's non-GLUE tasks (RLLR Appendix A)
    "mr": transfer.MR,
    "ag_news": transfer.AG_NEWS,
    "app_reviews": transfer.APP_REVIEWS,
    # zero-shot transfer sets (second paper, sections 5.4-5.5)
    "financial_phrasebank": transfer.FINANCIAL_PHRASEBANK,
    "fin_news_sentiment": transfer.FIN_NEWS_SENTIMENT,
    "mental_health": transfer.MENTAL_HEALTH,
    "emotion": transfer.EMOTION,
    "sick": transfer.SICK,
    "amazon_5star": transfer.AMAZON_5STAR,
    # reading comprehension and language modeling (second paper, App. A and section 5.6)
    "squad_v1": qa.SQUAD_V1,
    "wikitext2": lm.WIKITEXT2,
}

GROUPS: dict[str, tuple[str, ...]] = {
    "rllr": ("mr", "ag_news", "app_reviews", "mrpc", "qqp", "mnli", "sst2", "stsb"),
    "glue": ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "mnli_m", "mnli_mm", "qnli", "rte", "wnli"),
    "superglue": ("boolq", "cb", "copa", "superglue_rte", "wic", "wsc", "multirc", "record"),
    "ood_sentiment": ("financial_phrasebank", "fin_news_sentiment", "mental_health", "emotion"),
    "ood_nli": ("sick",),
    "ood": ("financial_phrasebank", "fin_news_sentiment", "mental_health", "emotion", "sick",
            "amazon_5star"),
    "qa": ("squad_v1", "record"),
    "lm": ("wikitext2",),
    "default": ("sst2", "mnli"),
}
"""Named task sets; "all" (every registered task) is added by `task_groups()`."""


def list_tasks() -> list[str]:
    """Registered task names, in registry order."""
    return list(TASKS)


def task_groups() -> dict[str, list[str]]:
    """Group name -> task names (including "all")."""
    return {**{g: list(names) for g, names in GROUPS.items()}, "all": list(TASKS)}


def groups_of(name: str) -> list[str]:
    """The groups a task belongs to (not counting "all")."""
    return [g for g, names in GROUPS.items() if name in names]


def _is_task_file(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or ("/" in name and Path(name).is_file())


def get_task(name: str) -> Task:
    """A registered task by name, or a user task loaded from a YAML file path."""
    key = name.strip()
    if key in TASKS:
        return TASKS[key]
    if _is_task_file(key):
        from rllr.tasks.user import load_task_file

        return load_task_file(key)
    raise DataError(f"unknown task {key!r} (known: {', '.join(TASKS)}; or a path to a task .yaml)")


def resolve_tasks(spec: str) -> list[Task]:
    """Tasks named by a comma-separated list of task names, group names and YAML paths."""
    out: dict[str, Task] = {}
    groups = task_groups()
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        tasks = [TASKS[n] for n in groups[item]] if item in groups and item not in TASKS else [get_task(item)]
        for task in tasks:
            out.setdefault(task.name, task)
    if not out:
        raise DataError(f"no tasks in {spec!r} (give task names or groups: {', '.join(groups)})")
    return list(out.values())
