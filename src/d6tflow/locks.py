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
# struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t.
_FLOCK = "hhqqi"
USES_FOLDER_LOCK = _OFD_SETLKW is not None and struct.calcsize("l") == 8

_APPEND_BYTE = 0
# Descriptors of folder lock files by (pid, thread, folder), with how many locks each holds: a
# descriptor is closed only when idle (closing it would release its locks).
_descriptors: dict[tuple[int, int, str], list[int]] = {}
_MAX_IDLE_DESCRIPTORS = 64


def task_lock_path(folder: str, task_id: str) -> str:
    """The file a task's lock lives in: the folder's lock file, or its own one."""
    name = FOLDER_LOCK_NAME if USES_FOLDER_LOCK else f".{task_id}.lock"
    return os.path.join(folder, name)


@contextlib.contextmanager
def task_locked(folder: str, task_id: str) -> Iterator[None]:
    """Hold the task's exclusive lock: no other thread or process runs it meanwhile."""
    if USES_FOLDER_LOCK:
        with _byte_locked(folder, _byte_of(task_id)):
            yield
    else:
        with locked(task_lock_path(folder, task_id)):
            yield


@contextlib.contextmanager
def append_locked(folder: str) -> Iterator[None]:
    """Hold the lock that serializes writers of the folder's manifest log."""
    if USES_FOLDER_LOCK:
        with _byte_locked(folder, _APPEND_BYTE):
            yield
    else:
        with locked(os.path.join(folder, FOLDER_LOCK_NAME)):
            yield


def _byte_of(task_id: str) -> int:
    # 62 bits: off_t is signed and byte 0 is taken. A collision of two task ids (about one in
    # 10^18) would only make those two tasks wait for each other.
    return (xxhash.xxh3_64_intdigest(task_id.encode()) >> 2) or 1


@contextlib.contextmanager
def _byte_locked(folder: str, byte: int) -> Iterator[None]:
    while True:
        entry = _descriptor(folder)
        fd = entry[0]
        fcntl.fcntl(fd, _OFD_SETLKW, struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0))
        if _still_in_place(fd, folder):
            break
        # The folder was deleted (and maybe made again) since this descriptor was opened: a lock
        # on the old file excludes nobody. Drop it and lock the file that is there now.
        fcntl.fcntl(fd, _OFD_SETLKW, struct.pack(_FLOCK, fcntl.F_UNLCK, os.SEEK_SET, byte, 1, 0))
        if entry[1] == 0:
            forget_folder(folder)
        else:
            del _descriptors[(os.getpid(), threading.get_ident(), folder)]
    entry[1] += 1
    try:
        yield
    finally:
        entry[1] -= 1
        fcntl.fcntl(fd, _OFD_SETLKW, struct.pack(_FLOCK, fcntl.F_UNLCK, os.SEEK_SET, byte, 1, 0))


def _still_in_place(fd: int, folder: str) -> bool:
    try:
        return os.stat(os.path.join(folder, FOLDER_LOCK_NAME)).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _descriptor(folder: str) -> list[int]:
    key = (os.getpid(), threading.get_ident(), folder)
    entry = _descriptors.get(key)
    if entry is not None:
        return entry
    if len(_descriptors) >= _MAX_IDLE_DESCRIPTORS:
        _close_idle()
    entry = _descriptors[key] = [_open_lock_file(os.path.join(folder, FOLDER_LOCK_NAME)), 0]
    return entry


def _close_idle() -> None:
    pid = os.getpid()
    for key, (fd, held) in list(_descriptors.items()):
        if key[0] != pid:  # inherited from a parent process: not ours to use or close
            del _descriptors[key]
        elif held == 0:
            os.close(fd)
            del _descriptors[key]


def forget_folder(folder: str) -> None:
    """Close idle descriptors of a folder that is being deleted."""
    pid = os.getpid()
    for key, (fd, held) in list(_descriptors.items()):
        if key[0] == pid and key[2] == folder and held == 0:
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
