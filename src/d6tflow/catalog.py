"""What is in the data folder, read from the manifests: a catalog of outputs, and a full check
that every output still has the content it was written with."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from d6tflow import settings
from d6tflow.fingerprint import file_hash, file_stat, text_hash
from d6tflow.provenance import MANIFEST_SUFFIX, file_targets, manifest_path, read_manifest

if TYPE_CHECKING:
    import pandas as pd


def _manifest_files(folder: str | os.PathLike) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(MANIFEST_SUFFIX))
    return found


def catalog(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every output under the data folder, one row per task run, from the manifests.

    Columns: task_family, task_id, params, started, duration (s), size (bytes of all outputs),
    outputs (their file names), code (fingerprint of the task's code), folder.

    >>> d6tflow.catalog().sort_values("started").tail()
    """
    import pandas as pd

    rows = []
    for path in _manifest_files(folder or settings.dirpath):
        manifest = read_manifest(path)
        if not isinstance(manifest, dict):
            continue
        outputs = manifest["outputs"]
        code = "|".join(f"{k}={v}" for k, v in sorted(manifest.get("code", {}).items()))
        rows.append(
            {
                "task_family": manifest["task_family"],
                "task_id": manifest["task_id"],
                "params": manifest["params"],
                "started": pd.Timestamp(manifest["started"]),
                "duration": manifest["duration"],
                "size": sum(rec["size"] for rec in outputs.values()),
                "outputs": [rec["file"] for rec in outputs.values()],
                "code": text_hash(code),
                "folder": os.path.dirname(path),
            }
        )
    columns = ["task_family", "task_id", "params", "started", "duration", "size", "outputs"]
    return pd.DataFrame(rows, columns=[*columns, "code", "folder"])


def verify(tasks: Any = None, folder: str | os.PathLike | None = None) -> list[dict]:
    """Re-hash outputs in full and list those that no longer match their manifest.

    ``tasks``: a task or list of tasks (checks them and everything upstream); default: every
    manifest under the data folder. Returns a list (empty when all is well) of
    ``{"task_id", "output", "file", "problem"}``; a mismatching task is also PENDING in preview,
    and ``outputLoad`` refuses it.
    """
    problems = []
    for manifest_file in _manifests_to_check(tasks, folder):
        manifest = read_manifest(manifest_file)
        if not isinstance(manifest, dict):
            problems.append(
                {
                    "task_id": os.path.basename(manifest_file).removesuffix(MANIFEST_SUFFIX),
                    "output": None,
                    "file": manifest_file,
                    "problem": "manifest unreadable",
                }
            )
            continue
        for key, record in manifest["outputs"].items():
            path = os.path.join(os.path.dirname(manifest_file), record["file"])
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
    stat = file_stat(path)
    if stat is None:
        return "missing"
    if stat[0] != record["size"]:
        return f"size {stat[0]} bytes, written as {record['size']}"
    if file_hash(path) != record["hash"]:
        return "content differs from what was written"
    return None


def _manifests_to_check(tasks: Any, folder: str | os.PathLike | None) -> list[str]:
    if tasks is None:
        return _manifest_files(folder or settings.dirpath)
    from d6tflow.graph import Graph
    from d6tflow.scheduler import _as_task_list

    found = []
    for task in Graph(_as_task_list(tasks)).order:
        targets = file_targets(task) if hasattr(task, "persist") else {}
        if targets and os.path.exists(path := manifest_path(task)):
            found.append(path)
    return found
