"""A data folder on an object store or any other fsspec file system (``s3://``, ``gs://``,
``memory://`` …): the second implementation of :class:`~d6tflow.storage.Store`.

Object stores have no rename and no append, so a commit works differently from a local folder's:

* While a task runs, its outputs are written to local temporary files (``staging``), exactly as a
  format writes any file. At the commit they are uploaded to their final keys, and only then is
  the record written. One object upload is atomic (a reader sees the old object, the new one, or
  none); a crash between the uploads and the record leaves objects that do not match the record
  they have (or no record), which counts as incomplete.
* Records are not one appended log but *segments*: small immutable objects in the folder's
  ``.manifests/`` prefix, one per commit, named by time. A reader lists the folder once (which
  also gives every output's size and ETag) and fetches only the segments it has not read. When a
  folder holds more than :data:`COMPACT_SEGMENTS` of them, the writer that notices merges them
  into one, so a new process reads a folder's records with one listing and a few requests. A
  commit lists the segments alone and looks at the objects it uploaded one by one: what it costs
  does not grow with the number of outputs in the folder.
* An output's recorded ``mtime_ns`` holds the object's *change stamp*: a number taken from its
  ETag (the content's MD5 on S3) where the store has one, else from its modification time. Two
  writers that upload different bytes leave different stamps, so a record never vouches for
  another writer's bytes: the content hash decides, and a mismatch reruns the task.

Two processes of one machine exclude each other per task, with the same locks as a local folder
(kept in a local folder named after the remote one). Two machines do not: both may compute a
task; the record written last wins, and if the other writer's objects replaced its outputs
meanwhile, the outputs do not match that record and the task runs once more.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import xxhash

from d6tflow import locks, manifests
from d6tflow.errors import MissingFileError, OutputError, RemoteStorageError
from d6tflow.fingerprint import file_record
from d6tflow.manifests import ManifestLog, well_formed
from d6tflow.storage import Store

logger = logging.getLogger("d6tflow")

#: The prefix of a folder's record segments.
SEGMENTS = ".manifests"
#: Merge a folder's record segments into one once it has more than this many.
COMPACT_SEGMENTS = 32

_token = os.urandom(4).hex()
_counter = itertools.count()


def change_stamp(info: dict) -> int:
    """A number that changes whenever an object is written again: from its ETag (or checksum)
    where the file system gives one, else its modification time in nanoseconds."""
    for key in ("ETag", "etag", "md5Hash", "content_md5"):
        tag = info.get(key)
        if tag:
            return xxhash.xxh3_64_intdigest(str(tag).encode()) >> 1
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        when = info.get(key)
        if when is None:
            continue
        if hasattr(when, "timestamp"):
            when = when.timestamp()
        elif isinstance(when, str):
            import datetime

            when = datetime.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
        return int(float(when) * 1e9)
    return 0


class RemoteStore(Store):
    """A data folder reached through an fsspec file system; see the module's description.

    ``url`` is the folder (``s3://bucket/project``), ``fs`` the file system for it, made with
    ``options`` (kept to make it again in worker processes). ``trusted``: pickles pulled from it
    may be loaded.
    """

    needs_records = True

    def __init__(self, url: str, fs: Any, options: dict | None = None, trusted: bool = True):
        self.url = url.rstrip("/")
        self.fs = fs
        self.options = dict(options or {})
        self.trusted = trusted
        # folder url -> (generation, {path relative to the folder: info})
        self._listings: dict[str, tuple[int, dict[str, dict]]] = {}
        self._logs: dict[str, RemoteLog] = {}
        self._staged: dict[str, str | None] = {}
        self._work: str | None = None
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteStore({self.url!r})"

    # -- listing -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def reaching(self, what: str) -> Iterator[None]:
        """Turn the file system's errors (other than a missing file) into one that names the
        folder and what was being done."""
        try:
            yield
        except (FileNotFoundError, RemoteStorageError, OutputError):
            raise
        except Exception as e:
            raise RemoteStorageError(
                f"Could not {what} in the remote folder {self.url}: {type(e).__name__}: {e}. "
                "Check that its server is reachable and the storage options (endpoint, "
                "credentials) are right."
            ) from e

    def key(self, url: str) -> str:
        """The file system's own name for ``url`` (without the protocol)."""
        return self.fs._strip_protocol(url).rstrip("/")

    def listing(self, folder: str, fresh: bool = False) -> dict[str, dict]:
        """Every object below ``folder``, by path relative to it, with its info: one listing
        request per folder and state check (``manifests.begin_check``)."""
        folder = folder.rstrip("/")
        generation = manifests.generation()
        cached = self._listings.get(folder)
        if cached is not None and cached[0] == generation and not fresh:
            return cached[1]
        found = self._list(folder)
        self._listings[folder] = (generation, found)
        return found

    def _list(self, folder: str) -> dict[str, dict]:
        key = self.key(folder)
        # d6tflow keeps its own listings (one per folder and state check). The file system's
        # cache of them would go stale as other processes write: s3fs, for one, refuses to read
        # an object its cached listing of the parent does not show.
        self.fs.invalidate_cache()
        try:
            with self.reaching(f"list {folder}"):
                entries = self.fs.find(key, detail=True, withdirs=False)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        prefix = key + "/"
        return {
            name[len(prefix) :]: info
            for name, info in entries.items()
            if name.startswith(prefix) and info.get("type", "file") != "directory"
        }

    def _split(self, path: str) -> tuple[str, str]:
        folder, _, name = _text(path).rpartition("/")
        return folder, name

    def _entry(self, path: str) -> tuple[int, int] | None:
        folder, name = self._split(path)
        return _entry_in(self.listing(folder), name)

    def _entry_now(self, path: str) -> tuple[tuple[int, int] | None, dict | None]:
        """Like :meth:`_entry`, from a look at ``path`` alone instead of a listing of its whole
        folder (a commit asks this of every output it uploaded, in folders of any size); with
        the object's info (None for a folder output)."""
        key = self.key(path)
        self.fs.invalidate_cache(key)
        try:
            with self.reaching(f"look at {path}"):
                info = self.fs.info(key)
        except FileNotFoundError:
            return None, None
        name = self._split(path)[1]
        if info.get("type") != "directory":
            return _entry_in({name: info}, name), info
        inside = {f"{name}/{rel}": sub for rel, sub in self._list(path).items()}
        return _entry_in(inside, name), None

    def is_folder(self, path: str) -> bool:
        """Is ``path`` a folder output (objects below it, none at it)?"""
        folder, name = self._split(path)
        found = self.listing(folder)
        return name not in found and any(k.startswith(name + "/") for k in found)

    def forget(self, folder: str) -> None:
        """``folder`` changed: list it again when next needed."""
        self._listings.pop(folder.rstrip("/"), None)

    def note_written(self, folder: str, relative: str, info: dict) -> None:
        """An object this process just wrote, known without listing ``folder`` again."""
        cached = self._listings.get(folder.rstrip("/"))
        if cached is not None:
            cached[1][relative] = info

    def segments_now(self, folder: str) -> list[str]:
        """The names of ``folder``'s record segments, listed now. Only the segments are listed:
        a commit looks twice, and its folder may hold thousands of outputs. The folder's cached
        listing gets the same segments, so that a later look in this check agrees."""
        folder = folder.rstrip("/")
        found = self._list(f"{folder}/{SEGMENTS}")
        cached = self._listings.get(folder)
        if cached is not None:
            inside = {k: v for k, v in cached[1].items() if not k.startswith(SEGMENTS + "/")}
            inside.update((f"{SEGMENTS}/{name}", info) for name, info in found.items())
            self._listings[folder] = (cached[0], inside)
        return sorted(found)

    # -- outputs -----------------------------------------------------------------------------------

    def stat(self, path: str) -> tuple[int, int] | None:
        return self._entry(path)

    def exists(self, path: str) -> bool:
        return self._entry(path) is not None

    def content_hash(self, path: str) -> str:
        with self._downloaded(path) as local:
            return file_record(local)[2]

    def record_of(self, path: str) -> tuple[int, int, str]:
        """Of a staged output (a local file; :meth:`commit` sets the stamp it gets on the
        store) or of an object."""
        if "://" not in path:
            return file_record(path)
        seen = self.stat(path)
        if seen is None:
            raise MissingFileError(f"No such output: {path}")
        return seen[0], seen[1], self.content_hash(path)

    def write(self, path: str, write: Callable[[str], None]) -> None:
        tmp = self._temp_for(path)
        try:
            write(tmp)
            if path in self._staged:
                previous, self._staged[path] = self._staged[path], tmp
                if previous is not None:
                    _remove_local(previous)
                return
            self.upload(tmp, path)
        except BaseException:
            _remove_local(tmp)
            raise
        _remove_local(tmp)

    def upload(self, local: str, path: str) -> None:
        """Put a local file (or folder) at ``path``, replacing what was there."""
        key = self.key(path)
        with self.reaching(f"upload {path}"):
            if os.path.isdir(local):
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm(key, recursive=True)
                self.fs.put(local.rstrip("/") + "/", key, recursive=True)
            else:
                self.fs.put_file(local, key)
        self.forget(self._split(path)[0])

    def readable_path(self, path: str) -> str:
        staged = self._staged.get(path)
        if staged is not None:
            return staged
        return self.cached_copy(path)

    def cached_copy(self, path: str) -> str:
        """A local copy of ``path`` to read (formats read local files), kept while the object
        is unchanged. Checked against its record's content hash when it has one."""
        seen = self.stat(path)
        if seen is None:
            raise MissingFileError(f"No such output: {path} (run its task first)")
        folder, name = self._split(path)
        digest = xxhash.xxh3_64_hexdigest(f"{path}\0{seen[1]}".encode())
        local = os.path.join(_cache_dir(), digest, name)
        if os.path.exists(local):
            return local
        expected = self.records(folder).hash_of(name)
        with self._downloaded(path) as fetched:
            if expected is not None and file_record(fetched)[2] != expected:
                raise OutputError(
                    f"{path} does not have the content its record was written with (it was "
                    "replaced after its task committed): run the task again"
                )
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with contextlib.suppress(OSError):
                os.replace(fetched, local)
        return local

    @contextlib.contextmanager
    def _downloaded(self, path: str) -> Iterator[str]:
        """A fresh local copy of ``path`` (a file or a folder), removed afterwards."""
        where = tempfile.mkdtemp(dir=self._workdir(), prefix="get-")
        local = os.path.join(where, self._split(path)[1])
        try:
            key = self.key(path)
            with self.reaching(f"download {path}"):
                if self.is_folder(path):
                    self.fs.get(key + "/", local + "/", recursive=True)
                else:
                    self.fs.get_file(key, local)
            yield local
        finally:
            shutil.rmtree(where, ignore_errors=True)

    def remove(self, path: str) -> bool:
        existed = self.stat(path) is not None
        if existed:
            with contextlib.suppress(FileNotFoundError), self.reaching(f"delete {path}"):
                self.fs.rm(self.key(path), recursive=True)
            self.forget(self._split(path)[0])
        return existed

    def make_folder(self, folder: str) -> None:
        """Object stores have no folders: a key's prefix exists once an object has it."""

    def files_under(self, folder: str | os.PathLike) -> list[str]:  # type: ignore[override]
        root = _text(folder)
        return sorted(f"{root}/{rel}" for rel in self.listing(root))

    def forget_folders(self) -> None:
        self._listings.clear()

    # -- records -----------------------------------------------------------------------------------

    def records(self, folder: str) -> RemoteLog:  # type: ignore[override]
        folder = folder.rstrip("/")
        log = self._logs.get(folder)
        if log is None:
            with self._guard:
                log = self._logs.setdefault(folder, RemoteLog(self, folder))
        return log

    def records_under(self, root: str | os.PathLike) -> list[RemoteLog]:  # type: ignore[override]
        """Every folder below ``root`` with records, from one listing of ``root``."""
        root = _text(root)
        found = self.listing(root, fresh=True)
        generation = manifests.generation()
        folders: dict[str, dict[str, dict]] = {}
        for rel in found:
            head = rel.rpartition("/")[0]
            if head == SEGMENTS or head.endswith("/" + SEGMENTS):
                folders.setdefault(head[: -len(SEGMENTS)].rstrip("/"), {})
        for sub in folders:  # each folder's listing comes from the root's
            prefix = sub + "/" if sub else ""
            inside = {k[len(prefix) :]: v for k, v in found.items() if k.startswith(prefix)}
            self._listings[f"{root}/{sub}".rstrip("/")] = (generation, inside)
        return [self.records(f"{root}/{sub}".rstrip("/")) for sub in sorted(folders)]

    def folders_with_runs(self, root: str | os.PathLike) -> list[str]:
        return [log.folder for log in self.records_under(root)]

    def run_records(self, folder: str) -> list[dict]:
        """The lines of the folder's segments: what is kept since they were last merged."""
        return self.records(folder).lines()

    def bookkeeping_files(self, folder: str, task_id: str) -> list[str]:
        folder = folder.rstrip("/")
        return [f"{folder}/{rel}" for rel in self.listing(folder) if rel.startswith(SEGMENTS)]

    # -- committing --------------------------------------------------------------------------------

    def prepare(self, folder: str) -> None:
        """Nothing to prepare: staging is local, and a dead run leaves nothing on the store."""

    def task_lock(self, folder: str, task_id: str) -> contextlib.AbstractContextManager[None]:
        local = os.path.join(_lock_dir(), xxhash.xxh3_64_hexdigest(folder.rstrip("/").encode()))
        os.makedirs(local, exist_ok=True)
        return locks.task_locked(local, task_id)

    @contextlib.contextmanager
    def staging(self, paths: list[str]) -> Iterator[dict]:
        for path in paths:
            self._staged[path] = None
        try:
            yield self._staged
        finally:
            for path in paths:
                tmp = self._staged.pop(path, None)
                if tmp is not None:
                    _remove_local(tmp)

    def is_staged(self, path: str) -> bool:
        return path in self._staged

    def commit(
        self,
        log: ManifestLog,
        record: dict,
        code_members: dict[str, str] | None,
        paths: list[str],
        durable: bool,
    ) -> None:
        """Upload the staged outputs, then write the record with the stamps they got: the
        record is written last, so an upload cut short leaves no record that vouches for it."""
        sent: dict[str, str | None] = {}  # file name -> MD5 of what this process uploaded
        for path in paths:
            staged = self._staged.get(path)
            if staged is not None:
                sent[self._split(path)[1]] = None if os.path.isdir(staged) else _md5(staged)
                self.upload(staged, path)
                self._staged[path] = None
                _remove_local(staged)
        folder = log.folder
        for entry in record["outputs"].values():
            path = f"{folder}/{entry['file']}"
            seen, info = self._entry_now(path)
            if seen is None:
                raise OutputError(f"{path} is not on the store after upload")
            _check_ours(info, sent.get(entry["file"]), path)
            entry["size"], entry["mtime_ns"] = seen
        log.append(record, code_members=code_members)

    # -- local work space --------------------------------------------------------------------------

    def _workdir(self) -> str:
        if self._work is None or not os.path.isdir(self._work):
            self._work = tempfile.mkdtemp(prefix="d6tflow-remote-")
        return self._work

    def _temp_for(self, path: str) -> str:
        """A fresh local path, ending with the output's own name (formats look at it)."""
        where = tempfile.mkdtemp(dir=self._workdir(), prefix="put-")
        return os.path.join(where, self._split(path)[1])


class RemoteLog:
    """The records of one folder of a :class:`RemoteStore`; the same methods as
    :class:`~d6tflow.manifests.ManifestLog` (``get``, ``all``, ``append``, ``remove``,
    ``refresh_times``, ``code_members``), kept as immutable segment objects."""

    def __init__(self, store: RemoteStore, folder: str):
        self.store = store
        self.folder = folder
        self.path = f"{folder}/{SEGMENTS}"
        self.records: dict[str, dict] = {}
        self.code: dict[str, dict[str, str]] = {}
        self.removed: set[str] = set()  # task ids whose latest record is a tombstone
        self._applied: list[str] = []  # segment names, in the order applied
        self._parsed: dict[str, list[dict]] = {}  # segment name -> its records (immutable)
        self._checked = -1
        self._guard = threading.RLock()

    def get(self, task_id: str, fresh: bool = False) -> dict | None:
        if fresh or self._checked != manifests.generation():
            self.refresh(fresh)
        return self.records.get(task_id)

    def all(self) -> dict[str, dict]:
        self.refresh()
        return {task_id: r for task_id, r in self.records.items() if well_formed(r)}

    def code_members(self, recorded: Any) -> dict[str, str] | None:
        if isinstance(recorded, dict):
            return recorded
        if self._checked != manifests.generation():
            self.refresh()
        return self.code.get(recorded) if isinstance(recorded, str) else None

    def was_removed(self, task_id: str) -> bool:
        """Were the task's outputs deleted (its latest record a tombstone)?"""
        if self._checked != manifests.generation():
            self.refresh()
        return task_id in self.removed

    def hash_of(self, name: str) -> str | None:
        """The recorded content hash of the output file ``name`` of this folder, if any."""
        if self._checked != manifests.generation():
            self.refresh()
        for record in self.records.values():
            for entry in (record.get("outputs") or {}).values():
                if isinstance(entry, dict) and entry.get("file") == name:
                    return entry.get("hash")
        return None

    def lines(self) -> list[dict]:
        """Every line of the segments read, in the order they were written."""
        with self._guard:
            self.refresh()
            return [line for name in self._applied for line in self._parsed[name]]

    def segment_names(self, fresh: bool = False) -> list[str]:
        if fresh:
            return self.store.segments_now(self.folder)
        found = self.store.listing(self.folder)
        prefix = SEGMENTS + "/"
        return sorted(k[len(prefix) :] for k in found if k.startswith(prefix))

    def refresh(self, fresh: bool = False) -> None:
        with self._guard:
            self._checked = manifests.generation()
            for attempt in range(3):
                names = self.segment_names(fresh=fresh or attempt > 0)
                try:
                    self._read(names)
                except FileNotFoundError:  # merged into one and deleted meanwhile: list again
                    continue
                break
            else:
                raise RemoteStorageError(
                    f"The records of {self.folder} kept changing while being read; try again"
                )
            if names[: len(self._applied)] != self._applied:
                self.records, self.code, self._applied = {}, {}, []
                self.removed = set()
            for name in names[len(self._applied) :]:
                self._apply(self._parsed[name])
                self._applied.append(name)
            for gone in set(self._parsed) - set(names):
                del self._parsed[gone]

    def _read(self, names: list[str]) -> None:
        wanted = [n for n in names if n not in self._parsed]
        if not wanted:
            return
        urls = {self.store.key(f"{self.path}/{n}"): n for n in wanted}
        with self.store.reaching(f"read the records of {self.folder}"):
            blobs = self.store.fs.cat(list(urls), on_error="return", **_one_request(self.store.fs))
        for key, blob in blobs.items():
            if isinstance(blob, FileNotFoundError):
                raise blob
            if isinstance(blob, BaseException):
                raise OutputError(f"Could not read the records {key}: {blob}") from blob
            self._parsed[urls[key]] = manifests.parse_records(blob)

    def _apply(self, records: list[dict]) -> None:
        for record in records:
            manifests.apply_record(record, self.records, self.code, self.removed)

    # -- writing -----------------------------------------------------------------------------------

    def append(self, record: dict, code_members: dict[str, str] | None = None) -> None:
        """Write ``record`` as a new segment: the moment a commit happens."""
        self.append_many([record], code_members)

    def append_many(self, records: list[dict], code_members: dict | None = None) -> None:
        """Write several records as one segment (a push writes a folder's records at once).
        ``code_members``: ``{digest: members}``, or the members of the records' one digest."""
        with self._guard:
            self.refresh(fresh=True)
            lines = []
            for digest, members in _code_lines(records, code_members):
                if digest not in self.code:
                    lines.append({"code": digest, "members": members})
            lines.extend(records)
            name = f"{time.time_ns():020d}-{os.getpid()}-{_token}-{next(_counter)}.jsonl"
            self._write_segment(name, lines)
            self._apply(lines)
            self._applied.append(name)
            self._parsed[name] = lines
            if len(self._applied) > COMPACT_SEGMENTS:
                try:
                    self._compact()
                except (OSError, OutputError) as e:  # the commit happened; tidying can wait
                    logger.warning("could not merge the records of %s (%s)", self.folder, e)

    def _write_segment(self, name: str, lines: list[dict]) -> None:
        data = "".join(manifests.encode_record(r) + "\n" for r in lines).encode("utf-8")
        key = self.store.key(f"{self.path}/{name}")
        try:
            with self.store.reaching(f"write a record to {self.path}"):
                self.store.fs.pipe_file(key, data)
        except OSError as e:
            raise OutputError(
                f"Could not write the record of {lines[-1].get('task_id')} to {self.path}: {e}. "
                "Its outputs were uploaded but do not count; run again."
            ) from e
        self.store.note_written(
            self.folder, f"{SEGMENTS}/{name}", {"name": key, "size": len(data), "type": "file"}
        )

    def _compact(self) -> None:
        """Merge the segments read so far into one, named to sort right after the last of them,
        then delete them. A reader that listed before sees either; records are the same."""
        merged = list(self._applied)
        used = {c for r in self.records.values() if isinstance(c := r.get("code"), str)}
        lines = [{"code": d, "members": m} for d, m in self.code.items() if d in used]
        lines.extend(self.records.values())
        name = f"{merged[-1].removesuffix('.jsonl')}~merged-{_token}.jsonl"
        self._write_segment(name, lines)
        keys = [self.store.key(f"{self.path}/{n}") for n in merged]
        with self.store.reaching(f"delete merged records in {self.path}"):
            self.store.fs.rm(keys)
        self.store.forget(self.folder)
        self._applied, self._parsed = [name], {name: lines}

    def refresh_times(self, record: dict, seen: dict[str, tuple[int, int]]) -> None:
        """The outputs matched ``record`` by content though their stamps did not: record the
        stamps they have now (best effort)."""
        refreshed = dict(record)
        refreshed["outputs"] = outputs = dict(record["outputs"])
        for key, (size, stamp) in seen.items():
            outputs[key] = {**outputs[key], "size": size, "mtime_ns": stamp}
        try:
            if self.get(record["task_id"], fresh=True) is record:
                self.append(refreshed)
        except (OSError, OutputError) as e:
            logger.debug("could not refresh the record of %s: %s", record["task_id"], e)

    def remove(self, task_id: str) -> None:
        if self.get(task_id, fresh=True) is not None:
            self.append({"task_id": task_id, "removed": True})


def _entry_in(found: dict[str, dict], name: str) -> tuple[int, int] | None:
    """(size, change stamp) of the output ``name`` among ``found`` (infos by relative path)."""
    info = found.get(name)
    if info is not None:
        return int(info.get("size") or 0), change_stamp(info)
    inside = sorted((k, v) for k, v in found.items() if k.startswith(name + "/"))
    if not inside:
        return None
    # A folder output (partitioned Parquet): its files' total size, one stamp for all.
    digest = xxhash.xxh3_64()
    for rel, sub in inside:
        digest.update(f"{rel}:{change_stamp(sub)};".encode())
    return sum(int(v.get("size") or 0) for _, v in inside), digest.intdigest() >> 1


def _code_lines(records: list[dict], code_members: dict | None) -> list[tuple[str, dict]]:
    if not code_members:
        return []
    digests = {r.get("code") for r in records if isinstance(r.get("code"), str)}
    if all(isinstance(v, dict) for v in code_members.values()):  # {digest: members}
        return [(d, m) for d, m in code_members.items() if d in digests]
    return [(d, code_members) for d in digests]


def _md5(path: str) -> str:
    import hashlib

    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_ours(info: dict | None, md5: str | None, path: str) -> None:
    """The object listed after the upload is the one this process sent: its ETag (on S3 the
    MD5 of a single-part upload) says so. Else another writer replaced it in between, and a
    record with our hash and its stamp would vouch for its bytes: the commit is not made."""
    etag = str((info or {}).get("ETag") or "").strip('"')
    if md5 is None or not etag or "-" in etag or len(etag) != 32:
        return  # a folder, a multipart upload or a store without MD5 ETags: nothing to compare
    if etag != md5:
        raise OutputError(
            f"{path} was replaced by another writer while this run uploaded it; its record "
            "was not written, so the task counts as not done. Run again."
        )


def _one_request(fs: Any) -> dict[str, Any]:
    """Options that make reading a small object one request: s3fs, by default, first asks for
    its size (to read large ones in parallel parts)."""
    return {"max_concurrency": 1} if getattr(fs, "max_concurrency", 1) > 1 else {}


def _text(path: Any) -> str:
    """A remote path as its URL, without a trailing "/" (a ``upath.UPath`` too)."""
    return (path if type(path) is str else str(path)).rstrip("/")


def _remove_local(path: str) -> None:
    """Remove a local temporary file (or folder) with the folder made for it."""
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def _cache_dir() -> str:
    """Local copies of remote outputs, read by formats (``D6TFLOW_CACHE`` overrides)."""
    return os.environ.get("D6TFLOW_CACHE") or os.path.join(
        tempfile.gettempdir(), f"d6tflow-cache-{_uid()}"
    )


def _lock_dir() -> str:
    return os.path.join(tempfile.gettempdir(), f"d6tflow-locks-{_uid()}")


def _uid() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else "user"
