"""Deleting outputs so tasks rerun: upstream, downstream, or the whole data folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from d6tflow import cache, settings, store
from d6tflow.graph import Graph, matching, taskflow_upstream
from d6tflow.utils import confirm_prompt

if TYPE_CHECKING:
    from d6tflow.task import Task


def _invalidate(tasks: list[Task], confirm: bool, action: str) -> bool:
    if not tasks:
        return True
    if confirm and not confirm_prompt(action, tasks):
        print("Cancelled")
        return False
    for task in tasks:
        task.invalidate(confirm=False)
    return True


def invalidate_upstream(task: Task, confirm: bool = False) -> bool:
    """Delete the outputs of ``task`` and of every task upstream of it."""
    return _invalidate(taskflow_upstream(task), confirm, f"invalidating upstream of {task!r}")


def invalidate_downstream(task: Task, task_downstream: Task, confirm: bool = False) -> bool:
    """Delete the outputs of the complete tasks on the paths from ``task_downstream`` down to
    ``task`` (both included); other branches stay."""
    graph = Graph([task_downstream])
    between = graph.between(matching(graph, task), task_downstream)
    state = graph.complete_states()
    tasks = [t for t in graph.order if t in between and state[t]]
    return _invalidate(tasks, confirm, f"invalidating {task!r} down to {task_downstream!r}")


def invalidate_all(confirm: bool = True) -> bool:
    """Delete every file under the data folder (``d6tflow.settings.dirpath``) and every in-memory
    output, after listing them and asking (unless ``confirm=False``)."""
    files = store.files_under(settings.dirpath)
    if confirm and not confirm_prompt(f"deleting everything under {settings.dirpath}", files):
        print("Cancelled")
        return False
    for path in files:
        store.remove(path)
    cache.data.clear()
    store._made_dirs.clear()
    return True


def invalidate_orphans(*args: object, **kwargs: object) -> None:
    """Not available yet: finding outputs no flow produces needs the provenance manifests."""
    raise NotImplementedError(
        "invalidate_orphans needs output manifests (provenance), which this version does not "
        "write yet. Use invalidate_all() or delete the folders by hand."
    )
