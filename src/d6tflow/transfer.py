"""Moving committed outputs with their records between the local data folder and a remote one
(push, pull, and the shared cache of ``run(remote=...)``).

Only what differs moves: a task is skipped when both sides' records name the same content
hashes. Files go in one batch per direction (fsspec runs the requests concurrently). A push
uploads the outputs, then writes their records (one segment per remote folder): an upload cut
short leaves objects no record vouches for. A pull downloads into temporary files in the local
folder, checks every file against the content hash the remote record names, and only when all
of a task's files match commits the record and renames them into place, as a local run does; a
pull killed midway leaves only temporary files, removed by the next run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from d6tflow import manifests, settings, store
from d6tflow.errors import TransferError
from d6tflow.fingerprint import file_record
from d6tflow.manifests import well_formed
from d6tflow.remote_storage import RemoteStore
from d6tflow.storage import LOCAL

logger = logging.getLogger("d6tflow")


@dataclass
class Item:
    """One task's outputs on both sides: ``paths`` are the local files by persist key."""

    task_id: str
    local_folder: str
    remote_folder: str
    paths: dict[str, str]
    meta: str | None = None

    def remote_path(self, local: str) -> str:
        return f"{self.remote_folder}/{os.path.basename(local)}"


@dataclass
class Moved:
    """What a push or pull moved. ``str()`` is the one-line summary they print."""

    direction: str
    remote: str
    tasks: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    same: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        verb, where = ("pushed", "to") if self.direction == "push" else ("pulled", "from")
        text = (
            f"{verb} {len(self.tasks)} task(s), {self.files} file(s), {_size(self.bytes)} "
            f"{where} {self.remote}"
        )
        if self.same:
            text += f"; {len(self.same)} already the same"
        if self.absent:
            side = "here" if self.direction == "push" else "there"
            text += f"; {len(self.absent)} not complete {side}"
        return text

    def __repr__(self) -> str:
        return f"Moved({self})"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def item_of(
    task_id: str, paths: dict[str, str], folder: str, root: str, url: str, meta: str | None
) -> Item:
    """A task's outputs here (``paths`` in ``folder``, below the data folder ``root``) and its
    folder in the remote at ``url``, which mirrors ``folder``'s place below ``root``."""
    relative = os.path.relpath(folder, root).replace(os.sep, "/")
    remote_folder = url if relative == "." else f"{url}/{relative}"
    return Item(task_id, folder.rstrip(os.sep), remote_folder, paths, meta)


def hashes_of(record: dict | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {k: e.get("hash") for k, e in record.get("outputs", {}).items() if type(e) is dict}


def _local_record(item: Item) -> dict | None:
    """The task's local record, if its outputs are all there and as recorded."""
    record = LOCAL.records(item.local_folder).get(item.task_id, fresh=True)
    if record is None or not well_formed(record):
        return None
    for key, path in item.paths.items():
        entry = record["outputs"].get(key)
        seen = LOCAL.stat(path)
        if entry is None or seen is None:
            return None
        if seen != (entry["size"], entry["mtime_ns"]) and LOCAL.content_hash(path) != entry["hash"]:
            return None
    return record


# -- push -----------------------------------------------------------------------------------------


def push(items: list[Item], remote: RemoteStore, force: bool = False, show: bool = True) -> Moved:
    """Upload the tasks' outputs whose remote record differs, then their records. ``force``:
    upload every complete task's outputs, replacing whatever the remote has."""
    manifests.begin_check()
    moved = Moved("push", remote.url)
    sending: list[tuple[Item, dict]] = []
    conflicts = []
    for item in items:
        record = _local_record(item)
        if record is None:
            moved.absent.append(item.task_id)
            continue
        theirs = remote.records(item.remote_folder).get(item.task_id)
        # force: upload even the same content (a remote object damaged after its push).
        if theirs is not None and not force and hashes_of(theirs) == hashes_of(record):
            moved.same.append(item.task_id)
            continue
        if (
            theirs is not None
            and not force
            and theirs.get("started", "") > record.get("started", "")
        ):
            conflicts.append(item.task_id)
            continue
        sending.append((item, record))
    if conflicts:
        raise _refused(
            "pushing",
            conflicts,
            f"{remote.url} holds outputs made later than yours, which a push would replace. Pull "
            "them, or push with force=True to replace them.",
        )
    uploads: list[tuple[str, str]] = []
    for item, _ in sending:
        uploads.extend((p, item.remote_path(p)) for p in item.paths.values())
        if item.meta and os.path.exists(item.meta):
            uploads.append((item.meta, item.remote_path(item.meta)))
    moved.bytes = _put(remote, uploads, show)
    moved.files = len(uploads)
    by_folder: dict[str, list[tuple[Item, dict]]] = {}
    for item, record in sending:
        by_folder.setdefault(item.remote_folder, []).append((item, record))
    for folder, group in by_folder.items():
        remote.listing(folder, fresh=True)
        log = remote.records(folder)
        local_log = LOCAL.records(group[0][0].local_folder)
        records, code = [], {}
        for item, record in group:
            records.append(_as_pushed(remote, item, record))
            digest = record.get("code")
            members = local_log.code_members(digest) if isinstance(digest, str) else None
            if members is not None:
                code[digest] = members
        log.append_many(records, code)
        moved.tasks.extend(item.task_id for item, _ in group)
    return moved


def _as_pushed(remote: RemoteStore, item: Item, record: dict) -> dict:
    """The local record as the remote keeps it: the objects' stamps, the metadata's hash."""
    pushed = {k: v for k, v in record.items() if k != "pulled_from"}
    pushed["outputs"] = outputs = {}
    for key, entry in record["outputs"].items():
        seen = remote.stat(f"{item.remote_folder}/{entry['file']}")
        if seen is None:
            raise TransferError(f"{item.remote_folder}/{entry['file']} is missing after upload")
        outputs[key] = {**entry, "size": seen[0], "mtime_ns": seen[1]}
    if item.meta and os.path.exists(item.meta):
        size, _, digest = file_record(item.meta)
        pushed["meta"] = {"file": os.path.basename(item.meta), "size": size, "hash": digest}
    return pushed


def _refused(doing: str, task_ids: list[str], why: str) -> TransferError:
    shown = ", ".join(task_ids[:3]) + (" …" if len(task_ids) > 3 else "")
    return TransferError(f"Not {doing} {len(task_ids)} task(s) ({shown}): {why}")


def _put(remote: RemoteStore, uploads: list[tuple[str, str]], show: bool) -> int:
    files = [(src, dst) for src, dst in uploads if not os.path.isdir(src)]
    total = sum(os.path.getsize(src) for src, _ in files)
    if files:
        with _progress("push", len(files), show) as callback, remote.reaching("upload outputs"):
            remote.fs.put(
                [src for src, _ in files],
                [remote.key(dst) for _, dst in files],
                callback=callback,
            )
    for src, dst in uploads:
        if os.path.isdir(src):
            remote.upload(src, dst)
            total += sum(os.path.getsize(p) for p in store.files_under(Path(src)))
    for _, dst in uploads:
        remote.forget(dst.rpartition("/")[0])
    return total


# -- pull -----------------------------------------------------------------------------------------


def pull(
    items: list[Item],
    remote: RemoteStore,
    force: bool = False,
    show: bool = True,
    accept: Any = None,
    locked: bool = False,
) -> Moved:
    """Download the tasks' outputs whose local record differs, verify them, then commit them
    locally with the remote's record. ``accept(record)``: pull only records it accepts (the
    shared cache's test); the others count as absent. ``locked``: the caller holds the tasks'
    locks already."""
    manifests.begin_check()
    moved = Moved("pull", remote.url)
    fetching: list[tuple[Item, dict]] = []
    conflicts = []
    for item in items:
        theirs = remote.records(item.remote_folder).get(item.task_id)
        if theirs is None or not well_formed(theirs) or (accept and not accept(theirs)):
            moved.absent.append(item.task_id)
            continue
        ours = _local_record(item)
        if ours is not None and hashes_of(ours) == hashes_of(theirs):
            moved.same.append(item.task_id)
            continue
        if not force and any(LOCAL.exists(p) for p in item.paths.values()):
            conflicts.append(item.task_id)
            continue
        fetching.append((item, theirs))
    if conflicts:
        raise _refused(
            "pulling",
            conflicts,
            f"their local outputs differ from the ones on {remote.url}. Push yours, or pull with "
            "force=True to replace them.",
        )
    if not fetching:
        return moved
    downloads: list[tuple[str, str, str]] = []  # (remote path, local temp, final local path)
    for item, record in fetching:
        LOCAL.prepare(item.local_folder)
        names = {e["file"] for e in record["outputs"].values()}
        wanted = [p for p in item.paths.values() if os.path.basename(p) in names]
        if len(wanted) != len(record["outputs"]):
            raise TransferError(
                f"The record of {item.task_id} on {remote.url} names outputs "
                f"{sorted(names)} that this task does not have: is it the same task?"
            )
        if item.meta and "meta" in record:
            wanted.append(item.meta)
        for path in wanted:
            downloads.append((item.remote_path(path), store.temp_path(path), path))
    try:
        moved.bytes = _get(remote, downloads, show)
        temps = {final: tmp for _, tmp, final in downloads}
        _verify(fetching, temps, remote)
        for item, record in fetching:
            _commit_pulled(item, record, temps, remote, locked)
            moved.tasks.append(item.task_id)
        moved.files = len(downloads)
    finally:
        for _, tmp, _ in downloads:
            store.remove_quietly(tmp)
    return moved


def _get(remote: RemoteStore, downloads: list[tuple[str, str, str]], show: bool) -> int:
    files, folders = [], []
    for src, tmp, _ in downloads:
        (folders if remote.is_folder(src) else files).append((src, tmp))
    if files:
        with _progress("pull", len(files), show) as callback, remote.reaching("download outputs"):
            remote.fs.get(
                [remote.key(s) for s, _ in files], [t for _, t in files], callback=callback
            )
    for src, tmp in folders:
        with remote.reaching(f"download {src}"):
            remote.fs.get(remote.key(src) + "/", tmp + "/", recursive=True)
    total = 0
    for _, tmp, _ in downloads:
        if os.path.isdir(tmp):
            total += sum(os.path.getsize(p) for p in store.files_under(Path(tmp)))
        elif os.path.exists(tmp):
            total += os.path.getsize(tmp)
    return total


def _verify(fetching: list[tuple[Item, dict]], temps: dict[str, str], remote: RemoteStore) -> None:
    """Every downloaded file has the content hash its record names; else nothing is published."""
    for item, record in fetching:
        entries = {e["file"]: e for e in record["outputs"].values()}
        if item.meta and "meta" in record:
            entries[record["meta"]["file"]] = record["meta"]
        for path in [*item.paths.values(), item.meta]:
            if path is None or path not in temps:
                continue
            entry = entries[os.path.basename(path)]
            tmp = temps[path]
            if not os.path.exists(tmp) or file_record(tmp)[2] != entry["hash"]:
                raise TransferError(
                    f"{item.remote_path(path)} on {remote.url} does not have the content its "
                    f"record names (task {item.task_id}): it was changed or damaged after it "
                    "was pushed. Nothing was pulled; push it again from where it was made."
                )


def _commit_pulled(
    item: Item, record: dict, temps: dict[str, str], remote: RemoteStore, locked: bool
) -> None:
    """Commit the verified files with the remote's record, as a local run commits."""
    log = LOCAL.records(item.local_folder)
    local = {k: v for k, v in record.items() if k != "meta"}
    local["pulled_from"] = remote.url
    local["outputs"] = outputs = {}
    paths = [p for p in item.paths.values() if p in temps]
    by_name = {os.path.basename(p): p for p in paths}
    for key, entry in record["outputs"].items():
        size, mtime_ns, _ = file_record(temps[by_name[entry["file"]]])
        outputs[key] = {**entry, "size": size, "mtime_ns": mtime_ns}
    digest = record.get("code")
    members = remote.records(item.remote_folder).code_members(digest)
    lock = contextlib.nullcontext() if locked else LOCAL.task_lock(item.local_folder, item.task_id)
    with lock, LOCAL.staging(paths) as staged:
        for path in paths:
            staged[path] = temps.pop(path)
        LOCAL.commit(log, local, members, paths, settings.durable)
    if item.meta and item.meta in temps:
        store.move_into_place(temps.pop(item.meta), item.meta)


class _progress:
    """An fsspec callback that shows ``push: 12/1000 files`` on a terminal (stderr), and
    nothing elsewhere."""

    def __init__(self, verb: str, total: int, show: bool):
        from fsspec.callbacks import Callback

        self.verb, self.total = verb, total
        self.show = show and total > 1 and sys.stderr.isatty()
        outer = self

        class _Callback(Callback):
            def call(self, *args: Any, **kwargs: Any) -> None:
                if outer.show:
                    sys.stderr.write(f"\r{outer.verb}: {self.value}/{outer.total} files")
                    sys.stderr.flush()

        self.callback = _Callback(size=total)

    def __enter__(self) -> Any:
        return self.callback

    def __exit__(self, *exc: object) -> None:
        if self.show:
            sys.stderr.write("\r" + " " * 40 + "\r")
            sys.stderr.flush()
