"""Where outputs live, and how they are written so that nothing half-written ever counts as done."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from d6tflow import settings

logger = logging.getLogger("d6tflow")

#: Temporary files start with this prefix; they never match an output name, so they never count.
TEMP_PREFIX = ".tmp-"

# Temporary names are unique by process id (taken at write time, so forked workers differ), a
# random part (processes on other machines sharing the folder) and a counter.
_random_token = os.urandom(3).hex()
_tmp_counter = itertools.count()

# Outputs of running tasks: final path -> staged temporary path (None until first saved).
_staged: dict[str, str | None] = {}

# Folders already created in this process: a task's output folder is made once, not per save.
_made_dirs: set[str] = set()


def set_dir(dir: str | os.PathLike | None = None) -> Path:
    """Set the data folder all outputs go to (default ``data`` in the working directory).

    >>> d6tflow.set_dir("output/experiment1")
    """
    if settings.isinitpipe:
        raise RuntimeError("Using d6tpipe, set dir via d6tflow.pipes.set_default()")
    if dir is None:
        settings.dirpath.mkdir(parents=True, exist_ok=True)
    else:
        settings.dir = str(dir)
        settings.dirpath = Path(dir)
    settings.isinit = True
    return settings.dirpath


def ensure_dir(folder: str | os.PathLike) -> None:
    key = os.fspath(folder)
    if key not in _made_dirs:
        os.makedirs(key or ".", exist_ok=True)
        _made_dirs.add(key)


def forget_dir(folder: str | os.PathLike) -> None:
    """The folder was deleted: the next write makes it again."""
    _made_dirs.discard(os.fspath(folder))


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` with a temporary path in ``path``'s folder, then rename it to ``path``.

    The temporary name starts with ``.tmp-`` and ends with the real file name, so libraries that
    infer a format or compression from the extension (pandas, openpyxl) behave as for the final
    name. The rename is atomic: readers see the old file, the new one, or none, never a part.
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    ensure_dir(folder)
    tmp = os.path.join(
        folder, f"{TEMP_PREFIX}{os.getpid()}{_random_token}-{next(_tmp_counter)}-{name}"
    )
    staging = path in _staged
    try:
        try:
            write(tmp)
        except FileNotFoundError:
            if os.path.isdir(folder or "."):
                raise
            # The folder was deleted by hand since this process created it: make it again.
            forget_dir(folder)
            ensure_dir(folder)
            write(tmp)
        if staging:
            # Inside a task's run: keep the file staged until the task commits (provenance.py).
            previous, _staged[path] = _staged[path], tmp
            if previous is not None:
                _remove_quietly(previous)
        else:
            _move_into_place(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def _move_into_place(tmp: str, path: str) -> None:
    """Rename ``tmp`` to ``path``. A file replaces a file atomically. An output that is a folder
    (partitioned Parquet) cannot replace a non-empty folder in one rename: the old one is renamed
    away first, then the new one into place, then the old one deleted. Readers see the old folder,
    no folder, or the new one, never a partial one."""
    try:
        os.replace(tmp, path)
    except OSError:
        if not (os.path.isdir(tmp) or os.path.isdir(path)):
            raise
        folder, name = os.path.split(path)
        trash = os.path.join(
            folder, f"{TEMP_PREFIX}{os.getpid()}{_random_token}-{next(_tmp_counter)}-old-{name}"
        )
        os.replace(path, trash)
        os.replace(tmp, path)
        _remove_quietly(trash)


def staged_path(path: str) -> str | None:
    """Where ``path``'s new content waits while its task runs (None if not staged)."""
    return _staged.get(path)


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
                _remove_quietly(tmp)


def publish(path: str) -> None:
    """Move a staged output into place (atomically)."""
    tmp = _staged.get(path)
    if tmp is not None:
        _move_into_place(tmp, path)
        _staged[path] = None


def _remove_quietly(path: str | os.PathLike) -> None:
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
