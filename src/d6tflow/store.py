"""Where outputs live, and how they are written so that nothing half-written ever counts as done."""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from d6tflow.errors import OutputError

logger = logging.getLogger("d6tflow")

#: Temporary files start with this prefix; they never match an output name, so they never count.
TEMP_PREFIX = ".tmp-"

# Temporary names are ``.tmp-<pid>.<host><random>-<counter>-<final name>``: unique by process id
# (taken at write time, so forked workers differ), a random part and a counter; the host part
# says where the process id means something (see remove_dead_temps).
_random_token = os.urandom(3).hex()
_tmp_counter = itertools.count()

# Folders whose dead processes' temporary files this process has removed already.
_cleaned: set[str] = set()

#: A temporary file from another machine is removed only once it has not changed for this long
#: (seconds), and its task's lock is free: there its process id cannot be checked.
OTHER_HOST_QUIET = 3600.0

# A task id: "<Family>_<readable parameters>_<10 hex digits>", never with a "-".
_TASK_ID = re.compile(r"[A-Za-z0-9_]+_[0-9a-f]{10}")

# Outputs of running tasks: final path -> staged temporary path (None until first saved).
_staged: dict[str, str | None] = {}

# Staged outputs whose format asked to finish after the rename (a database table's swap):
# final path -> finish(final path). Called by publish; dropped with the staging if never published.
_finishers: dict[str, Callable[[str], None]] = {}

# Folders already created in this process: a task's output folder is made once, not per save.
_made_dirs: set[str] = set()


def ensure_dir(folder: str | os.PathLike) -> None:
    key = os.fspath(folder)
    if key not in _made_dirs:
        os.makedirs(key or ".", exist_ok=True)
        _made_dirs.add(key)


def forget_dir(folder: str | os.PathLike) -> None:
    """The folder was deleted: the next write makes it again."""
    _made_dirs.discard(os.fspath(folder))


def forget_all_dirs() -> None:
    """Every folder may have been deleted: each is made again at its next write."""
    _made_dirs.clear()


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> None:
    """Call ``write(tmp)`` with a temporary path in ``path``'s folder, then rename it to ``path``.
    If ``write`` returns a callable ``finish``, ``finish(path)`` runs once the file is in place
    (a format whose output lives partly elsewhere, such as a database table, completes it then).

    The temporary name starts with ``.tmp-`` and ends with the real file name, so libraries that
    infer a format or compression from the extension (pandas, openpyxl) behave as for the final
    name. The rename is atomic: readers see the old file, the new one, or none, never a part.
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    ensure_dir(folder)
    tmp = _temp_path(folder, name)
    staging = path in _staged
    try:
        try:
            finish = write(tmp)
        except FileNotFoundError:
            if os.path.isdir(folder or "."):
                raise
            # The folder was deleted by hand since this process created it: make it again.
            forget_dir(folder)
            ensure_dir(folder)
            finish = write(tmp)
        if staging:
            # Fail now, not at the commit: then no manifest is written for an output that cannot
            # be put in place.
            _check_replaceable(tmp, path)
            # Inside a task's run: keep the file staged until the task commits (provenance.py).
            previous, _staged[path] = _staged[path], tmp
            if previous is not None:
                remove_quietly(previous)
            if callable(finish):
                _finishers[path] = finish
            else:
                _finishers.pop(path, None)
        else:
            move_into_place(tmp, path)
            if callable(finish):
                finish(path)
    except BaseException:
        remove_quietly(tmp)
        raise


def temp_path(path: str) -> str:
    """A fresh temporary path beside ``path`` (its folder made if needed): a ``.tmp-`` name that
    never counts as an output, and that :func:`remove_dead_temps` removes once its process is
    gone."""
    folder, name = os.path.split(path)
    ensure_dir(folder)
    return _temp_path(folder, name)


def _temp_path(folder: str, name: str) -> str:
    stamp = f"{os.getpid()}.{_host()}{_random_token}-{next(_tmp_counter)}"
    return os.path.join(folder, f"{TEMP_PREFIX}{stamp}-{name}")


def move_into_place(tmp: str, path: str) -> None:
    """Rename ``tmp`` to ``path``. A file replaces a file atomically. An output that is a folder
    (partitioned Parquet) cannot replace a non-empty folder in one rename: the old one is renamed
    away first, then the new one into place, then the old one deleted. Readers see the old folder,
    no folder, or the new one, never a partial one. A file never replaces a folder: it raises
    :class:`~d6tflow.errors.OutputError` (the caller removes ``tmp``)."""
    try:
        os.replace(tmp, path)
    except OSError:
        if not os.path.isdir(tmp):
            _check_replaceable(tmp, path)
            raise
        folder, name = os.path.split(path)
        trash = _temp_path(folder, f"old-{name}")
        os.replace(path, trash)
        os.replace(tmp, path)
        remove_quietly(trash)


def _check_replaceable(tmp: str, path: str) -> None:
    """A folder at ``path`` may hold files of the user's (or an output partitioned Parquet wrote
    before the task changed format): only a folder output replaces it, as a whole. A file output
    replaces a file, and a folder output may replace a file, as a save always replaces one."""
    if _is_folder(path) and not os.path.isdir(tmp):
        raise OutputError(
            f"Cannot save {path}: a folder is in the way, and d6tflow does not replace a folder "
            "with a file (that would delete everything in it). Move the folder elsewhere or "
            "delete it, then run again."
        )


def staged_path(path: str) -> str | None:
    """Where ``path``'s new content waits while its task runs (None if not staged)."""
    return _staged.get(path)


def is_staging(path: str) -> bool:
    """Is ``path`` inside a :class:`staging` of this process (its task is running)?"""
    return path in _staged


class staging:
    """While a task runs, its outputs are written under temporary names and only renamed into
    place by :func:`publish` when the task commits; whatever is left unpublished is removed.

    >>> with staging(paths) as staged: ...  # staged[path]: the temporary file, or None

    A class rather than a generator: every task of a run enters one.
    """

    __slots__ = ("paths",)

    def __init__(self, paths: list[str]):
        self.paths = paths

    def __enter__(self) -> dict[str, str | None]:
        for path in self.paths:
            _staged[path] = None
        return _staged

    def __exit__(self, *exc: object) -> None:
        for path in self.paths:
            tmp = _staged.pop(path, None)
            if tmp is not None:
                remove_quietly(tmp)
            _finishers.pop(path, None)


def publish(path: str) -> None:
    """Move a staged output into place (atomically)."""
    tmp = _staged.get(path)
    if tmp is not None:
        move_into_place(tmp, path)
        _staged[path] = None
        finish = _finishers.pop(path, None)
        if finish is not None:
            finish(path)


def remove_quietly(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except OSError:
        if _is_folder(path):
            shutil.rmtree(path, ignore_errors=True)


def remove(path: str | os.PathLike) -> bool:
    """Delete a file (or an output that is a folder); True if it existed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError:  # EISDIR on Linux, EPERM on macOS
        if not _is_folder(path):
            raise
        shutil.rmtree(path)
    logger.debug("deleted %s", path)
    return True


def _is_folder(path: str | os.PathLike) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder`` (outputs, metadata and stray temporary files), sorted."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file())


def remove_dead_temps(
    folder: str, try_lock: Callable[[str, str | None], contextlib.AbstractContextManager[bool]]
) -> None:
    """Remove the temporary files that processes which died (killed in the middle of a save or a
    run) left in ``folder`` (see :func:`dead_temps`); once per folder in each process.

    >>> remove_dead_temps(folder, locks.try_locked)
    """
    if folder in _cleaned:
        return
    _cleaned.add(folder)
    removed = dead_temps(folder, try_lock, remove=True)
    if removed:
        logger.info(
            "removed %d temporary file(s) left in %s by processes that ended before saving: %s",
            len(removed),
            folder,
            ", ".join(removed),
        )


def dead_temps(
    folder: str,
    try_lock: Callable[[str, str | None], contextlib.AbstractContextManager[bool]],
    remove: bool = False,
) -> list[str]:
    """The names of the temporary files in ``folder`` whose writer is surely gone, with one
    listing of it; ``remove=True`` removes them too.

    A file counts only when its writer is surely gone: on this machine its process id is not a
    running process (elsewhere the file has not changed for :data:`OTHER_HOST_QUIET` seconds),
    and ``try_lock(folder, task_id)`` can take the lock its task holds while it runs (``None``:
    the folder's append lock, held while the manifest log is rewritten). A file whose task the
    name does not tell (outputs saved without the task id) counts only on the first condition,
    on this machine. Anything else stays: a name of another form, a running process, a held lock.

    >>> dead_temps("data/TaskTrain", locks.try_locked)  # what `d6tflow gc` would remove
    """
    try:
        names = [n for n in os.listdir(folder or ".") if n.startswith(TEMP_PREFIX)]
    except OSError:
        return []
    found = []
    for name in names:
        owner = _owner_of(name)
        if owner is None:
            continue
        pid, here, final = owner
        path = os.path.join(folder, name)
        if here:
            if _running(pid):
                continue
        elif not _quiet_for(path, OTHER_HOST_QUIET):
            continue
        if final.startswith("."):
            lock: str | None = None  # the folder's own files: the manifest log
        else:
            task_id = final.removeprefix("old-").partition("-")[0]
            if not _TASK_ID.fullmatch(task_id):
                if here:
                    if remove:
                        remove_quietly(path)
                    found.append(name)
                continue
            lock = task_id
        with try_lock(folder, lock) as free:
            if free:
                if remove:
                    remove_quietly(path)
                found.append(name)
    return found


def _owner_of(name: str) -> tuple[int, bool, str] | None:
    """(process id, written on this machine?, final name) of a temporary name made by
    :func:`_temp_path`; None for any other name."""
    stamp, _, rest = name[len(TEMP_PREFIX) :].partition("-")
    pid, _, tail = stamp.partition(".")
    number, _, final = rest.partition("-")
    if not (pid.isdigit() and len(tail) == 14 and number.isdigit() and final):
        return None
    return int(pid), tail[:8] == _host(), final


@functools.cache
def _host() -> str:
    """8 hex digits for this machine and its space of process ids (a container has its own)."""
    import socket
    import zlib

    where = socket.gethostname()
    with contextlib.suppress(OSError):
        where += f"/{os.stat('/proc/self/ns/pid').st_ino}"
    return f"{zlib.crc32(where.encode()):08x}"


def _running(pid: int) -> bool:
    """Is ``pid`` a process of this machine that has not ended? True when unsure."""
    if os.name != "posix":
        return True  # os.kill(pid, 0) would end the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # another user's process (or no process id of this system)
    try:  # Linux: a zombie has ended, its parent just did not collect it yet
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[:1]
    except OSError:
        return True
    return state not in ([b"Z"], [b"X"])


def _quiet_for(path: str, seconds: float) -> bool:
    try:
        return time.time() - os.lstat(path).st_mtime > seconds
    except OSError:
        return False
