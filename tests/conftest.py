"""Every test runs in its own temporary working directory with a fresh data folder and default
settings, so tests never see each other's outputs."""

from __future__ import annotations


import pytest

import d6tflow
from d6tflow import cache, settings, store


@pytest.fixture(autouse=True)
def fresh_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    saved = {name: getattr(settings, name) for name in dir(settings) if not name.startswith("__")}
    d6tflow.set_dir(tmp_path / "data")
    cache.data.clear()
    store._made_dirs.clear()
    yield tmp_path / "data"
    for name, value in saved.items():
        if not callable(value) and not hasattr(value, "__spec__"):
            setattr(settings, name, value)
    cache.data.clear()
    store._made_dirs.clear()


@pytest.fixture
def answer(monkeypatch):
    """Answer the confirmation prompt: ``answer("y")``; returns the prompts that were shown."""
    prompts: list[str] = []

    def set_answer(reply: str) -> list[str]:
        def fake_input(prompt: str = "") -> str:
            prompts.append(prompt)
            return reply

        monkeypatch.setattr("builtins.input", fake_input)
        return prompts

    return set_answer
