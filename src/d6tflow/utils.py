"""Helpers shared by several modules: walking requires() structures, asking for confirmation."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["confirm_prompt", "flatten", "map_structure"]


def flatten(struct: Any) -> list[Any]:
    """The leaves of a nested task/target structure (dicts by value, lists, tuples), in order.

    >>> flatten({"a": 1, "b": [2, (3,)]})
    [1, 2, 3]
    """
    if struct is None:
        return []
    if isinstance(struct, dict):
        out: list[Any] = []
        for value in struct.values():
            out.extend(flatten(value))
        return out
    if isinstance(struct, (list, tuple, set, frozenset)) or _is_generator(struct):
        out = []
        for value in struct:
            out.extend(flatten(value))
        return out
    return [struct]


def _is_generator(obj: Any) -> bool:
    return hasattr(obj, "__next__") and hasattr(obj, "__iter__")


def map_structure(fn: Callable[[Any], Any], struct: Any) -> Any:
    """Apply ``fn`` to every leaf, keeping the dict/list/tuple shape."""
    if isinstance(struct, dict):
        return {k: map_structure(fn, v) for k, v in struct.items()}
    if isinstance(struct, (list, tuple)):
        return type(struct)(map_structure(fn, v) for v in struct)
    return fn(struct)


def confirm_prompt(action: str, items: Iterable[Any]) -> bool:
    """List what is about to happen and ask ``(y/n)``; True only for ``y``."""
    items = list(items)
    for item in items:
        print(f"  {item}")
    answer = input(f"Confirm {action} of {len(items)} item(s) (y/n). Cancel with n: ")
    return answer.strip().lower() == "y"
