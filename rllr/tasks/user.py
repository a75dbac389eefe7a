"""User tasks from YAML: a `TaskSpec` written as a file, for classification or regression.

    name: my_sentiment
    kind: classification            # or regression
    folder: my_sentiment            # relative to this YAML file's folder, or absolute
    fields: [text]
    labels: [bad, good]
    label_map: {"0": bad, "1": good}  # raw label -> label word (optional)
    keywords: {good: [great]}         # extra words the parser accepts (optional)
    templates:
      rllr: "Review: {text} Is it good or bad?"
      judgement:                      # optional; built from `description` + labels if absent
        system: "You are an assistant to analyze ... Put your answer between <Judgement></Judgement>."
        user: "Review: {text}"
    metrics: [accuracy, macro_f1]     # optional; default accuracy (pearson, spearman for regression)
    value_range: [0, 5]               # regression only
    description: "one line"

Unknown keys, unknown metrics, template placeholders that are not fields, and label-map
values outside `labels` raise `ConfigError` naming the file and the key.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

from rllr.errors import ConfigError
from rllr.tasks.base import Task, TaskSpec, judgement_system, one_of

KEYS = {"name", "kind", "folder", "fields", "labels", "label_map", "keywords", "templates",
        "metrics", "value_range", "description"}
TEMPLATE_KEYS = {"rllr", "judgement"}
JUDGEMENT_KEYS = {"system", "user"}
KINDS = ("classification", "regression")
Err = Callable[[str, str], ConfigError]


def load_task_file(path: str | Path) -> Task:
    """Read, validate and build the task described by the YAML file at `path`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: task file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: malformed YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of task keys at the top level")
    return Task(_spec(raw, path))


def _spec(raw: Mapping[str, Any], path: Path) -> TaskSpec:
    def err(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{path}: key '{key}': {msg}")

    _check_keys(raw, KEYS, "", path)
    for key in ("name", "kind", "folder", "fields", "templates"):
        if key not in raw:
            raise err(key, "missing")
    name, kind = raw["name"], raw["kind"]
    if not isinstance(name, str) or not name.strip():
        raise err("name", "expected a non-empty string")
    if kind not in KINDS:
        raise err("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    fields = _str_list(raw["fields"], "fields", err)
    if not fields:
        raise err("fields", "expected at least one field")
    labels = _str_list(raw.get("labels", []), "labels", err)
    if kind == "classification" and len(labels) < 2:
        raise err("labels", "a classification task needs at least 2 labels")
    label_map = {str(k): str(v) for k, v in (_mapping(raw.get("label_map", {}), "label_map", err)).items()}
    for k, v in label_map.items():
        if v not in labels:
            raise err(f"label_map.{k}", f"{v!r} is not in labels {labels}")
    keywords = {}
    for label, words in _mapping(raw.get("keywords", {}), "keywords", err).items():
        if label not in labels:
            raise err(f"keywords.{label}", "not a label")
        keywords[str(label)] = tuple(_str_list(words, f"keywords.{label}", err))
    rllr, system, user = _templates(raw["templates"], raw, labels, kind, path, err)
    for key, template in (("templates.rllr", rllr), ("templates.judgement.user", user)):
        _check_placeholders(template, fields, key, err)
    metrics = _metrics(raw, kind, err)
    value_range = _value_range(raw.get("value_range", [0.0, 5.0]), err)
    folder = Path(str(raw["folder"]))
    return TaskSpec(
        name=name.strip(), kind=kind, folder=str(folder if folder.is_absolute() else path.resolve().parent / folder),
        fields=tuple(fields), rllr_template=rllr, judgement_system=system, judgement_user=user,
        labels=tuple(labels), label_map=label_map, keywords=keywords, metrics=metrics,
        value_range=value_range, group="custom", description=str(raw.get("description", "")),
    )


def _check_keys(raw: Mapping[str, Any], allowed: set[str], prefix: str, path: Path) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{path}: unknown key '{prefix}{key}' (allowed: {', '.join(sorted(allowed))})")


def _str_list(value: Any, key: str, err: Err) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise err(key, "expected a list of strings")
    return [str(v) for v in value]


def _mapping(value: Any, key: str, err: Err) -> Mapping[Any, Any]:
    if not isinstance(value, dict):
        raise err(key, "expected a mapping")
    return value


def _templates(value: Any, raw: Mapping[str, Any], labels: list[str], kind: str, path: Path,
               err: Err) -> tuple[str, str, str]:
    """(rllr, judgement system, judgement user); the judgement pair defaults from the rest."""
    templates = _mapping(value, "templates", err)
    _check_keys(templates, TEMPLATE_KEYS, "templates.", path)
    rllr = templates.get("rllr")
    if not isinstance(rllr, str) or not rllr.strip():
        raise err("templates.rllr", "expected a non-empty template string")
    judgement = _mapping(templates.get("judgement", {}), "templates.judgement", err)
    _check_keys(judgement, JUDGEMENT_KEYS, "templates.judgement.", path)
    answers = one_of(labels) if kind == "classification" else "a single number"
    background = str(raw.get("description", "")) or "Read the input and answer the question."
    system = judgement.get("system", judgement_system("text", background, answers))
    user = judgement.get("user", rllr)
    for key, v in (("templates.judgement.system", system), ("templates.judgement.user", user)):
        if not isinstance(v, str) or not v.strip():
            raise err(key, "expected a non-empty string")
    return rllr, system, user


def _check_placeholders(template: str, fields: list[str], key: str, err: Err) -> None:
    try:
        names = [n for _, n, _, _ in string.Formatter().parse(template) if n is not None]
    except ValueError as e:
        raise err(key, f"bad template ({e}); write literal braces as {{{{ }}}}") from None
    for n in names:
        if n not in fields:
            raise err(key, f"placeholder {{{n}}} is not one of fields {fields}")


def _metrics(raw: Mapping[str, Any], kind: str, err: Err) -> tuple[str, ...]:
    from rllr.eval.metrics import METRICS

    default = ["accuracy"] if kind == "classification" else ["pearson", "spearman"]
    metrics = _str_list(raw.get("metrics", default), "metrics", err)
    allowed = ("pearson", "spearman") if kind == "regression" else tuple(
        m for m in METRICS if m not in ("pearson", "spearman", "em_q"))
    for m in metrics:
        if m not in allowed:
            raise err("metrics", f"unknown metric {m!r} for kind {kind} (allowed: {', '.join(allowed)})")
    if not metrics:
        raise err("metrics", "expected at least one metric")
    return tuple(metrics)


def _value_range(value: Any, err: Err) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise err("value_range", "expected [low, high] numbers")
    lo, hi = float(value[0]), float(value[1])
    if not lo < hi:
        raise err("value_range", f"low {lo} must be below high {hi}")
    return lo, hi
