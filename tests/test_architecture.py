"""The layers of docs/architecture.md hold: every import points down, and no module imports
itself back through others (imports inside functions count: that is where cycles hide; grimp
reads them all)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports(cwd: Path, src: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"],
        cwd=cwd,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_module_imports_itself_back_through_others():
    graph = grimp.build_graph("d6tflow", exclude_type_checking_imports=True)
    # The public face re-exports every layer: nothing may import it back.
    assert graph.find_modules_that_directly_import("d6tflow") == set()
    packages = sorted({"d6tflow"} | {m for m in graph.modules if graph.find_children(m)})
    cycles = {p: found for p in packages if (found := graph.nominate_cycle_breakers(p))}
    assert cycles == {}


def test_every_import_points_down_the_layers():
    result = _lint_imports(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Contracts: \d+ kept, 0 broken", result.stdout), result.stdout


def test_an_upward_import_inside_a_function_breaks_the_contract_and_is_named(tmp_path):
    shutil.copytree(ROOT / "src" / "d6tflow", tmp_path / "src" / "d6tflow")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    graph_module = tmp_path / "src" / "d6tflow" / "graph.py"
    graph_module.write_text(
        graph_module.read_text() + "\n\ndef _upward():\n    from d6tflow import scheduler\n"
    )
    result = _lint_imports(tmp_path, tmp_path / "src")
    assert result.returncode != 0
    assert "d6tflow.graph is not allowed to import d6tflow.scheduler" in result.stdout


def test_every_module_has_a_layer_and_the_architecture_page_names_it():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    layers = config["tool"]["importlinter"]["contracts"][0]["layers"]
    in_contract = {name.strip() for line in layers for name in line.split("|")}
    package = ROOT / "src" / "d6tflow"
    modules = {p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
    modules |= {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    # A module outside the contract could import anything: each new one gets its place.
    assert modules == in_contract
    page = (ROOT / "docs" / "architecture.md").read_text()
    assert [name for name in sorted(in_contract) if f"`{name}`" not in page] == []
