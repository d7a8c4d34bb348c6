"""Inter-process locks: one per task while it runs, one per folder while its manifest log grows.

On Linux every output folder has a single lock file, ``.d6tflow.lock``, and a task locks one byte
of it (at an offset derived from its task id) with an open-file-description lock: no file is
created per task, and taking a lock costs a few microseconds. Byte 0 guards appends to the
folder's manifest log. Elsewhere (macOS, Windows) each task gets its own lock file, locked with
``flock`` (or the filelock library on Windows).

OFD locks belong to an open file, not to a process: each thread uses its own descriptor, so two
threads of one process exclude each other just as two processes do, and a forked child never
shares its parent's locks (descriptors are opened per process id).
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
from collections.abc import Iterator

import xxhash

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from d6tflow import store

#: The lock file of an output folder (Linux); other platforms use one ``.<task_id>.lock`` per task.
FOLDER_LOCK_NAME = ".d6tflow.lock"

_OFD_SETLKW = getattr(fcntl, "F_OFD_SETLKW", None) if sys.platform.startswith("linux") else None
_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", None)
# struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t.
_FLOCK = "hhqqi"
USES_FOLDER_LOCK = _OFD_SETLKW is not None and struct.calcsize("l") == 8

_APPEND_BYTE = 0
# Descriptors of folder lock files by (pid, thread, folder): [descriptor, locks it holds, key]. A
# descriptor is closed only when idle (closing it would release its locks).
_descriptors: dict[tuple[int, int, str], list] = {}
_MAX_IDLE_DESCRIPTORS = 64


def task_lock_path(folder: str, task_id: str) -> str:
    """The file a task's lock lives in: the folder's lock file, or its own one."""
    name = FOLDER_LOCK_NAME if USES_FOLDER_LOCK else f".{task_id}.lock"
    return os.path.join(folder, name)


def task_locked(folder: str, task_id: str) -> contextlib.AbstractContextManager[None]:
    """Hold the task's exclusive lock: no other thread or process runs it meanwhile.

    >>> with task_locked(folder, task.task_id): ...
    """
    if USES_FOLDER_LOCK:
        return _ByteLock(folder, _byte_of(task_id))
    return locked(task_lock_path(folder, task_id))


def append_locked(folder: str) -> contextlib.AbstractContextManager[None]:
    """Hold the lock that serializes writers of the folder's manifest log."""
    if USES_FOLDER_LOCK:
        return _ByteLock(folder, _APPEND_BYTE)
    return locked(os.path.join(folder, FOLDER_LOCK_NAME))


@contextlib.contextmanager
def try_locked(folder: str, task_id: str | None) -> Iterator[bool]:
    """Take the task's lock (the folder's append lock for ``None``) only if nobody holds it:
    yields whether it was taken, and holds it while inside.

    >>> with try_locked(folder, task_id) as free: ...

    On a descriptor of its own, so a lock this thread or process holds counts as held. A lock
    file that does not exist is held by nobody (and is not created).
    """
    if task_id is None:
        path = os.path.join(folder, FOLDER_LOCK_NAME)
    else:
        path = task_lock_path(folder, task_id)
    if fcntl is None:  # pragma: no cover - Windows
        from filelock import FileLock, Timeout

        lock = FileLock(path, timeout=0)
        try:
            lock.acquire()
        except (Timeout, OSError):
            yield False
            return
        try:
            yield True
        finally:
            lock.release()
        return
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield True
        return
    except OSError:  # not ours to lock (read-only, permissions): say held, to be safe
        yield False
        return
    try:
        try:
            if USES_FOLDER_LOCK:
                byte = _APPEND_BYTE if task_id is None else _byte_of(task_id)
                fcntl.fcntl(
                    fd, _OFD_SETLK, struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0)
                )
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EAGAIN or EACCES: someone holds it
            free = False
        else:
            free = True
        yield free
    finally:
        os.close(fd)  # releases the lock


def _byte_of(task_id: str) -> int:
    # 62 bits: off_t is signed and byte 0 is taken. A collision of two task ids (about one in
    # 10^18) would only make those two tasks wait for each other.
    return (xxhash.xxh3_64_intdigest(task_id.encode()) >> 2) or 1


class _ByteLock:
    """An exclusive OFD lock on one byte of a folder's lock file (a class, not a generator:
    a run takes two per task)."""

    __slots__ = ("byte", "entry", "folder")

    def __init__(self, folder: str, byte: int):
        self.folder, self.byte = folder, byte

    def __enter__(self) -> None:
        while True:
            entry = _descriptor(self.folder)
            _set_lock(entry[0], fcntl.F_WRLCK, self.byte)
            if _still_in_place(entry[0]):
                break
            # The folder was deleted (and maybe made again) since this descriptor was opened: a
            # lock on the old file excludes nobody. Drop it and lock the file that is there now.
            _set_lock(entry[0], fcntl.F_UNLCK, self.byte)
            del _descriptors[entry[2]]
            if entry[1] == 0:
                os.close(entry[0])
        entry[1] += 1
        self.entry = entry

    def __exit__(self, *exc: object) -> None:
        entry = self.entry
        entry[1] -= 1
        _set_lock(entry[0], fcntl.F_UNLCK, self.byte)
        if entry[1] == 0 and _descriptors.get(entry[2]) is not entry:
            os.close(entry[0])  # replaced while held (the folder was made again): now idle


def _set_lock(fd: int, kind: int, byte: int) -> None:
    fcntl.fcntl(fd, _OFD_SETLKW, struct.pack(_FLOCK, kind, os.SEEK_SET, byte, 1, 0))


def _still_in_place(fd: int) -> bool:
    # Deleting the folder (or the lock file) unlinks the file this descriptor holds.
    return os.fstat(fd).st_nlink > 0


def _descriptor(folder: str) -> list:
    key = (os.getpid(), threading.get_ident(), folder)
    entry = _descriptors.get(key)
    if entry is not None:
        return entry
    if len(_descriptors) >= _MAX_IDLE_DESCRIPTORS:
        _close_idle()
    entry = _descriptors[key] = [_open_lock_file(os.path.join(folder, FOLDER_LOCK_NAME)), 0, key]
    return entry


def _close_idle() -> None:
    pid = os.getpid()
    for key, (fd, held, _) in list(_descriptors.items()):
        if key[0] != pid:  # inherited from a parent process: not ours to use or close
            del _descriptors[key]
        elif held == 0:
            os.close(fd)
            del _descriptors[key]


def _open_lock_file(path: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:  # the folder was deleted by hand since this process made it
        store.forget_dir(os.path.dirname(path))
        store.ensure_dir(os.path.dirname(path))
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if needed) while inside.

    A bare ``flock`` on POSIX (about 5 µs); the filelock library, used on Windows, costs about
    200 µs a lock, which per task would dominate a flow of small tasks.
    """
    if fcntl is None:  # pragma: no cover - Windows
        from filelock import FileLock

        with FileLock(path):
            yield
        return
    fd = _open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
