"""Where outputs live, and how they are written so that nothing half-written ever counts as done."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from d6tflow import settings

logger = logging.getLogger("d6tflow")

#: Temporary files start with this prefix; they never match an output name, so they never count.
TEMP_PREFIX = ".tmp-"

# Folders already created in this process: a task's output folder is made once, not per save.
_made_dirs: set[str] = set()


def set_dir(dir: str | os.PathLike | None = None) -> Path:  # noqa: A002 - original name
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


def ensure_dir(folder: Path) -> None:
    key = str(folder)
    if key not in _made_dirs:
        folder.mkdir(parents=True, exist_ok=True)
        _made_dirs.add(key)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success rename it to ``path``.

    The temporary name ends with the real file name, so libraries that infer a format or a
    compression from the extension (pandas, openpyxl) behave as for the final name. The rename is
    atomic on POSIX and Windows: readers see either the old file, the new one, or none.
    """
    path = Path(path)
    ensure_dir(path.parent)
    tmp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    except FileNotFoundError:
        _made_dirs.discard(
            str(path.parent)
        )  # the folder vanished (deleted by hand): say so clearly
        _remove_quietly(tmp)
        raise
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def remove(path: Path) -> bool:
    """Delete a file; True if it existed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    logger.debug("deleted %s", path)
    return True


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder`` (outputs, metadata and stray temporary files), sorted."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file())
