"""What tests see of a data folder: a finished run, and the files a user would see."""

from __future__ import annotations

import pathlib

import d6tflow


def ran(task):
    """``task`` after ``d6tflow.run`` ran it (or found it complete), without the summary."""
    d6tflow.run(task, execution_summary=False)
    return task


def files_in(folder):
    """Files a user would see: outputs, metadata, manifests (not the hidden per-task lock files)."""
    # Nor the history and code sources a folder keeps after its outputs go (docs/provenance.md).
    kept = (".lock", ".history.jsonl", ".sources.jsonl")
    return sorted(
        p for p in pathlib.Path(folder).rglob("*") if p.is_file() and not p.name.endswith(kept)
    )


def left_after_reset(folder):
    """What a reset leaves besides the manifest logs, which keep its tombstone (so a later state
    check says "output deleted")."""
    return [p for p in files_in(folder) if p.name != ".manifests.jsonl"]
