"""``d6tflow.why(task)``: what exactly changed since a task's outputs were made.

A thin layer over the state check and the records: the state and its reasons come from the
same check ``preview`` and ``run`` use; this module only looks up the details behind them — a diff
of each changed piece of code (the normalized source each folder keeps beside its records), the
parameters that differ from the nearest earlier run of the same class, and the upstream outputs
and input files that changed, with sizes and times. It decides nothing.
"""

from __future__ import annotations

import datetime
import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

from d6tflow import settings
from d6tflow.code_fingerprint import code_digest_of, code_sources
from d6tflow.fingerprint import file_hash, file_stat
from d6tflow.graph import Graph
from d6tflow.manifests import is_file_record
from d6tflow.provenance import declared_inputs, file_paths, manifest_of, output_folder
from d6tflow.run_history import runs_in
from d6tflow.storage import LOCAL
from d6tflow.stores import store_for


@dataclass
class Why:
    """What :func:`why` found. ``str()`` is the text to read; :meth:`to_dict` the same as data.

    ``code``: ``[{"member", "diff"}]``, a unified diff per changed member ("" when the earlier
    source was not kept); ``params``: ``{name: [earlier, now]}`` against the run ``compared_with``
    (a task id); ``upstream``: ``[{"task", "state", "outputs": [{"file", "size", "modified"}]}]``;
    ``inputs``: ``[{"path", "change", "size", "modified", "recorded_size", "recorded_modified"}]``.
    """

    task: str
    state: str
    reasons: list[str]
    accepted: str | None = None
    code: list[dict] = field(default_factory=list)
    compared_with: str | None = None
    params: dict[str, list] = field(default_factory=dict)
    upstream: list[dict] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [
            f"{self.task} is {self.state}"
            + (": " + "; ".join(self.reasons) if self.reasons else "")
        ]
        if self.accepted:
            when = datetime.datetime.fromisoformat(self.accepted).astimezone()
            lines.append(
                f"Its code was accepted on {when:%Y-%m-%d %H:%M:%S} (d6tflow.accept), not rerun."
            )
        if self.state == "COMPLETE":
            lines.append("Nothing changed that makes it rerun.")
            return "\n".join(lines)
        for change in self.code:
            lines.append(f"Code of {change['member']} changed:")
            lines.append(change["diff"].rstrip("\n") or "  (the earlier source was not kept)")
        if self.params:
            lines.append(
                f"Parameters that differ from the nearest earlier run ({self.compared_with}):"
            )
            lines += [f"  {name}: {old!r} -> {new!r}" for name, (old, new) in self.params.items()]
        for dep in self.upstream:
            if not dep["outputs"]:
                lines.append(f"Upstream {dep['task']} is {dep['state']}: it runs first.")
                continue
            lines.append(f"Upstream {dep['task']} output changed:")
            lines += [
                f"  {o['file']}: {o['size']:,} bytes, modified {o['modified']}"
                for o in dep["outputs"]
            ]
        for change in self.inputs:
            line = f"Input file {change['path']} {change['change']}"
            if change["size"] is not None:
                line += f": {change['size']:,} bytes, modified {change['modified']}"
            if change["recorded_size"] is not None:
                line += (
                    f" (was {change['recorded_size']:,} bytes, modified "
                    f"{change['recorded_modified']})"
                )
            lines.append(line)
        return "\n".join(lines)


def why(task: Any) -> Why:
    """Why ``task`` is pending or stale, in detail: the state and reasons ``preview`` shows,
    then a diff of each piece of code that changed, the parameters that differ from the nearest
    earlier run of the same class, and the upstream outputs and input files that changed.

    >>> print(d6tflow.why(TaskTrain()))
    TaskTrain() is STALE: code of TaskTrain.run changed
    Code of TaskTrain.run changed:
    ...
    """
    graph = Graph([task])
    states = graph.states()
    status = states[task]
    record = manifest_of(task)
    found = Why(
        task=repr(task),
        state=status.state.value,
        reasons=list(status.reasons),
        accepted=record.get("accepted") if record else None,
    )
    if status.complete:
        return found
    if record is not None:
        found.code = _code_diffs(task, record)
        found.inputs = _input_changes(task, record.get("inputs") or {})
    if file_paths(task):
        found.compared_with, found.params = _parameter_changes(task)
    for dep in graph.deps[task]:
        change = _upstream_change(dep, states[dep], record)
        if change is not None:
            found.upstream.append(change)
    return found


def _code_diffs(task: Any, record: dict) -> list[dict]:
    cls = type(task)
    if not settings.track_code or task.external or record.get("code") == code_digest_of(cls):
        return []
    folder = output_folder(task)
    where = store_for(folder)
    recorded = where.records(folder).code_members(record.get("code"))
    if recorded is None:  # the log no longer says which parts
        return [{"member": task.task_family, "diff": ""}]
    now = code_sources(cls)
    kept = where.sources(folder)
    changes = []
    for name in sorted(recorded.keys() | now.keys()):
        old_hash, (new_hash, new_text) = recorded.get(name), now.get(name, (None, ""))
        if old_hash == new_hash:
            continue
        old_text = "" if old_hash is None else kept.get(old_hash)
        diff = ""
        if old_text is not None:
            diff = "".join(
                difflib.unified_diff(
                    _lines(old_text), _lines(new_text), f"{name} (recorded)", f"{name} (now)"
                )
            )
        changes.append({"member": name, "diff": diff})
    return changes


def _lines(text: str) -> list[str]:
    return [line + "\n" for line in text.splitlines()]


def _parameter_changes(task: Any) -> tuple[str | None, dict[str, list]]:
    """(the nearest earlier run of the task's class, {parameter: [its value, this task's]}):
    nothing if the task ran here before with these parameters."""
    runs = [r for r in runs_in(output_folder(task)) if r.get("task_family") == task.task_family]
    if not runs or any(r["task_id"] == task.task_id for r in runs):
        return None, {}
    mine = task.to_str_params(only_significant=True)

    def differences(run: dict) -> dict[str, list]:
        theirs = run.get("params") or {}
        names = sorted(mine.keys() | theirs.keys())
        return {n: [theirs.get(n), mine.get(n)] for n in names if theirs.get(n) != mine.get(n)}

    # The fewest differences; among equals, the latest run.
    nearest = min(reversed(runs), key=lambda r: len(differences(r)))
    return nearest["task_id"], differences(nearest)


def _upstream_change(dep: Any, status: Any, record: dict | None) -> dict | None:
    entry = {"task": repr(dep), "state": status.state.value, "outputs": []}
    if not status.complete:
        return entry
    recorded = (record or {}).get("upstream") or {}
    if (
        dep.task_id not in recorded
        or status.hashes is None
        or recorded[dep.task_id] == status.hashes
    ):
        return None
    for key, path in file_paths(dep).items():
        if recorded[dep.task_id].get(key) == status.hashes.get(key):
            continue
        where = store_for(path)
        seen = where.stat(path)
        if seen is not None:  # a remote store's second number is a change stamp, not a time
            when = _when(seen[1]) if where is LOCAL else None
            entry["outputs"].append({"file": path, "size": seen[0], "modified": when})
    return entry


def _input_changes(task: Any, recorded: dict) -> list[dict]:
    changes = []
    for path in declared_inputs(task):
        record = recorded.get(path) if isinstance(recorded, dict) else None
        seen = file_stat(path)
        was = record if is_file_record(record) else None
        if seen is None:
            change = "missing"
        elif was is None:
            change = "new"
        elif (was["size"], was["mtime_ns"]) != seen and file_hash(path) != was["hash"]:
            change = "changed"
        else:
            continue
        changes.append(
            {
                "path": path,
                "change": change,
                "size": None if seen is None else seen[0],
                "modified": None if seen is None else _when(seen[1]),
                "recorded_size": None if was is None else was["size"],
                "recorded_modified": None if was is None else _when(was["mtime_ns"]),
            }
        )
    return changes


def _when(mtime_ns: int) -> str:
    """A file time as local date and time, to the second."""
    return datetime.datetime.fromtimestamp(mtime_ns / 1e9).isoformat(sep=" ", timespec="seconds")
