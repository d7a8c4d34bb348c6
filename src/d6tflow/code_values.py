"""What a value counts as in a code fingerprint: code counts, runtime state does not."""

from __future__ import annotations

import enum
import types
from pathlib import PurePath
from typing import Any

from d6tflow.code_source import module_label

# -- values ----------------------------------------------------------------------------------------
# Code counts, runtime state does not. Data written in the code (numbers, strings, lists of them)
# counts by value; an object (a lock, a client, a model) counts by its type's name and never by
# repr, which may carry a memory address and would make a task stale in every new process.

_scalar_types: frozenset[type] = frozenset()
_MAX_DEPTH = 64  # deeper nesting (or a list that holds itself) is described by type from there


def scalar_types() -> frozenset[type]:
    global _scalar_types
    if not _scalar_types:
        # Imported on first use rather than with d6tflow: nothing needs decimal before.
        import datetime
        import decimal
        import fractions

        _scalar_types = frozenset(
            {
                type(None),
                bool,
                int,
                float,
                complex,
                str,
                bytes,
                datetime.date,
                datetime.datetime,
                datetime.time,
                datetime.timedelta,
                decimal.Decimal,
                fractions.Fraction,
            }
        )
    return _scalar_types


def value_text(value: Any, mutable: bool = True) -> str:
    """What a value counts as in a code fingerprint.

    Plain data (None, bools, numbers, strings, bytes, dates and times, Decimal, Fraction, enum
    members, paths, and tuples, lists, dicts, sets and frozensets of them) counts by value: sets in
    an order that does not depend on PYTHONHASHSEED, dicts in their own order. Classes and
    functions count by qualified name; any other object by its type's name. With
    ``mutable=False`` lists, dicts and sets count by type name too (code may change them in place).

    >>> value_text({"b", "a"}), value_text([1, "x"], mutable=False)
    ("set{'a','b'}", '<builtins.list>')
    """
    return _text(value, mutable, _MAX_DEPTH)


def _text(value: Any, mutable: bool, depth: int) -> str:
    kind = type(value)
    scalars = scalar_types()
    if kind in scalars:
        return repr(value)
    if isinstance(value, type):
        return type_label(value)
    if isinstance(value, enum.Enum):
        return f"{type_label(kind)}.{value.name}"
    if isinstance(value, PurePath):
        return repr(value)
    if depth > 0:
        depth -= 1
        if isinstance(value, tuple):
            items = ",".join(_text(v, mutable, depth) for v in value)
            return ("" if kind is tuple else type_label(kind)) + f"({items})"
        if isinstance(value, frozenset) or (mutable and isinstance(value, set)):
            # Sorted by their text: a set of strings iterates in an order set by the hash seed.
            items = ",".join(sorted(_text(v, mutable, depth) for v in value))
            return (
                kind.__name__ if kind in (set, frozenset) else type_label(kind)
            ) + f"{{{items}}}"
        if mutable and isinstance(value, list):
            items = ",".join(_text(v, mutable, depth) for v in value)
            return ("" if kind is list else type_label(kind)) + f"[{items}]"
        if mutable and isinstance(value, dict):
            items = ",".join(
                f"{_text(k, mutable, depth)}:{_text(v, mutable, depth)}" for k, v in value.items()
            )
            return ("" if kind is dict else type_label(kind)) + f"{{{items}}}"
    for base in kind.__mro__[1:]:
        if base in scalars:  # numpy.float64 is a float, pandas.Timestamp a datetime
            return f"{type_label(kind)}:{base.__repr__(value)}"
    qualname = getattr(value, "__qualname__", None) if callable(value) else None
    if isinstance(qualname, str):  # functions, builtins, methods
        module = getattr(value, "__module__", None)
        return f"{module_label(module)}.{qualname}" if isinstance(module, str) else qualname
    return f"<{type_label(kind)}>"


def type_label(kind: type) -> str:
    module = getattr(kind, "__module__", None)
    return f"{module_label(module)}.{kind.__qualname__}" if module else kind.__qualname__


def is_constant(value: Any) -> bool:
    """Immutable plain data: what a module-level name may hold to count by value."""
    kind = type(value)
    scalars = scalar_types()
    if kind in scalars or isinstance(value, (tuple, frozenset, enum.Enum, PurePath)):
        return True
    return any(base in scalars for base in kind.__mro__[1:])


def closure_text(func: types.FunctionType) -> str:
    """Values a function closes over, by name: immutable data by value, classes and functions by
    name, anything else by type (run() may change a list, dict or Counter it closes over)."""
    if not func.__closure__:
        return ""
    # d6tflow's decorators close over what you gave them (@d6tflow.requires({"a": TaskA})): the
    # declaration itself, never changed afterwards, so it counts in full.
    mutable = (func.__module__ or "").split(".")[0] == "d6tflow"
    parts = []
    for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        parts.append(f"{name}={value_text(value, mutable)}")
    return ";".join(parts)
