"""The runs of tasks over time, read from the records: ``d6tflow.history()``.

Every commit appends a record to its folder's log; compaction moves the superseded ones to the
folder's history file (side_logs.py), so every run a folder saw stays readable. A record
rewritten for the same run (new file times after a copy, code accepted with ``d6tflow.accept``)
counts once, as its latest version.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from d6tflow import settings
from d6tflow.manifests import well_formed
from d6tflow.provenance import file_paths, output_folder
from d6tflow.sharing import tasks_of
from d6tflow.stores import store_for

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = [
    "task_family",
    "task_id",
    "params",
    "started",
    "duration",
    "reason",
    "accepted",
    "metadata",
    "size",
    "code",
]


def history(tasks: Any = None, folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every recorded run, one row per run, newest last.

    ``tasks``: a task, a list of tasks or flows (their own runs only); default: every run under
    ``folder`` (default: the data folder). Columns: task_family, task_id, params, started,
    duration (s), reason (why it ran, as the run's summary said), accepted (when its code was
    accepted with ``d6tflow.accept``, else None), metadata (what ``metaSave`` saved, when it is
    small JSON data, else None), size (bytes of all outputs), code (fingerprint of the code).
    ``d6tflow.catalog()`` lists only the current output of each task.

    >>> d6tflow.history(TaskTrain())[["params", "started", "metadata"]]
    """
    import pandas as pd

    rows = [
        {
            "task_family": r.get("task_family"),
            "task_id": r["task_id"],
            "params": r.get("params"),
            "started": pd.Timestamp(r["started"]),
            "duration": r.get("duration"),
            "reason": r.get("reason"),
            "accepted": pd.Timestamp(r["accepted"]) if r.get("accepted") else None,
            "metadata": r.get("meta"),
            "size": sum(e["size"] for e in r["outputs"].values()),
            "code": r.get("code") if isinstance(r.get("code"), str) else None,
        }
        for r in runs(tasks, folder)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def runs(tasks: Any = None, folder: str | os.PathLike | None = None) -> list[dict]:
    """The records of :func:`history`'s rows, oldest first."""
    if tasks is None:
        root = folder or settings.dirpath
        folders = store_for(root).folders_with_runs(root)
        wanted = None
    else:
        chosen = [t for t in tasks_of(tasks, "history") if file_paths(t)]
        folders = list(dict.fromkeys(output_folder(t) for t in chosen))
        wanted = {t.task_id for t in chosen}
    found: list[dict] = []
    for name in folders:
        found.extend(runs_in(name, wanted))
    return sorted(found, key=lambda r: r["started"])


def runs_in(folder: str, task_ids: set[str] | None = None) -> list[dict]:
    """The runs recorded in ``folder`` (of ``task_ids`` only, if given), oldest first."""
    latest: dict[tuple[str, str], dict] = {}
    for record in store_for(folder).run_records(folder):
        task_id = record.get("task_id")
        if not isinstance(task_id, str) or record.get("removed"):
            continue
        if task_ids is not None and task_id not in task_ids:
            continue
        if not well_formed(record) or not isinstance(record.get("started"), str):
            continue
        latest.pop((task_id, record["started"]), None)  # a rewrite of a run counts as its last
        latest[task_id, record["started"]] = record
    return sorted(latest.values(), key=lambda r: r["started"])
