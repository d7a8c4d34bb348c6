"""The check of ``print(...)  # output`` comments in doc blocks (tests/doc_prints.py), run for real:
pytest with pytest-markdown-docs on small Markdown files, in a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
```python
print([3, 2, 1])  # [3, 2, 1]
print({"accuracy": 0.9876977152899824})  # {'accuracy': 0.98...}
print("  region  amount\\n3   east     200")  # region amount 3 east 200
for word in ["a", "b"]:
    print(word)  # a b
print(
    "one call",
    "on several lines",
)  # one call on several lines
# prose on a line of its own is not checked: 42
print("anything")


def show(x):
    print(x)  # 7


show(7)
```

```python
import builtins

import cloudpickle

# what a worker process gets when a task defined in a block is sent there
assert cloudpickle.loads(cloudpickle.dumps(print)) is builtins.print
```
"""

WRONG = """
Some text.

```python
total = 19.5 / 13
print(total)  # 0.9615...
```
"""

NEVER = """
```python
if 1 > 2:
    print("unreachable")  # unreachable
```
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("doc_prints")
    for name, text in [("good.md", GOOD), ("wrong.md", WRONG), ("never.md", NEVER)]:
        (folder / name).write_text(textwrap.dedent(text))
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    plugins = ["-p", "tests.doc_prints", "--markdown-docs", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-rA", "good.md", "wrong.md", "never.md"],
        cwd=folder,
        env=dict(os.environ, PYTHONPATH=path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr


def test_matching_print_comments_pass(report):
    assert "PASSED good.md::[CodeFence#1]" in report, report
    assert "PASSED good.md::[CodeFence#2]" in report, report


def test_wrong_print_comment_fails_naming_file_line_comment_and_output(report):
    assert "FAILED wrong.md::[CodeFence#1]" in report, report
    assert "wrong.md, line 6: print(...) wrote something else than its comment says" in report
    assert "  comment: 0.9615...\n  printed: 1.5\n" in report


def test_commented_print_that_never_runs_fails(report):
    assert "FAILED never.md::[CodeFence#1]" in report, report
    assert "never.md, line 4: print(...) never ran" in report
