"""Helpers shared by several modules: walking requires() structures, asking for confirmation."""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = [
    "confirm_prompt",
    "flatten",
    "map_structure",
    "params_generator_multiple",
    "params_generator_single",
    "print_tree",
    "traverse",
]


# Whether the collector was on when each pause still in progress began, outermost first.
_pauses: list[bool] = []
# Objects made during a pause (and still alive) above which they count as long-lived.
_PROMOTE_AFTER = 10_000


@contextlib.contextmanager
def logger_level(logger: logging.Logger, level: int | str) -> Iterator[None]:
    """``logger`` at ``level`` inside the block, and back at the user's level after it.

    If logging is not configured (no handler on the logger or above it), its records go to
    stderr meanwhile: Python's fallback shows only warnings and errors, so ``level="INFO"``
    would show nothing without ``logging.basicConfig()``.
    """
    previous = logger.level
    logger.setLevel(level)
    handler = None if logger.hasHandlers() else _StderrHandler()
    if handler is not None:
        logger.addHandler(handler)
    try:
        yield
    finally:
        logger.setLevel(previous)
        if handler is not None:
            logger.removeHandler(handler)


class _StderrHandler(logging.Handler):
    """Each record's message on the ``sys.stderr`` of the moment (as Python's own fallback
    writes it), so a live display or a test capturing stderr sees it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while building many small objects at once.

    Building the graph of a large flow or reading a folder's manifests creates hundreds of
    thousands of objects and no cyclic garbage; the collector would walk them over and over
    (about a quarter of a state check's time). Reference counting still frees what goes, and
    objects that are gone before the collector is back cost it nothing.
    """
    _pauses.append(gc.isenabled())
    gc.disable()
    try:
        yield
    finally:
        if _pauses.pop():
            if not _pauses and gc.get_count()[0] > _PROMOTE_AFTER and not gc.get_freeze_count():
                # A large flow's objects still alive now (a graph the caller keeps, a log read)
                # are long-lived: straight to the oldest generation (freeze + unfreeze moves
                # them there without walking them), instead of a collection that walks them all
                # as soon as the collector is back. Not for small pauses (an outputLoad in a
                # loop), nor if the user froze objects (unfreeze would thaw them).
                gc.freeze()
                gc.unfreeze()
            gc.enable()


class gc_resumed:
    """Inside a pause: the collector as the user had it, for the user's own code (a task's
    ``run()``) and for long waits, where other threads may make cyclic garbage. A class, not a
    generator: it is entered once per task."""

    __slots__ = ("_paused",)

    def __enter__(self) -> None:
        self._paused = not gc.isenabled()
        if _pauses and _pauses[0]:
            gc.enable()

    def __exit__(self, *exc: object) -> None:
        if self._paused:
            gc.disable()


def flatten(struct: Any) -> list[Any]:
    """The leaves of a nested task/target structure (dicts by value, lists, tuples), in order.

    >>> flatten({"a": 1, "b": [2, (3,)]})
    [1, 2, 3]
    """
    out: list[Any] = []
    _flatten_into(struct, out)
    return out


_SEQUENCES = (list, tuple, set, frozenset)
_CONTAINERS = (dict, *_SEQUENCES)


def _flatten_into(struct: Any, out: list[Any]) -> None:
    if isinstance(struct, dict):
        struct = struct.values()
    elif not (isinstance(struct, _SEQUENCES) or _is_generator(struct)):
        if struct is not None:
            out.append(struct)
        return
    # Leaves (tasks, targets) are appended here, not by a call each, and are told apart by
    # having no __iter__ before the costlier isinstance: a graph flattens every requires().
    for value in struct:
        if not hasattr(value, "__iter__"):
            if value is not None:
                out.append(value)
        elif isinstance(value, _CONTAINERS) or hasattr(value, "__next__"):
            _flatten_into(value, out)
        else:  # a string or another iterable that is not a container: a leaf
            out.append(value)


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


def params_generator_single(dict_: dict[str, list], params_base: dict | None = None) -> dict:
    """One parameter set per value of a single parameter, numbered from 0.

    >>> params_generator_single({"model": ["ols", "gbm"]}, params_base={"scale": True})
    {0: {'scale': True, 'model': 'ols'}, 1: {'scale': True, 'model': 'gbm'}}

    The varied value wins over a same-named entry of ``params_base``.
    """
    ((key, values),) = list(dict_.items())[:1]
    return {i: {**(params_base or {}), key: value} for i, value in enumerate(values)}


def params_generator_multiple(
    params_dict: dict[str, list], params_base: dict | None = None
) -> dict:
    """Every combination of the listed values (a full grid), named as the original named them:
    keys sorted, ``"<key1>_<value1>_<key2>_<value2>"``.

    >>> params_generator_multiple({"model": ["ols", "gbm"], "scale": [True, False]})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'model_ols_scale_True': {'model': 'ols', 'scale': True},
     'model_ols_scale_False': {'model': 'ols', 'scale': False},
     'model_gbm_scale_True': {'model': 'gbm', 'scale': True},
     'model_gbm_scale_False': {'model': 'gbm', 'scale': False}}
    """
    import itertools

    keys = sorted(params_dict)
    grid = {}
    for combo in itertools.product(*(params_dict[k] for k in keys)):
        name = "_".join(f"{k}_{v}" for k, v in zip(keys, combo, strict=True))
        grid[name] = {**(params_base or {}), **dict(zip(keys, combo, strict=True))}
    return grid


def traverse(task: Any, path: list | None = None) -> list:
    """``task`` and every task upstream of it, each once, depth first (the original's helper).

    >>> [t.task_family for t in traverse(TaskTrain())]
    ['TaskTrain', 'TaskPreprocess', 'TaskGetData']
    """
    found = list(path or [])
    seen = set(found)  # tasks hash by identity: a flow of thousands stays linear
    stack = [task]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        found.append(current)
        stack.extend(reversed(current.deps()))
    return found


def print_tree(
    task: Any,
    indent: str = "",
    last: bool = True,
    show_params: bool = True,
    clip_params: bool = False,
) -> str:
    """The original's text tree of ``task`` and its dependencies, COMPLETE or PENDING (a stale
    task is PENDING here: ``d6tflow.preview`` says which and why). Returns the text."""
    done = "COMPLETE" if task.complete() else "PENDING"
    params: Any = ""
    if show_params:
        params = task.to_str_params(only_significant=True)
        if len(params) > 1 and clip_params:
            params = str(dict([next(iter(params.items()))])) + "[more]"
    branch, inner = ("└─--", indent + "   ") if last else ("|--", indent + "|  ")
    text = f"\n{indent}{branch}[{type(task).__name__}-{params} ({done})]"
    children = task.deps()
    for i, child in enumerate(children):
        text += print_tree(child, inner, i == len(children) - 1, show_params, clip_params)
    return text
