"""A pytest plugin: in the Python blocks of README.md and docs/, a comment after ``print(...)``
on the same line is the output that print must write, and the block's test checks it.

The convention (also in the README, *Development*):

* ``print(x)  # [3, 2, 1]``: the comment is compared with the text the print wrote to stdout;
  everything that line printed counts (a print in a loop: every call, in order).
* ``...`` in the comment matches any text, as doctest's ELLIPSIS; runs of whitespace, line breaks
  included, compare as one space on both sides, so a multi-line output can be written on one line.
* A comment that explains rather than shows goes on a line of its own, where it is not checked.
* A commented print that never runs fails too: its comment would otherwise go stale unnoticed.

pytest-markdown-docs runs each block with the globals that ``pytest_markdown_docs_globals``
returns; this plugin puts a recording ``print`` there. A block is compiled with the Markdown file
as its file name and blank lines in front, so a call's line in the frame is its line in the file.
Loaded by the root conftest.py (``pytest_plugins``); ``-p tests.doc_prints`` loads it elsewhere.
"""

from __future__ import annotations

import ast
import builtins
import io
import os
import re
import sys
import tokenize
from dataclasses import dataclass, field
from typing import Any

import pytest

CONVENTION = (
    "A comment after print(...) on its line is the output it must write ('...' matches any "
    "text; whitespace runs, line breaks included, count as one space). Put a comment that is "
    "not output on a line of its own."
)


class PrintedOutputMismatch(AssertionError):
    """A doc block's print wrote something else than its comment says, or never ran."""


@dataclass(eq=False)  # one check per statement, hashed by identity
class _Check:
    first: int  # the print statement's lines in the file
    last: int
    expected: str
    written: list[str] = field(default_factory=list)


def checks_of(source: str) -> dict[int, _Check]:
    """``{line: check}`` for every line of every ``print(...)`` statement followed, on its last
    line, by a comment."""
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError):
        return {}  # the block's own run reports it
    comments = {
        tok.start[0]: tok.string[1:].strip()
        for tok in tokens
        if tok.type == tokenize.COMMENT and tok.line[: tok.start[1]].strip()
    }
    checks: dict[int, _Check] = {}
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "print"
        ):
            continue
        last = node.end_lineno or node.lineno
        if last in comments:
            check = _Check(node.lineno, last, comments[last])
            for line in range(node.lineno, last + 1):
                checks[line] = check
    return checks


def matches(expected: str, printed: str) -> bool:
    """Does the printed text match the comment (``...`` = any text, whitespace runs = one
    space)?"""
    pattern = ".*".join(re.escape(part) for part in " ".join(expected.split()).split("..."))
    return re.fullmatch(pattern, " ".join(printed.split()), re.DOTALL) is not None


class _Block:
    def __init__(self, item: Any):
        definition = item.test_definition
        self.filename = str(definition.source_path)
        self.checks = checks_of(definition.source)
        root = str(item.config.rootpath)
        self.shown_name = (
            os.path.relpath(self.filename, root)
            if self.filename.startswith(root + os.sep)
            else self.filename
        )

    def record(self, frame: Any, text: str) -> None:
        if frame.f_code.co_filename == self.filename:
            check = self.checks.get(frame.f_lineno)
            if check is not None:
                check.written.append(text)

    def verify(self) -> None:
        problems = []
        for check in sorted(set(self.checks.values()), key=lambda c: c.first):
            where = f"{self.shown_name}, line {check.last}"
            if not check.written:
                problems.append(
                    f"{where}: print(...) never ran, so its comment was not checked\n"
                    f"  comment: {check.expected}"
                )
            elif not matches(check.expected, "".join(check.written)):
                printed = "".join(check.written).rstrip("\n").replace("\n", "\n" + " " * 11)
                problems.append(
                    f"{where}: print(...) wrote something else than its comment says\n"
                    f"  comment: {check.expected}\n  printed: {printed}"
                )
        if problems:
            raise PrintedOutputMismatch("\n".join([*problems, "", CONVENTION]))


class _RecordingPrint:
    """``print`` for a doc block: prints, and hands what it wrote to stdout to the block."""

    def __init__(self, checker: DocPrintChecker):
        self._checker = checker

    def __call__(self, *args: Any, sep: str | None = " ", end: str | None = "\n", **kw: Any):
        builtins.print(*args, sep=sep, end=end, **kw)
        block = self._checker.block
        if block is not None and kw.get("file") in (None, sys.stdout):
            text = (" " if sep is None else sep).join(map(str, args))
            block.record(sys._getframe(1), text + ("\n" if end is None else end))

    def __reduce__(self) -> tuple:
        # A task defined in a block and sent to a worker process (by cloudpickle, which pickles
        # modules by name) takes the plain print along.
        return (getattr, (builtins, "print"))


class DocPrintChecker:
    block: _Block | None = None

    def pytest_markdown_docs_globals(self) -> dict[str, Any]:
        return {"print": _RecordingPrint(self)}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        if getattr(item, "test_definition", None) is None:  # not a Markdown code block
            return (yield)
        self.block = _Block(item)
        try:
            result = yield
        finally:
            block, self.block = self.block, None
        block.verify()
        return result


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(DocPrintChecker(), "d6tflow-doc-prints")
