"""Deleting outputs so tasks rerun: upstream, downstream, or the whole data folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from d6tflow import cache, locks, settings, store
from d6tflow.errors import MissingArgumentError
from d6tflow.graph import Graph, matching, taskflow_upstream
from d6tflow.provenance import file_paths, output_folder
from d6tflow.sharing import tasks_of
from d6tflow.stores import is_url, store_for
from d6tflow.targets import CacheTarget, DataTarget
from d6tflow.task import Task
from d6tflow.task_data import TaskData
from d6tflow.utils import confirm_prompt


def invalidate_tasks(tasks: Iterable[Task], confirm: bool, action: str) -> bool:
    """Delete the outputs of ``tasks`` (each once), after one prompt naming ``action`` when
    ``confirm``; False if the user declined."""
    unique = list(dict.fromkeys(tasks))
    if confirm and unique and not confirm_prompt(action, unique):
        print("Cancelled")
        return False
    for task in unique:
        task.invalidate(confirm=False)
    return True


def invalidate_upstream(task: Task, confirm: bool = False) -> bool:
    """Delete the outputs of ``task`` and of every task upstream of it."""
    return invalidate_tasks(taskflow_upstream(task), confirm, f"invalidating upstream of {task!r}")


def complete_between(task: Task, task_downstream: Task) -> list[Task]:
    """The complete tasks on the paths from ``task_downstream`` down to ``task`` (both included;
    ``task`` stands for every task of its class when it is not in the flow), upstream first."""
    graph = Graph([task_downstream])
    between = graph.between(matching(graph, task), task_downstream)
    state = graph.complete_states()
    return [t for t in graph.order if t in between and state[t]]


def invalidate_downstream(task: Task, task_downstream: Task, confirm: bool = False) -> bool:
    """Delete the outputs of the complete tasks on the paths from ``task_downstream`` down to
    ``task`` (both included); other branches stay."""
    tasks = complete_between(task, task_downstream)
    return invalidate_tasks(tasks, confirm, f"invalidating {task!r} down to {task_downstream!r}")


def invalidate_all(confirm: bool = True) -> bool:
    """Delete every file under the data folder (``d6tflow.settings.dirpath``) and every in-memory
    output, after listing them and asking (unless ``confirm=False``)."""
    where = store_for(settings.dirpath)
    files = where.files_under(settings.dirpath)
    if confirm and not confirm_prompt(f"deleting everything under {settings.dirpath}", files):
        print("Cancelled")
        return False
    for path in files:
        where.remove(path)
    cache.data.clear()
    where.forget_folders()
    return True


def invalidate_orphans(tasks: Any = None, confirm: bool = True) -> list[Path]:
    """Delete what under the data folder none of ``tasks`` produces any more: outputs of old
    parameter settings, of renamed or removed tasks, leftovers of interrupted runs.

    ``tasks``: a task, a list of tasks, or Workflow/WorkflowMulti objects; everything upstream of
    them is kept (outputs, metadata, manifests). Lists the files and asks first (unless
    ``confirm=False``); returns the files deleted.
    """
    found = orphans(tasks, "invalidate_orphans")
    if not found:
        return []
    if confirm and not confirm_prompt("deleting outputs no flow produces", found):
        print("Cancelled")
        return []
    where = store_for(settings.dirpath)
    for path in found:
        where.remove(path)
    _forget_removed_runs(found)
    _remove_empty_folders(settings.dirpath)
    return found


def orphans(tasks: Any, who: str = "orphans") -> list[Path]:
    """The files under the data folder that :func:`invalidate_orphans` would delete: none of
    ``tasks`` (or what they need) produces them. A temporary file counts only once the run that
    wrote it has ended (:func:`dead_temps`): one still being written belongs to a run going on.

    >>> d6tflow.invalidation.orphans([TaskTrain()])  # what `d6tflow gc flow.py:TaskTrain` lists
    """
    if tasks is None:
        raise MissingArgumentError(
            f"{who} needs the tasks (or flows) whose outputs to keep, e.g. "
            f"{who}([TaskTrain()]); to delete everything use invalidate_all()"
        )
    keep = _files_of(tasks_of(tasks, who))
    dead = {_where(p) for p in dead_temps()}
    return [
        path
        for path in store_for(settings.dirpath).files_under(settings.dirpath)
        if _where(path) not in keep
        and (not os.path.basename(path).startswith(store.TEMP_PREFIX) or _where(path) in dead)
    ]


def dead_temps(folder: str | os.PathLike | None = None, remove: bool = False) -> list[Path]:
    """The temporary files under ``folder`` (default: the data folder) that runs which ended
    before saving left behind (killed mid-save); ``remove=True`` deletes them. A run leaves none
    in a remote folder.

    >>> d6tflow.invalidation.dead_temps()  # what `d6tflow gc` lists
    """
    root = settings.dirpath if folder is None else folder
    if is_url(root) or not os.path.isdir(root):
        return []
    return [
        Path(parent, name)
        for parent, _, names in os.walk(root)
        if any(n.startswith(store.TEMP_PREFIX) for n in names)
        for name in store.dead_temps(parent, locks.try_locked, remove)
    ]


def _files_of(roots: list[Task]) -> set[str]:
    keep: set[str] = set()
    for task in Graph(roots).order:
        if not isinstance(task, TaskData):
            continue
        output = task.output()
        targets = output.values() if isinstance(output, dict) else [output]
        keep.update(_where(_path_of(t)) for t in targets if not isinstance(t, CacheTarget))
        # What an output needs besides its file (the SQLite database of SQL outputs).
        keep.update(_where(p) for t in targets if isinstance(t, DataTarget) for p in t.companions())
        keep.add(_where(task._meta_path()))
        if file_paths(task):
            folder = output_folder(task)
            kept = store_for(folder).bookkeeping_files(folder, task.task_id)
            keep.update(_where(path) for path in kept)
    return keep


def _forget_removed_runs(removed: list[Path]) -> None:
    """Drop the manifests of task runs whose outputs were just deleted from the logs kept."""
    gone = {_where(p) for p in removed}
    for log in store_for(settings.dirpath).records_under(settings.dirpath):
        for task_id, manifest in list(log.all().items()):
            files = (os.path.join(log.folder, r["file"]) for r in manifest["outputs"].values())
            if any(_where(f) in gone for f in files):
                log.remove(task_id)


def _where(path: Any) -> str:
    """A file's path to compare: absolute if local, the URL as it is if remote."""
    text = path if isinstance(path, str) else str(path)
    return text if "://" in text else os.path.abspath(text)


def _path_of(target: Any) -> Any:
    return os.fspath(target) if isinstance(target, DataTarget) else target.path


def _remove_empty_folders(folder: Path) -> None:
    if "://" in str(folder):
        return  # object stores have no empty folders
    for root, dirs, files in os.walk(folder, topdown=False):
        if not dirs and not files and Path(root) != Path(folder):
            with contextlib.suppress(OSError):
                os.rmdir(root)
