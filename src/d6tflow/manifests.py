"""The manifest log of an output folder: one JSON line per committed task run, appended.

Every folder of outputs holds ``.manifests.jsonl``. Committing a task appends its manifest as one
line; the latest line of a task id is the one that counts, and removing a task's outputs appends
a tombstone (``{"task_id": …, "removed": true}``), kept until the task commits again, so a
state check can say its output was deleted. An append costs microseconds where a file per
manifest cost a file creation and a rename, and a state check reads one file per folder instead of
one per task. A reader keeps what it has read and later reads only what was appended since.

A task's code fingerprint is recorded as one digest; the map of what it covers (method and
function fingerprints, to say *which* code changed) is a line of its own, ``{"code": digest,
"members": {...}}``, written once per folder and kept by compaction while a manifest refers to it.

Nothing half-written counts: a line counts only with its final newline. A line torn by a crash
(or cut short by a full disk) is never read, and the next writer, under the folder's append lock
(locks.py), cuts it off before appending; a writer whose own line cannot be written whole
truncates the log back and raises, so the commit did not happen. A record that parses but lacks
its fields is *damaged* (see ``well_formed``): its task must run again, and nothing else in the
folder is affected. When superseded lines outnumber current ones, the writer that notices
rewrites the log (atomically, under the same lock) with only the current ones.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from typing import Any

from d6tflow import locks, settings, store
from d6tflow.errors import OutputError
from d6tflow.utils import gc_paused

LOG_NAME = ".manifests.jsonl"
#: Beside the log: the records it dropped (runs superseded by later ones, runs whose outputs
#: were deleted), for history, and the normalized source of fingerprinted code, for ``why``'s
#: diffs (side_logs.py). Both stay when the folder's outputs are deleted.
HISTORY_NAME = ".history.jsonl"
SOURCES_NAME = ".sources.jsonl"
#: Rewrite a log once it holds more than this many superseded lines and more than current ones.
COMPACT_AFTER = 1000

# Compact, built once; records are plain trees of dicts (no cycles to look for).
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)

logger = logging.getLogger("d6tflow")

# Bumped at the start of each state check: a log is looked at (stat) at most once per check.
_generation = 0


def begin_check() -> None:
    """Start a state check: each folder's log is looked at again, once, when first needed."""
    global _generation
    _generation += 1


def generation() -> int:
    """The number of the current state check (remote stores list a folder once per check)."""
    return _generation


def encode_record(record: dict) -> str:
    """A record as one compact line of JSON (no newline)."""
    return _ENCODER.encode(record)


class ManifestLog:
    """The committed manifests of one folder, by task id, as last read from its log file."""

    def __init__(self, folder: str):
        self.folder = folder
        self.path = os.path.join(folder, LOG_NAME)
        self.records: dict[str, dict] = {}
        self.code: dict[str, dict[str, str]] = {}  # code digest -> the members it stands for
        self.pulled: dict[str, str] = {}  # task id -> the remote its outputs were pulled from
        self.removed: set[str] = set()  # task ids whose latest line is a tombstone
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file read
        self._offset = 0  # bytes of complete lines read
        self._lines = 0  # lines read, superseded ones included
        self._checked = -1

    def get(self, task_id: str, fresh: bool = False) -> dict | None:
        """The task's current manifest, or None. ``fresh``: look at the file even if this state
        check looked already (e.g. under the task's lock, another process may have committed)."""
        if fresh or self._checked != _generation:
            self.refresh()
        return self.records.get(task_id)

    def all(self) -> dict[str, dict]:
        """Every task's current manifest, but for damaged ones (see :func:`well_formed`)."""
        self.refresh()
        return {task_id: r for task_id, r in self.records.items() if well_formed(r)}

    def refresh(self) -> None:
        self._checked = _generation
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._reset(None)
            return
        if (st.st_dev, st.st_ino) != self._identity or st.st_size < self._offset:
            self._reset((st.st_dev, st.st_ino))  # rewritten (compacted) or replaced
        if st.st_size > self._offset:
            self._read_from(self._offset)

    def code_members(self, recorded: Any) -> dict[str, str] | None:
        """The code fingerprints a manifest's ``code`` digest stands for, if the log has them."""
        if isinstance(recorded, dict):  # manifests of d6tflow 1.0.0.dev0 held the map itself
            return recorded
        if self._checked != _generation:
            self.refresh()
        return self.code.get(recorded) if isinstance(recorded, str) else None

    def was_removed(self, task_id: str) -> bool:
        """Were the task's outputs deleted (its latest line a tombstone)? For the words of a
        state check only: a task without a record is pending either way."""
        if self._checked != _generation:
            self.refresh()
        return task_id in self.removed

    def origin_of(self, name: str) -> str | None:
        """The remote the output file ``name`` of this folder was pulled from, if it was."""
        if self._checked != _generation:
            self.refresh()
        for task_id, origin in self.pulled.items():
            outputs = self.records.get(task_id, {}).get("outputs")
            if type(outputs) is dict and any(
                type(e) is dict and e.get("file") == name for e in outputs.values()
            ):
                return origin
        return None

    def _reset(self, identity: tuple[int, int] | None) -> None:
        self.records, self.code, self.pulled, self.removed = {}, {}, {}, set()
        self._identity, self._offset, self._lines = identity, 0, 0

    def _read_from(self, offset: int) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            self._reset(None)
            return
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        if end:
            self._offset = offset + end
            with gc_paused():
                self._apply(parse_records(data if end == len(data) else data[:end]))

    def _apply(self, records: list[dict]) -> None:
        for record in records:
            self._lines += 1
            task_id = apply_record(record, self.records, self.code, self.removed)
            if task_id is None:
                continue
            if "pulled_from" in record and not record.get("removed"):
                self.pulled[task_id] = record["pulled_from"]
            elif self.pulled:
                self.pulled.pop(task_id, None)

    # -- writing -----------------------------------------------------------------------------------

    def append(self, record: dict, code_members: dict[str, str] | None = None) -> None:
        """Append ``record`` (a manifest or a tombstone): the moment a task's run is committed.
        ``code_members``: what the manifest's code digest stands for, written first if the log
        does not have it yet."""
        records = [record]
        line = _ENCODER.encode(record).encode("utf-8") + b"\n"
        digest = record.get("code")
        if code_members is not None and digest not in self.code:
            records.insert(0, {"code": digest, "members": code_members})
            line = _ENCODER.encode(records[0]).encode("utf-8") + b"\n" + line
        with locks.append_locked(self.folder):
            self._append_locked(records, line)

    def _append_locked(self, records: list[dict], line: bytes) -> None:
        """``append``'s work, the append lock held."""
        # Opened under the lock, so it is the file that is there now (not one a compaction
        # replaced); kept open only for this line, so no descriptor lingers per folder.
        store.ensure_dir(self.folder)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            st = os.fstat(fd)
            # What was read ends with a newline; past it, look whether a crash tore a line.
            known = (st.st_dev, st.st_ino) == self._identity and st.st_size == self._offset
            size = st.st_size
            if size and not known and os.pread(fd, 1, size - 1) != b"\n":
                size = _cut_torn_line(fd, size)  # a crashed writer's: it never counted
            _write_whole(fd, line, size, self.path, records[-1].get("task_id"))
            if settings.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if known:
            # Nobody else wrote since we last read: take our own lines without reading them.
            self._offset += len(line)
            self._apply(records)
        else:
            self.refresh()
        superseded = self._lines - len(self.records) - len(self.removed)
        if superseded > max(COMPACT_AFTER, len(self.records)):
            try:
                self._compact()
            except OSError as e:  # the commit happened; tidying up can wait
                logger.warning("could not compact %s (%s); will try again later", self.path, e)

    def refresh_times(self, record: dict, seen: dict[str, tuple[int, int]]) -> None:
        """Outputs whose content matched ``record`` although their times did not (a copied or
        downloaded folder): record the times they have now, so the next check need not hash
        them again. Best effort: skipped if the record changed meanwhile or the folder is
        read-only."""
        refreshed = dict(record)
        refreshed["outputs"] = outputs = dict(record["outputs"])
        for key, (size, mtime_ns) in seen.items():
            outputs[key] = {**outputs[key], "size": size, "mtime_ns": mtime_ns}
        try:
            with locks.append_locked(self.folder):
                if self.get(record["task_id"], fresh=True) is not record:
                    return  # committed again meanwhile: that record rules
                self._append_locked([refreshed], _ENCODER.encode(refreshed).encode() + b"\n")
        except (OSError, OutputError) as e:
            logger.debug("could not refresh the record of %s: %s", record["task_id"], e)

    def remove(self, task_id: str) -> None:
        """Record that the task's outputs are gone (deleted, or replaced outside a run)."""
        if self.get(task_id, fresh=True) is not None:
            self.append({"task_id": task_id, "removed": True})

    def _keep_history(self) -> None:
        """Append the records of runs the log holds but no longer counts to the folder's history
        file, before a rewrite of the log drops them (under the append lock; a crash
        in between leaves them in both, never in neither)."""
        with open(self.path, "rb") as f:
            lines = parse_records(f.read())
        dropped = [
            r
            for r in lines
            if isinstance(r.get("task_id"), str)
            and not r.get("removed")
            and self.records.get(r["task_id"]) != r
        ]
        append_lines(os.path.join(self.folder, HISTORY_NAME), dropped)

    def _compact(self) -> None:
        """Rewrite the log with current records only (called under the append lock, right after
        this object caught up with the file)."""
        self._keep_history()
        used = {c for r in self.records.values() if isinstance(c := r.get("code"), str)}
        code = [{"code": d, "members": m} for d, m in self.code.items() if d in used]
        # Damaged records are kept as they are: dropping one would leave outputs with no record,
        # which count as complete (legacy).
        tombstones = [{"task_id": task_id, "removed": True} for task_id in sorted(self.removed)]
        lines = [*code, *self.records.values(), *tombstones]
        text = "".join(_ENCODER.encode(r) + "\n" for r in lines)
        store.atomic_write(self.path, lambda tmp: _write_bytes(tmp, text.encode("utf-8")))
        self.refresh()


def apply_record(
    record: dict, records: dict[str, dict], code: dict[str, dict], removed: set[str] | None = None
) -> str | None:
    """Apply one line of a log to the current ``records`` (by task id) and ``code`` members (by
    digest): the latest line of a task id counts, a tombstone removes it (and, given ``removed``,
    notes its task id there). Returns the task id, None for a line of code members."""
    task_id = record.get("task_id")
    if not isinstance(task_id, str):
        if isinstance(record.get("code"), str) and isinstance(record.get("members"), dict):
            code[record["code"]] = record["members"]
        return None
    if record.get("removed"):
        records.pop(task_id, None)
        if removed is not None:
            removed.add(task_id)
    else:
        records[task_id] = record
        if removed:
            removed.discard(task_id)
    return task_id


def well_formed(record: dict) -> bool:
    """Does a manifest have the fields its readers use? A record that parses but lacks them is
    *damaged* (hand-edited, written by another tool): its task has no usable record. The state
    check (provenance.assess) finds that out as it reads the fields, at no cost per record;
    the others (catalog, verify, invalidation) skip damaged records through ``all()``."""
    outputs = record.get("outputs")
    if type(outputs) is not dict or not outputs:
        return False
    for entry in outputs.values():
        if not is_file_record(entry) or type(entry.get("file")) is not str:
            return False
    upstream, inputs = record.get("upstream"), record.get("inputs")
    return (upstream is None or type(upstream) is dict) and (
        inputs is None or (type(inputs) is dict and all(map(is_file_record, inputs.values())))
    )


def is_file_record(entry: Any) -> bool:
    """``{"size": int, "mtime_ns": int, "hash": str, ...}``: what a manifest records of a file."""
    return (
        type(entry) is dict
        and type(entry.get("size")) is int
        and type(entry.get("mtime_ns")) is int
        and type(entry.get("hash")) is str
    )


def _cut_torn_line(fd: int, size: int) -> int:
    """Truncate the log after its last newline (the rest is a line a crash tore); the new size."""
    end = size
    while end > 0:
        start = max(0, end - 4096)
        found = os.pread(fd, end - start, start).rfind(b"\n")
        if found >= 0:
            end = start + found + 1
            break
        end = start
    os.ftruncate(fd, end)
    return end


def _write_whole(fd: int, data: bytes, size: int, path: str, task_id: Any) -> None:
    """Append ``data`` in full, or leave the log as it was (``size`` bytes) and raise: a line
    cut short by a full disk or a file size limit must not be taken for a commit."""
    view = memoryview(data)
    try:
        while view:
            written = os.write(fd, view)
            if written == 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[written:]
    except OSError as e:
        with contextlib.suppress(OSError):  # if not, the torn line stays: no newline, no count
            os.ftruncate(fd, size)
        raise OutputError(
            f"Could not record the run of {task_id} in {path}: {e.strerror or e}. The outputs "
            "were not published. Free disk space (or raise the file size limit) and run again."
        ) from e


def parse_records(blob: bytes) -> list[dict]:
    """The records of ``blob``, complete lines of a log (a torn line is skipped)."""
    try:
        # One call for the whole log is several times faster than one per line. Few copies of
        # the text: each copy of a large log is fresh memory, and page faults cost as much as
        # the parsing. Every newline becomes a comma (counting them to spare the last one cost
        # a tenth of the parse), so the list ends with a null, dropped below with other non-dicts.
        body = blob.decode("utf-8").replace("\n", ",")
        records = json.loads(f"[{body}null]")
    except ValueError:  # a torn line somewhere: parse line by line and skip it
        records = []
        for line in blob.split(b"\n"):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
    return [r for r in records if isinstance(r, dict)]


def append_lines(path: str, records: list[dict]) -> None:
    """Append ``records`` to the file at ``path``, one JSON line each, for files only history
    and ``why`` read (the caller holds the folder's append lock). A line torn by a crash stays
    torn (readers skip it); the next lines start on a line of their own."""
    if not records:
        return
    data = "".join(_ENCODER.encode(r) + "\n" for r in records).encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


_logs: dict[str, ManifestLog] = {}


def log_of(folder: str) -> ManifestLog:
    """The manifest log of an output folder (one object per folder in this process)."""
    log = _logs.get(folder)
    if log is None:
        log = _logs[folder] = ManifestLog(folder)
    return log


def logs_under(root: str | os.PathLike) -> list[ManifestLog]:
    """The manifest logs of every folder below ``root``, in sorted folder order."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        if LOG_NAME in files:
            found.append(log_of(folder))
    return found
