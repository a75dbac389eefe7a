"""Tasks of both papers: data fields, label words, prompts, answer parsers and metrics.

    from rllr.tasks import get_task
    task = get_task("sst2")
"""

from rllr.tasks.base import Example, Format, Prompt, Task, TaskSpec

__all__ = ["Example", "Format", "Prompt", "Task", "TaskSpec", "get_task", "list_tasks"]


def get_task(name: str) -> Task:
    from rllr.tasks.registry import get_task as _get

    return _get(name)


def list_tasks() -> list[str]:
    from rllr.tasks.registry import list_tasks as _list

    return _list()
