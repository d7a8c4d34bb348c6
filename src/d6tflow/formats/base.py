"""The format registry: how an object becomes a file (or an in-memory entry) and back.

A format is one small class with a name, an extension, ``save`` and ``load``. Register your own
with :func:`register` and use it from a task with ``format = "<name>"``::

    @d6tflow.formats.register
    class FeatherFormat(d6tflow.formats.Format):
        name = ext = "feather"

        def save(self, obj, path, **kwargs):
            obj.to_feather(path, **kwargs)

        def load(self, path, **kwargs):
            import pandas as pd
            return pd.read_feather(path, **kwargs)

``save`` receives a temporary path (a str) next to the final one. Outside a run d6tflow renames it
into place once ``save`` returns; inside a task's ``run()`` it waits until the task commits with
its record. Either way a crash mid-write never leaves a file that counts as complete.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from d6tflow.errors import MissingExtraError, UnknownNameError, UsageError

__all__ = ["Format", "get_format", "needs", "register", "registered_formats"]

_registry: dict[str, Format] = {}
F = TypeVar("F", bound=type)


class Format:
    """Base class of all formats; subclass it, set ``name`` and ``ext``, implement save/load."""

    name: ClassVar[str] = ""
    ext: ClassVar[str] = ""
    #: True for formats that keep the object in ``d6tflow.data`` instead of a file.
    in_memory: ClassVar[bool] = False
    #: True for formats whose load runs code the file names (pickle): such a file pulled from a
    #: remote is loaded only if that remote is trusted (``set_remote(url, trusted=True)``).
    unpickles: ClassVar[bool] = False

    def save(self, obj: Any, path: str, **kwargs: Any) -> Callable[[str], None] | None:
        """Write ``obj`` to ``path``. A format whose output lives partly outside the file (a
        database table) may return ``finish(final_path)``: d6tflow calls it once the file is in
        place (when the task commits), and never if the run fails before."""
        raise NotImplementedError(f"{type(self).__name__} must implement save(obj, path)")

    def load(self, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement load(path)")

    def discard(self, path: str) -> None:
        """The output at ``path`` is about to be deleted: remove what it keeps elsewhere."""

    def companions(self, path: str) -> list[str]:
        """Files besides ``path`` that the output needs (kept by ``invalidate_orphans``)."""
        return []

    def __repr__(self) -> str:
        return f"<format {self.name!r} .{self.ext}>"


def register(cls: F) -> F:
    """Class decorator: make a :class:`Format` available to tasks by its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Format)) or not cls.name or not cls.ext:
        raise UsageError(f"{cls!r} must subclass d6tflow.formats.Format and set name and ext")
    _registry[cls.name] = cls()
    return cls


def get_format(name: str | Format) -> Format:
    """The registered format called ``name`` (a Format instance is returned as it is)."""
    if isinstance(name, Format):
        return name
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry))
        raise UnknownNameError(
            f"No format named {name!r}. Known formats: {known}. "
            "Register your own with @d6tflow.formats.register."
        ) from None


def registered_formats() -> dict[str, Format]:
    return dict(_registry)


def needs(module: str, extra: str | None, install: str | None = None) -> Any:
    """Import an optional library a format uses, or say which extra (or, for a library no extra
    brings, which ``install`` command) installs it.

    >>> pl = needs("polars", "polars")
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        how = install or f"pip install 'd6tflow[{extra}]'"
        raise MissingExtraError(f"{module} is not installed; install it with: {how}") from e


def final_name(path: str) -> str:
    """The output's own file name, from the temporary path ``save`` gets (documented in
    docs/formats.md: ``.tmp-<pid>.<host><random>-<n>-<final name>``) or the final path."""
    name = os.path.basename(path)
    if name.startswith(".tmp-"):
        parts = name.split("-", 3)
        if len(parts) == 4:
            return parts[3]
    return name
