"""The in-memory output store (``d6tflow.data``): TaskCache outputs and cached loads live here,
keyed by the path the output would have on disk."""

from __future__ import annotations

import os
from typing import Any


def _key(key: Any) -> Any:
    if type(key) is str:  # the engine's own keys: no PathLike check (an ABC check is slow)
        return key
    return os.fspath(key) if isinstance(key, os.PathLike) else key


class Outputs(dict):
    """A dict keyed by the str of each path; a ``Path`` is taken as its str, so both
    ``d6tflow.data[target.path]`` and ``d6tflow.data[str(target.path)]`` find an output."""

    def __getitem__(self, key: Any) -> Any:
        return dict.__getitem__(self, _key(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, _key(key), value)

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, _key(key))

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, _key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return dict.get(self, _key(key), default)

    def pop(self, key: Any, *default: Any) -> Any:
        return dict.pop(self, _key(key), *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return dict.setdefault(self, _key(key), default)


data: dict[str, Any] = Outputs()


def fresh(obj: Any) -> Any:
    """A copy of a cached load for one caller, so that changing it in place cannot change what
    later loads return (as the original, which read the file each time, never did). A pandas
    object is copied shallowly where copy-on-write (pandas 3, or its option) makes that safe,
    deeply otherwise; anything else is deep-copied."""
    import copy
    import sys

    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(obj, (pandas.DataFrame, pandas.Series)):
        return obj.copy(deep=not _copy_on_write(pandas))
    return copy.deepcopy(obj)


def _copy_on_write(pandas: Any) -> bool:
    if int(pandas.__version__.split(".")[0]) >= 3:
        return True
    try:
        return bool(pandas.options.mode.copy_on_write is True)
    except AttributeError:
        return False
