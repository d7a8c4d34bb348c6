"""Every test, and every Python block of README.md and docs/, runs in its own temporary working
directory with a fresh data folder and default settings, so none sees another's outputs. In those
blocks, a comment after ``print(...)`` is the output it must write (tests/doc_prints.py)."""

from __future__ import annotations

import pytest

import d6tflow
from d6tflow import cache, settings, store, stores

pytest_plugins = ["tests.doc_prints"]


@pytest.fixture(autouse=True)
def fresh_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    saved = {name: getattr(settings, name) for name in dir(settings) if not name.startswith("__")}
    d6tflow.set_dir(tmp_path / "data")
    cache.data.clear()
    store._made_dirs.clear()
    yield tmp_path / "data"
    stores._remotes.clear()
    stores._default_remote.clear()
    _clear_memory_filesystem()
    for name, value in saved.items():
        if not callable(value) and not hasattr(value, "__spec__"):
            setattr(settings, name, value)
    cache.data.clear()
    store._made_dirs.clear()


def _clear_memory_filesystem() -> None:
    """fsspec's memory:// is one per process: a test's remote folder must not outlive it."""
    import sys

    memory = sys.modules.get("fsspec.implementations.memory")
    if memory is not None:
        memory.MemoryFileSystem.store.clear()
        memory.MemoryFileSystem.pseudo_dirs[:] = [""]
