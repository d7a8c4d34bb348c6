"""``push`` and ``pull``: share a flow's outputs with a team through a remote folder.

>>> d6tflow.set_remote("s3://team-bucket/project")
>>> d6tflow.push(TaskTrain())        # TaskTrain and everything upstream of it
>>> d6tflow.pull(TaskTrain())        # on another machine: then TaskTrain().outputLoad()

A task's folder in the remote mirrors its folder under the local data folder (or under its own
``path``). What moves and how it is checked is in transfer.py.
"""

from __future__ import annotations

from typing import Any

from d6tflow import settings
from d6tflow.errors import UsageError
from d6tflow.graph import Graph
from d6tflow.stores import folder_text, get_remote, is_url
from d6tflow.task import Task
from d6tflow.transfer import Item, Moved, item_of
from d6tflow.transfer import pull as pull_items
from d6tflow.transfer import push as push_items

__all__ = ["pull", "push", "tasks_of"]


def tasks_of(items: Any, who: str) -> list[Task]:
    """The tasks that ``items`` stand for: tasks, lists of them, or Workflow/WorkflowMulti
    objects (their default tasks)."""
    found: list[Task] = []
    for item in items if isinstance(items, (list, tuple, set)) else [items]:
        if isinstance(item, Task):
            found.append(item)
        elif hasattr(item, "get_task"):  # a Workflow or WorkflowMulti: its default task(s)
            task = item.get_task()
            found.extend(task.values() if isinstance(task, dict) else [task])
        else:
            raise UsageError(f"{who}: {item!r} is not a task or a flow")
    return found


def items_of(tasks: list[Task], url: str, upstream: bool = True) -> list[Item]:
    """Each task's files here and its folder in the remote at ``url``; upstream tasks too."""
    order = Graph(tasks).order if upstream else tasks
    found = []
    for task in order:
        file_paths = getattr(task, "_file_paths", None)
        if file_paths is None:
            continue
        paths, folder = file_paths()
        if not paths:  # in memory, or a custom target: nothing d6tflow can move
            continue
        root = (
            folder_text(task.path) if getattr(task, "path", None) else folder_text(settings.dirpath)
        )
        if is_url(folder):
            raise UsageError(
                f"{task!r} writes to the remote folder {folder}: push and pull copy between a "
                "local data folder and a remote one. Its outputs are already shared there."
            )
        meta = task._meta_path() if hasattr(task, "_meta_path") else None
        found.append(item_of(task.task_id, paths, folder, root, url, meta))
    return found


def push(
    tasks: Any,
    remote: Any = None,
    upstream: bool = True,
    force: bool = False,
    show: bool = True,
    storage_options: dict | None = None,
) -> Moved:
    """Upload the outputs of ``tasks`` (and, ``upstream=True``, of every task they need) to the
    remote (``set_remote``, or ``remote=`` a URL), with their records. Only tasks whose remote
    outputs differ move. A remote output made later than yours is replaced only with
    ``force=True``. Prints a one-line summary (``show=False``: not) and returns it
    (:class:`~d6tflow.transfer.Moved`: ``tasks``, ``files``, ``bytes``)."""
    where = get_remote(remote, storage_options=storage_options)
    moved = push_items(items_of(tasks_of(tasks, "push"), where.url, upstream), where, force, show)
    if show:
        print(moved)
    return moved


def pull(
    tasks: Any,
    remote: Any = None,
    upstream: bool = True,
    force: bool = False,
    trusted: bool | None = None,
    show: bool = True,
    storage_options: dict | None = None,
) -> Moved:
    """Download the outputs of ``tasks`` (and, ``upstream=True``, of every task they need) from
    the remote (``set_remote``, or ``remote=`` a URL). Every file is checked against the content
    hash of its record before it appears here, with the record. A local output that differs from
    the remote one is replaced only with ``force=True``. ``trusted=True`` marks the remote as
    trusted: its pickles may be loaded. Prints a one-line summary and returns it."""
    where = get_remote(remote, trusted=trusted, storage_options=storage_options)
    moved = pull_items(items_of(tasks_of(tasks, "pull"), where.url, upstream), where, force, show)
    if show:
        print(moved)
    return moved
