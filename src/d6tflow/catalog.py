"""What is in the data folder, read from the manifests: a catalog of outputs, and a full check
that every output still has the content it was written with."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from d6tflow import settings
from d6tflow.code_fingerprint import code_digest
from d6tflow.graph import Graph
from d6tflow.provenance import manifest_of, output_folder
from d6tflow.stores import store_for
from d6tflow.task import as_task_list

if TYPE_CHECKING:
    import pandas as pd


def catalog(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every output under the data folder, one row per current output (the latest run of each
    task), from the manifests; ``d6tflow.history()`` lists every run over time.

    Columns: task_family, task_id, params, started, duration (s), size (bytes of all outputs),
    outputs (their file names), code (fingerprint of the task's code), folder.

    >>> d6tflow.catalog().sort_values("started").tail()
    """
    import pandas as pd

    rows = []
    for manifest, manifest_folder in _all_manifests(folder):
        outputs = manifest["outputs"]
        code = manifest.get("code")
        rows.append(
            {
                "task_family": manifest["task_family"],
                "task_id": manifest["task_id"],
                "params": manifest["params"],
                "started": pd.Timestamp(manifest["started"]),
                "duration": manifest["duration"],
                "size": sum(rec["size"] for rec in outputs.values()),
                "outputs": [rec["file"] for rec in outputs.values()],
                "code": code if isinstance(code, str) else code_digest(code or {}),
                "folder": manifest_folder,
            }
        )
    columns = ["task_family", "task_id", "params", "started", "duration", "size", "outputs"]
    return pd.DataFrame(rows, columns=[*columns, "code", "folder"])


def verify(tasks: Any = None, folder: str | os.PathLike | None = None) -> list[dict]:
    """Re-hash outputs in full and list those that no longer match their manifest.

    ``tasks``: a task or list of tasks (checks them and everything upstream); default: every
    manifest under ``folder`` (default: the data folder; ignored when ``tasks`` are given).
    Outputs without a record (legacy) and damaged records are not checked. Returns a list,
    empty when all is well, of ``{"task_id", "output", "file", "problem"}``; ``problem`` is
    ``"missing"``, ``"size <n> bytes, written as <m>"`` or ``"content differs from what was
    written"``.

    A state check hashes an output only when its size or modification time differs from the
    record, so such a mismatch also makes the task PENDING in ``preview`` and ``outputLoad``
    refuses it. An output whose content changed while its size and time stayed the same (times
    restored by hand, a disk error) is found only here.

    >>> d6tflow.verify()  # [] when every recorded output has the content it was written with
    """
    problems = []
    for manifest, manifest_folder in _manifests_to_check(tasks, folder):
        for key, record in manifest["outputs"].items():
            path = os.path.join(manifest_folder, record["file"])
            problem = _check_output(path, record)
            if problem:
                problems.append(
                    {
                        "task_id": manifest["task_id"],
                        "output": key,
                        "file": path,
                        "problem": problem,
                    }
                )
    return problems


def _check_output(path: str, record: dict) -> str | None:
    where = store_for(path)
    stat = where.stat(path)
    if stat is None:
        return "missing"
    if stat[0] != record["size"]:
        return f"size {stat[0]} bytes, written as {record['size']}"
    if where.content_hash(path) != record["hash"]:
        return "content differs from what was written"
    return None


def _all_manifests(folder: str | os.PathLike | None) -> list[tuple[dict, str]]:
    """(manifest, folder) of every committed task run under ``folder`` (default: data folder)."""
    root = folder or settings.dirpath
    return [
        (manifest, log.folder)
        for log in store_for(root).records_under(root)
        for manifest in log.all().values()
    ]


def _manifests_to_check(tasks: Any, folder: str | os.PathLike | None) -> list[tuple[dict, str]]:
    if tasks is None:
        return _all_manifests(folder)
    found = []
    for task in Graph(as_task_list(tasks)).order:
        manifest = manifest_of(task, fresh=True)
        if manifest is not None:
            found.append((manifest, output_folder(task)))
    return found
