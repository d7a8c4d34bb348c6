"""The original's d6tpipe functions (``import d6tflow.pipes``), over remote folders.

d6tpipe was a hosted data-repository service; it no longer exists. A remote folder named with
``d6tflow.set_remote(url)`` takes its place: ``all_pull``/``all_push`` move a flow's outputs
through it (``d6tflow.pull``/``d6tflow.push``), and the functions that set up pipes say what to
call instead. See docs/sharing.md.
"""

from __future__ import annotations

from typing import Any, NoReturn

from d6tflow import sharing
from d6tflow.errors import ConfigurationError
from d6tflow.transfer import Moved

__all__ = [
    "all_pull",
    "all_pull_preview",
    "all_push",
    "all_push_preview",
    "get_dirpath",
    "get_pipe",
    "init",
    "init_pipe",
    "set_default",
]


def _gone(name: str) -> NoReturn:
    raise ConfigurationError(
        f"d6tflow.pipes.{name}: d6tpipe, the service it used, no longer exists. Name a remote "
        "folder instead, d6tflow.set_remote('s3://bucket/project', **storage_options), then "
        "d6tflow.push(task) / d6tflow.pull(task) (or d6tflow.pipes.all_push/all_pull); "
        "see docs/sharing.md."
    )


def init(*args: Any, **kwargs: Any) -> NoReturn:
    _gone("init")


def init_pipe(*args: Any, **kwargs: Any) -> NoReturn:
    _gone("init_pipe")


def get_pipe(*args: Any, **kwargs: Any) -> NoReturn:
    _gone("get_pipe")


def get_dirpath(*args: Any, **kwargs: Any) -> NoReturn:
    _gone("get_dirpath")


def set_default(*args: Any, **kwargs: Any) -> NoReturn:
    _gone("set_default")


def all_pull(task: Any, **kwargs: Any) -> Moved:
    """Download the outputs of ``task`` and every task upstream of it from the remote
    (``d6tflow.pull``; ``kwargs`` go to it)."""
    return sharing.pull(task, **kwargs)


def all_push(task: Any, **kwargs: Any) -> Moved:
    """Upload the outputs of ``task`` and every task upstream of it to the remote
    (``d6tflow.push``; ``kwargs`` go to it)."""
    return sharing.push(task, **kwargs)


def _no_dry_run(name: str) -> NoReturn:
    raise ConfigurationError(
        f"d6tflow.pipes.{name}: push and pull have no dry run. d6tflow.preview(task) shows "
        "what is complete here; push/pull move only the outputs that differ, and print what moved."
    )


def all_pull_preview(task: Any, **kwargs: Any) -> NoReturn:
    _no_dry_run("all_pull_preview")


def all_push_preview(task: Any, **kwargs: Any) -> NoReturn:
    _no_dry_run("all_push_preview")
