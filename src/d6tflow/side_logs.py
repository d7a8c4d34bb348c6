"""Two append-only files beside a local folder's manifest log, read only by ``d6tflow.history``
and ``d6tflow.why``, never by a state check (manifests.py writes the first, this module reads
both and writes the second):

* ``.history.jsonl``: the records ``.manifests.jsonl`` dropped when compacted (runs superseded
  by later ones, runs whose outputs were deleted), so the history of runs outlives compaction.
  A commit does not touch it: it still appends one line to the log, and compaction (rare) moves
  the old lines here.
* ``.sources.jsonl``: ``{"member": hash, "text": source}``, the normalized source of each
  fingerprinted member, written when a folder first records a code digest, for members whose
  hash the file does not have yet. It is what lets ``why`` show a diff of code that changed.

Both stay when the folder's outputs are deleted (a reset, a forced rerun): the history of a
folder's only task survives its reruns. A line counts only with its final newline; a line torn by
a crash is skipped, and the next writer starts on a new line. Duplicates (a compaction
interrupted after writing here, two processes recording the same new code) are harmless:
readers deduplicate.
"""

from __future__ import annotations

import os

from d6tflow import locks
from d6tflow.manifests import (
    HISTORY_NAME,
    LOG_NAME,
    SOURCES_NAME,
    append_lines,
    parse_records,
)

__all__ = [
    "HISTORY_NAME",
    "SOURCES_NAME",
    "folders_with_runs",
    "keep_sources",
    "read_lines",
    "read_sources",
]


def read_lines(path: str) -> list[dict]:
    """The records of the file at ``path`` (none if it does not exist)."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except FileNotFoundError:
        return []
    end = blob.rfind(b"\n") + 1
    return parse_records(blob[:end])


def folders_with_runs(root: str | os.PathLike) -> list[str]:
    """The folders below ``root`` with a record log or a history file, sorted."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        if LOG_NAME in files or HISTORY_NAME in files:
            found.append(folder)
    return found


def keep_sources(folder: str, sources: dict[str, str]) -> None:
    """Record ``{member hash: source}`` in ``folder``, those it does not have yet."""
    path = os.path.join(folder, SOURCES_NAME)
    with locks.append_locked(folder):
        known = read_sources(folder)
        append_lines(path, [{"member": h, "text": t} for h, t in sources.items() if h not in known])


def read_sources(folder: str) -> dict[str, str]:
    """``{member hash: source}`` recorded in ``folder``."""
    found = {}
    for line in read_lines(os.path.join(folder, SOURCES_NAME)):
        member, text = line.get("member"), line.get("text")
        if isinstance(member, str) and isinstance(text, str):
            found[member] = text
    return found
