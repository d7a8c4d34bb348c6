"""The pictures in docs/img are what docs/build_pictures.py draws now: the DOT and Mermaid text
always (no program needed), the SVG's boxes and words where Graphviz's dot is installed."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def build_module():
    spec = importlib.util.spec_from_file_location("build_pictures", DOCS / "build_pictures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drawn(svg: str) -> tuple[list[str], list[str]]:
    """What an SVG shows, whatever Graphviz version wrote it: its words and its box colours."""
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg), re.findall(r'fill="(#[0-9a-f]{6})"', svg)


def test_committed_pictures_are_what_the_docs_build_draws_now(tmp_path):
    from tests.programs import installed

    has_dot = installed("dot", "graphviz") is not None
    made = build_module().build(tmp_path, svg=has_dot)
    assert {p.name for p in made} >= {
        "quickstart.dot",
        "experiments.dot",
        "experiments-mermaid.mmd",
    }
    stale = [
        p.name
        for p in made
        if p.suffix != ".svg" and p.read_text() != (DOCS / "img" / p.name).read_text()
    ]
    assert stale == [], "run: python docs/build_pictures.py, and commit docs/img"
    if not has_dot:
        pytest.skip("the SVGs need Graphviz's dot (apt-get install graphviz); the DOT text matched")
    for svg in (p for p in made if p.suffix == ".svg"):
        assert drawn(svg.read_text()) == drawn((DOCS / "img" / svg.name).read_text()), svg.name


def test_readme_and_seeing_page_show_the_committed_pictures():
    readme = (DOCS.parent / "README.md").read_text()
    assert "](docs/img/quickstart.svg)" in readme
    seeing = (DOCS / "seeing.md").read_text()
    assert "](img/experiments.svg)" in seeing
    assert (DOCS / "img" / "experiments-mermaid.mmd").read_text() in seeing
