"""Targets: one output of one task, bound to a location and a format.

``task.output()`` returns these; ``target.load()``/``target.save(obj)`` read and write, ``exists()``
tells whether the output is there, ``invalidate()`` removes it. The class names of the original
d6tflow (``PqPandasTarget`` …) are kept for code that uses them directly.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from d6tflow import cache, settings
from d6tflow.errors import MissingExtraError, NoOutputFormatError, TaskNotCompleteError
from d6tflow.formats import Format, get_format
from d6tflow.stores import check_trusted, pulled_from, store_for

__all__ = [
    "CSVGZPandasTarget",
    "CSVPandasTarget",
    "CacheTarget",
    "DataTarget",
    "ExcelPandasTarget",
    "JsonTarget",
    "PdCacheTarget",
    "PickleTarget",
    "PqPandasTarget",
    "Target",
]


def _missing(path: Any) -> TaskNotCompleteError:
    return TaskNotCompleteError(
        f"Target does not exist, make sure task is complete: {path} (run the flow first)"
    )


class Target:
    """Base of all targets: ``exists``, ``load``, ``save``, ``invalidate``."""

    path: Any

    def exists(self) -> bool:
        raise NotImplementedError

    def load(self, cached: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError

    def save(self, obj: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def invalidate(self) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


class CacheTarget(Target):
    """An output kept in memory in ``d6tflow.data``, under ``key``: the str of the ``path`` the
    output would have on disk."""

    def __init__(self, path: str | Path):
        # Normalized as a Path would be, so str(target.path) is the key, whatever the folder's
        # spelling ("out/", "./out").
        self.key = os.fspath(Path(path))

    @cached_property
    def path(self) -> Path:
        """A ``pathlib.Path``, as every target's (``d6tflow.data`` takes it as a key too)."""
        return Path(self.key)

    def exists(self) -> bool:
        return self.key in cache.data

    def load(self, cached: bool = True, **kwargs: Any) -> Any:
        try:
            return cache.data[self.key]
        except KeyError:
            raise _missing(self.key) from None

    def save(self, obj: Any, **kwargs: Any) -> str:
        cache.data[self.key] = obj
        return self.key

    def invalidate(self) -> bool:
        cache.data.pop(self.key, None)
        return True


PdCacheTarget = CacheTarget


class DataTarget(Target):
    """A file output written through a :class:`~d6tflow.formats.Format`, atomically.

    Subclass it and override ``load``/``save`` to write your own target (the original's way); or,
    simpler, register a Format.
    """

    format: ClassVar[str | Format | None] = None

    def __init__(self, path: str | Path, format: str | Format | None = None):
        self._path = os.fspath(path)
        fmt = format or self.format
        self._format = get_format(fmt) if fmt else None

    @classmethod
    def at(cls, path: str, format: Format) -> DataTarget:
        """A target at ``path`` (a str) in a resolved format, without ``__init__``'s conversions:
        every task of a flow makes one."""
        target = cls.__new__(cls)
        target._path, target._format = path, format
        return target

    @cached_property
    def path(self) -> Any:
        """A ``pathlib.Path``; in a remote data folder a ``upath.UPath`` (pathlib for fsspec)."""
        if "://" in self._path:
            from upath import UPath

            return UPath(self._path, **getattr(store_for(self._path), "options", {}))
        return Path(self._path)

    def __fspath__(self) -> str:
        """The path as a string (``os.fspath(target)``): cheaper than ``path`` for the engine."""
        return self._path

    def exists(self) -> bool:
        return store_for(self._path).exists(self._path)

    def load(self, *args: Any, cached: bool = False, **kwargs: Any) -> Any:
        """Load the file. The original's helper form ``load(fun, cached=False, **kw)`` (used by
        custom targets: ``super().load(pd.read_csv, cached, sep=";")``) works too."""
        reader, cached = self._legacy_args(args, cached)
        use_cache = cached or settings.cached
        if use_cache and self._path in cache.data:
            return cache.fresh(cache.data[self._path])
        try:
            # A task reading back its own output while it runs finds it where it is staged.
            where = store_for(self._path)
            if reader is not None:
                obj = reader(where.readable_path(self._path), **kwargs)
            else:
                fmt = self._require_format()
                if fmt.unpickles and not where.is_staged(self._path):
                    check_trusted(self._path, pulled_from(self._path))
                obj = fmt.load(where.readable_path(self._path), **kwargs)
        except FileNotFoundError:
            raise _missing(self._path) from None
        except MissingExtraError as e:
            raise self._needs_extra(e, "load") from e.__cause__
        if use_cache:
            cache.data[self._path] = obj
            return cache.fresh(obj)  # the kept one is never handed out: callers may change theirs
        return obj

    @staticmethod
    def _legacy_args(args: tuple, cached: bool) -> tuple[Any, bool]:
        if args and callable(args[0]):
            return args[0], (args[1] if len(args) > 1 else cached)
        return None, (args[0] if args else cached)

    def save(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Save atomically; returns the path. The original's helper form
        ``save(df, "to_csv", **kw)`` (calling ``df.to_csv(path, **kw)``) works too."""
        cache.data.pop(self._path, None)
        if args and isinstance(args[0], str):
            writer_name = args[0]
            store_for(self._path).write(
                self._path, lambda tmp: getattr(obj, writer_name)(tmp, **kwargs)
            )
        else:
            fmt = self._require_format()
            try:
                store_for(self._path).write(self._path, lambda tmp: fmt.save(obj, tmp, **kwargs))
            except MissingExtraError as e:
                raise self._needs_extra(e, "save") from e.__cause__
        return self.path  # a pathlib.Path, as the original returned

    def _needs_extra(self, error: MissingExtraError, verb: str) -> MissingExtraError:
        """The error of a format whose library is missing, naming the output (and so the task
        id): the format only saw a temporary path."""
        return MissingExtraError(f"Cannot {verb} {self._path}: {error}")

    def companions(self) -> list[str]:
        """Files besides this output's own that it needs (an SQLite database of SQL outputs)."""
        return self._format.companions(self._path) if self._format is not None else []

    def invalidate(self) -> bool:
        cache.data.pop(self._path, None)
        where = store_for(self._path)
        fmt = self._format
        if fmt is not None and type(fmt).discard is not Format.discard and where.exists(self._path):
            fmt.discard(where.readable_path(self._path))
        where.remove(self._path)
        return not self.exists()

    def _require_format(self) -> Format:
        if self._format is None:
            raise NoOutputFormatError(
                f"{type(self).__name__} has no format: set format = '<name>' on the target "
                "class, or override load() and save()"
            )
        return self._format


class PickleTarget(DataTarget):
    format = "pickle"


class JsonTarget(DataTarget):
    format = "json"


class CSVPandasTarget(DataTarget):
    format = "csv"


class CSVGZPandasTarget(DataTarget):
    format = "csv.gz"


class ExcelPandasTarget(DataTarget):
    format = "excel"


class PqPandasTarget(DataTarget):
    format = "parquet"
