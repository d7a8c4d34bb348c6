"""The store interface: where outputs and their records live, how a commit happens, how a folder
is listed.

The engine above this module (provenance, targets, task_data, invalidation, catalog) reaches a data
folder only through a :class:`Store`. :class:`LocalStore` is the one implementation today: a
folder on this machine, built from ``store.py`` (atomic writes, staging), ``manifests.py`` (the
record log of each folder) and ``locks.py``. :class:`~d6tflow.remote_storage.RemoteStore` is the
second: a folder of an object store (which has no rename and no append: its commit uploads the
outputs, then writes the record). ``stores.store_for`` picks the store that holds a path.

>>> store_for(folder).stat(path)          # (size, mtime_ns), or None when absent
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from d6tflow import locks, side_logs, store
from d6tflow.fingerprint import file_hash, file_record, file_stat
from d6tflow.manifests import LOG_NAME, ManifestLog, log_of, logs_under

__all__ = ["LOCAL", "LocalStore", "Store"]


class Store(ABC):
    """A place outputs are written to and read from, with a record log per output folder.

    A commit (provenance.run_and_commit): :meth:`prepare` the folder, take :meth:`task_lock`,
    write the outputs inside :meth:`staging` (so they are not visible yet), then :meth:`commit`
    makes the record and the outputs appear together. An output is complete only once its record
    is written; whatever a crash leaves is not counted.
    """

    #: Outputs without a record count as complete ("legacy": the original d6tflow's) only where
    #: this is False. A remote folder has no legacy outputs, and there an output without a record
    #: is what a commit interrupted between its uploads and its record leaves.
    needs_records: bool = False

    # -- outputs ---------------------------------------------------------------------------------

    @abstractmethod
    def stat(self, path: str) -> tuple[int, int] | None:
        """``(size, mtime_ns)`` of an output (a folder output: its files' total and newest
        time), or None if it does not exist."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Is there an output (file or folder) at ``path``?"""

    @abstractmethod
    def content_hash(self, path: str) -> str:
        """The content fingerprint of an output, as its record holds it."""

    @abstractmethod
    def record_of(self, path: str) -> tuple[int, int, str]:
        """``(size, mtime_ns, content hash)`` of an output, for its record."""

    @abstractmethod
    def write(self, path: str, write: Callable[[str], Any]) -> None:
        """Write an output atomically: ``write(tmp)`` fills a temporary path that becomes
        ``path`` whole (or, inside :meth:`staging`, waits for the commit)."""

    @abstractmethod
    def readable_path(self, path: str) -> str:
        """Where to read ``path`` from: its staged content while its task runs, else itself."""

    @abstractmethod
    def remove(self, path: str) -> bool:
        """Delete an output (file or folder); True if it existed."""

    @abstractmethod
    def make_folder(self, folder: str) -> None:
        """Create ``folder`` if needed (custom targets of the original's kind write there
        directly)."""

    @abstractmethod
    def files_under(self, folder: str | os.PathLike) -> list[Path]:
        """Every file below ``folder`` (outputs, metadata, stray temporary files), sorted."""

    @abstractmethod
    def forget_folders(self) -> None:
        """Everything under the data folder was deleted: folders are made again when needed."""

    # -- records ---------------------------------------------------------------------------------

    @abstractmethod
    def records(self, folder: str) -> ManifestLog:
        """The record log of an output folder."""

    @abstractmethod
    def records_under(self, root: str | os.PathLike) -> list[ManifestLog]:
        """The record logs of every folder below ``root``."""

    @abstractmethod
    def bookkeeping_files(self, folder: str, task_id: str) -> list[str]:
        """The files besides outputs that a task's records need in ``folder`` (its log, its
        lock): kept when orphans are removed."""

    @abstractmethod
    def folders_with_runs(self, root: str | os.PathLike) -> list[str]:
        """The folders below ``root`` that recorded runs (their outputs may be gone since)."""

    @abstractmethod
    def run_records(self, folder: str) -> list[dict]:
        """Every line kept of ``folder``'s records, oldest first, superseded ones included as far
        as they are kept (``d6tflow.history``)."""

    def keep_sources(self, folder: str, sources: dict[str, str]) -> None:
        """Keep ``{member hash: normalized source}`` beside ``folder``'s records (for
        ``d6tflow.why``'s diffs); a store that cannot keep them does nothing."""

    def sources(self, folder: str) -> dict[str, str]:
        """``{member hash: normalized source}`` kept beside ``folder``'s records."""
        return {}

    # -- committing --------------------------------------------------------------------------------

    @abstractmethod
    def prepare(self, folder: str) -> None:
        """Make ``folder`` ready for a task's run (create it, clear what dead runs left)."""

    @abstractmethod
    def task_lock(self, folder: str, task_id: str) -> contextlib.AbstractContextManager[None]:
        """Hold the task's lock: no other thread or process runs it meanwhile."""

    @abstractmethod
    def staging(self, paths: list[str]) -> contextlib.AbstractContextManager[dict]:
        """While inside, writes to ``paths`` wait unpublished; yields ``{path: staged path or
        None}``. Whatever is not committed is removed on exit."""

    @abstractmethod
    def is_staged(self, path: str) -> bool:
        """Is ``path`` inside a :meth:`staging` of this process (its task is running)?"""

    @abstractmethod
    def commit(
        self,
        log: ManifestLog,
        record: dict,
        code_members: dict[str, str] | None,
        paths: list[str],
        durable: bool,
    ) -> None:
        """Write ``record`` to ``log``, then make the staged ``paths`` appear. ``durable``: the
        outputs reach the disk before the record, and the record before this returns."""


class LocalStore(Store):
    """A data folder on this machine (or a mounted file system)."""

    def stat(self, path: str) -> tuple[int, int] | None:
        return file_stat(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def content_hash(self, path: str) -> str:
        return file_hash(path)

    def record_of(self, path: str) -> tuple[int, int, str]:
        return file_record(path)

    def write(self, path: str, write: Callable[[str], Any]) -> None:
        store.atomic_write(path, write)

    def readable_path(self, path: str) -> str:
        return store.staged_path(path) or path

    def remove(self, path: str) -> bool:
        return store.remove(path)

    def make_folder(self, folder: str) -> None:
        store.ensure_dir(folder)

    def files_under(self, folder: str | os.PathLike) -> list[Path]:
        return store.files_under(Path(folder))

    def forget_folders(self) -> None:
        store.forget_all_dirs()

    def records(self, folder: str) -> ManifestLog:
        return log_of(folder)

    def records_under(self, root: str | os.PathLike) -> list[ManifestLog]:
        return logs_under(root)

    def bookkeeping_files(self, folder: str, task_id: str) -> list[str]:
        return [
            os.path.join(folder, LOG_NAME),
            locks.task_lock_path(folder, task_id),
            os.path.join(folder, side_logs.HISTORY_NAME),
            os.path.join(folder, side_logs.SOURCES_NAME),
        ]

    def folders_with_runs(self, root: str | os.PathLike) -> list[str]:
        return side_logs.folders_with_runs(root)

    def run_records(self, folder: str) -> list[dict]:
        return side_logs.read_lines(os.path.join(folder, side_logs.HISTORY_NAME)) + (
            side_logs.read_lines(os.path.join(folder, LOG_NAME))
        )

    def keep_sources(self, folder: str, sources: dict[str, str]) -> None:
        side_logs.keep_sources(folder, sources)

    def sources(self, folder: str) -> dict[str, str]:
        return side_logs.read_sources(folder)

    def prepare(self, folder: str) -> None:
        store.ensure_dir(folder)
        store.remove_dead_temps(folder, locks.try_locked)

    def task_lock(self, folder: str, task_id: str) -> contextlib.AbstractContextManager[None]:
        return locks.task_locked(folder, task_id)

    def staging(self, paths: list[str]) -> contextlib.AbstractContextManager[dict]:
        return store.staging(paths)

    def is_staged(self, path: str) -> bool:
        return store.is_staging(path)

    def commit(
        self,
        log: ManifestLog,
        record: dict,
        code_members: dict[str, str] | None,
        paths: list[str],
        durable: bool,
    ) -> None:
        if durable:  # the outputs are on disk before the record that vouches for them
            for path in paths:
                _sync(store.staged_path(path) or path)
        log.append(record, code_members=code_members)  # the commit; now the outputs appear
        for path in paths:
            store.publish(path)
        if durable:  # the renames
            _sync(log.folder)


#: The local disk (every path without a protocol; ``stores.store_for`` picks the store).
LOCAL = LocalStore()


def _sync(path: str) -> None:
    """Flush a file, or a folder with its files, to disk (``settings.durable``)."""
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for name in files:
                _sync_one(os.path.join(root, name))
            _sync_one(root)
    else:
        _sync_one(path)


def _sync_one(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; its entries are then not flushed
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
