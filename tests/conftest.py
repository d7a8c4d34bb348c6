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


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """A real S3-compatible server (moto, a separate process on 127.0.0.1), for the session."""
    from tests.servers import s3_server

    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def dot() -> str:
    """Graphviz's dot program (Debian's graphviz), for the tests that render pictures."""
    from tests.programs import installed

    found = installed("dot", "graphviz")
    if found is None:
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz); not rendered")
    return found


@pytest.fixture(scope="session")
def chromium(dot) -> str:
    """Chromium (Debian's chromium), a real headless browser; dot draws the report's picture."""
    from tests.programs import installed

    found = installed("chromium", "chromium")
    if found is None:
        pytest.skip(
            "Chromium is not installed (apt-get install chromium) and we may not install it"
        )
    return found
