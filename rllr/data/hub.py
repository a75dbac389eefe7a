"""Task records from the Hugging Face hub through `datasets` (`--data-dir hub`).

Only for users who can reach the hub; rllr itself, its tests and the default pipeline read
local folders. A task's `TaskSpec.hub` names the dataset (`("glue", "sst2")`) and
`hub_fields` maps its columns to the record fields the task uses. GLUE/SuperGLUE test
labels are hidden, so the hub's validation split serves as rllr's test split (as in
../shared/data). Integer class labels stay integers when the task's label map knows them,
otherwise they become the dataset's class names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rllr.errors import DataError

if TYPE_CHECKING:
    from rllr.tasks.base import Task

HUB_SPLITS = {"train": ("train",), "test": ("validation", "validation_matched", "test")}


def load_hub_records(task: Task, split: str) -> list[dict[str, Any]]:
    """Rows of `task`'s hub dataset for rllr split 'train' or 'test', renamed to the task's fields."""
    if not task.spec.hub:
        raise DataError(f"task {task.name!r}: no hub dataset is known (use --data-dir with a local folder)")
    import datasets

    path, *name = task.spec.hub
    last_error: Exception | None = None
    for hub_split in HUB_SPLITS[split]:
        try:
            ds = datasets.load_dataset(path, *name, split=hub_split)
        except ValueError as e:  # unknown split name: try the next one
            last_error = e
            continue
        except Exception as e:  # noqa: BLE001 - offline, missing dataset, ...: one line for the user
            raise DataError(f"hub:{'/'.join(task.spec.hub)}: cannot load ({type(e).__name__}: {e})") from None
        return [_rename(task, row, ds.features) for row in ds]
    raise DataError(f"hub:{'/'.join(task.spec.hub)}: no split among {HUB_SPLITS[split]} ({last_error})")


def _rename(task: Task, row: dict[str, Any], features: Any) -> dict[str, Any]:
    out = {task.spec.hub_fields.get(k, k): v for k, v in row.items()}
    label = out.get("label")
    feature = features.get("label") if hasattr(features, "get") else None
    names = getattr(feature, "names", None)
    if isinstance(label, int) and names and str(label) not in task.spec.label_map and 0 <= label < len(names):
        out["label"] = names[label]
    return out
