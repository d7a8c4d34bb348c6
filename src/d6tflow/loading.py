"""outputLoad/inputLoad: turning a task's targets (or its inputs') into objects, by key."""

from __future__ import annotations

from typing import Any

from d6tflow.errors import OutputKeyError
from d6tflow.targets import Target


def _check_keys(who: Any, wanted: list[str], available: list[str]) -> None:
    unknown = [k for k in wanted if k not in available]
    if unknown:
        raise OutputKeyError(
            f"Key name does not match: {unknown} not in the outputs {available} of {who!r}"
        )


def load_outputs(
    who: Any, output: Any, keys: Any, as_dict: bool, cached: bool, **kwargs: Any
) -> Any:
    """Load one task's output: ``output`` is a target (single output) or ``{key: target}``.

    keys=None: every output; a str: that one object; a list: those outputs, in persist order.
    ``kwargs`` go to each target's load (the format's).
    """
    if isinstance(output, Target):
        if keys is not None:
            _check_keys(who, [keys] if isinstance(keys, str) else list(keys), ["data"])
        return output.load(cached=cached, **kwargs)
    available = list(output)
    if isinstance(keys, str):
        _check_keys(who, [keys], available)
        value = output[keys].load(cached=cached, **kwargs)
        return {keys: value} if as_dict else value
    if keys is None:
        selected = available
    else:
        _check_keys(who, list(keys), available)
        selected = [k for k in available if k in keys]
    loaded = {k: output[k].load(cached=cached, **kwargs) for k in selected}
    return loaded if as_dict else list(loaded.values())


def _is_single(task: Any) -> bool:
    return isinstance(task.output(), Target)


def load_inputs(who: Any, keys: Any, task: Any, cached: bool, as_dict: bool) -> Any:
    """Load the outputs of ``who._requires()``, keeping its shape (task, list or dict)."""
    requires = who._requires()
    if task is not None:
        try:
            upstream = requires[task]
        except (KeyError, IndexError, TypeError):
            raise OutputKeyError(
                f"task={task!r} does not name one of the upstream tasks of {who!r}; "
                f"requires() returned {requires!r}"
            ) from None
        return _load_one(upstream, keys, as_dict, cached)
    if isinstance(requires, dict):
        if keys is not None and all(_is_single(t) for t in requires.values()):
            # With single-output upstreams, keys name the upstream tasks themselves.
            if isinstance(keys, str):
                _check_keys(who, [keys], list(requires))
                return _load_one(requires[keys], None, as_dict, cached)
            _check_keys(who, list(keys), list(requires))
            return {
                k: _load_one(t, None, as_dict, cached) for k, t in requires.items() if k in keys
            }
        return {k: _load_one(t, keys, as_dict, cached) for k, t in requires.items()}
    if isinstance(requires, (list, tuple)):
        return [_load_one(t, keys, as_dict, cached) for t in requires]
    return _load_one(requires, keys, as_dict, cached)


def _load_one(upstream: Any, keys: Any, as_dict: bool, cached: bool) -> Any:
    """One entry of requires(): a task, or a nested list/dict of tasks."""
    if isinstance(upstream, dict):
        return {k: _load_one(t, keys, as_dict, cached) for k, t in upstream.items()}
    if isinstance(upstream, (list, tuple)):
        return [_load_one(t, keys, as_dict, cached) for t in upstream]
    return load_outputs(upstream, upstream.output(), keys, as_dict, cached)
