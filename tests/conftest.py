"""Shared test fixtures (the fresh data folder for every test lives in the root conftest.py)."""

from __future__ import annotations

import pytest


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
