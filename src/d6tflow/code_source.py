"""What counts as your code, and what it reads: user modules (not installed libraries), a
function's source without comments, docstrings or formatting, the names and ``module.NAME`` chains
it reads, and how a module's source binds its names (written as data, or computed at import).

code_fingerprint.py turns these into fingerprints.
"""

from __future__ import annotations

import ast
import functools
import os
import sys
import sysconfig
import textwrap
import types
from typing import Any, NamedTuple

_INSTALLED_ROOTS = tuple(
    {
        os.path.realpath(p)
        for p in (
            sysconfig.get_paths()["stdlib"],
            sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["platlib"],
            sys.base_prefix,
        )
    }
)
# Attributes Python or the engine put on every class: not the user's code.
ENGINE_ATTRIBUTES = {
    "__module__",
    "__qualname__",
    "__doc__",
    "__dict__",
    "__weakref__",
    "__annotations__",
    "__firstlineno__",
    "__static_attributes__",
    "__slotnames__",  # cached by the copy module
    "_params_cache",
    "_filtered_params_cache",
    "task_family",  # set on every task class by d6tflow; it is part of the task id anyway
}


def is_user_module(module_name: str) -> bool:
    """Code the user writes (scripts, notebooks, their own packages), not installed libraries."""
    if module_name == "__main__":
        return True
    if module_name.split(".")[0] in ("d6tflow", "builtins"):
        return False
    module = sys.modules.get(module_name)
    filename = getattr(module, "__file__", None)
    if module is None or filename is None:
        return False
    return not is_installed_path(filename)


@functools.lru_cache(maxsize=1024)
def is_installed_path(path: str) -> bool:
    """Is ``path`` where Python or installed packages live (the standard library, a
    site-packages folder), not your own code?"""
    if not path:
        return False  # "" on sys.path: the working directory
    real = os.path.realpath(path)
    return (
        any(real == root or real.startswith(root + os.sep) for root in _INSTALLED_ROOTS)
        or "site-packages" in real
        or "dist-packages" in real
    )


def module_label(module_name: str) -> str:
    """A module's name as the fingerprint records it. A script run as ``__main__`` is named as
    it would be when imported (``python flow.py`` and ``import flow`` see the same code, so a
    flow run as a script stays complete when a notebook imports it). Notebooks and the REPL keep
    ``__main__``."""
    if module_name != "__main__":
        return module_name
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":  # python -m package.flow
        return spec.name
    path = getattr(main, "__file__", None)
    return os.path.splitext(os.path.basename(path))[0] if path else module_name


def function_of(value: Any) -> types.FunctionType | None:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        value = value.fget
    return value if isinstance(value, types.FunctionType) else None


class _StripDocstrings(ast.NodeTransformer):
    def _strip(self, node: Any) -> Any:
        self.generic_visit(node)
        body = node.body
        first = body[0] if body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Module = _strip


def normalized_source(func: types.FunctionType) -> tuple[str, ast.AST | None]:
    """The function's code without comments, docstrings or formatting; bytecode if no source."""
    import inspect  # here, not at the top: importing it costs ~10 ms of `import d6tflow`

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return _bytecode_text(func.__code__), None
    tree = _StripDocstrings().visit(tree)
    return ast.dump(tree, annotate_fields=False, include_attributes=False), tree


def readable_source(func: types.FunctionType) -> str:
    """The function's code as the fingerprint sees it, written out as Python: no comments, no
    docstrings, one formatting (what ``d6tflow.why`` diffs)."""
    tree = normalized_source(func)[1]
    if tree is None:
        return f"# {func.__qualname__}: no source (fingerprinted by its bytecode)"
    return ast.unparse(tree)


def _bytecode_text(code: types.CodeType) -> str:
    consts = [
        _bytecode_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts
    ]
    return f"{code.co_code.hex()}|{consts}|{code.co_names}"


# -- what code reads -------------------------------------------------------------------------------

Reference = tuple[str, ...]  # a name, or a dotted chain such as ("config", "DEPTH")


def references_in(tree: ast.AST) -> tuple[Reference, ...]:
    """The names and dotted chains (``config.DEPTH``, ``pkg.sub.func``) a function's code reads."""
    found: dict[Reference, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found[(node.id,)] = None
        elif isinstance(node, ast.Attribute):
            parts = [node.attr]
            owner = node.value
            while isinstance(owner, ast.Attribute):
                parts.append(owner.attr)
                owner = owner.value
            if isinstance(owner, ast.Name):
                parts.append(owner.id)
                found[tuple(reversed(parts))] = None
    return tuple(found)


# How a module's source binds a name: a value written as data, or computed at import (a call such
# as time.time() or os.getenv(), a subscript such as sys.argv[1]: runtime state, not code).
DATA, COMPUTED = "data", "computed"
_DATA_NODES = (
    ast.Constant,
    ast.Name,
    ast.Attribute,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.UnaryOp,
    ast.BinOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.Starred,
    ast.expr_context,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)


class Bindings(NamedTuple):
    #: name -> DATA, COMPUTED, or (module, name) for ``from module import name``
    names: dict[str, Any]
    #: the modules of ``from module import *``
    stars: list[str]


def bindings_of(tree: ast.Module, package: str | None) -> Bindings:
    found = Bindings({}, [])
    _bind(tree.body, package, found)
    return found


def _bind(body: list[ast.stmt], package: str | None, found: Bindings) -> None:
    names = found.names
    for node in body:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            if node.value is None:
                continue
            data = all(isinstance(n, _DATA_NODES) for n in ast.walk(node.value))
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name) and isinstance(leaf.ctx, ast.Store):
                        computed = not data or names.get(leaf.id) == COMPUTED
                        names[leaf.id] = COMPUTED if computed else DATA
        elif isinstance(node, ast.ImportFrom):
            source = _imported_module(node, package)
            for alias in node.names if source else ():
                if alias.name == "*":
                    found.stars.append(source)
                elif names.get(alias.asname or alias.name) != COMPUTED:
                    names[alias.asname or alias.name] = (source, alias.name)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):  # not loops: their names vary
            for handler in getattr(node, "handlers", ()):
                _bind(handler.body, package, found)
            for field in ("body", "orelse", "finalbody"):
                _bind(getattr(node, field, []), package, found)


def _imported_module(node: ast.ImportFrom, package: str | None) -> str | None:
    if not node.level:
        return node.module
    if not package:
        return None
    from importlib.util import resolve_name

    try:
        return resolve_name("." * node.level + (node.module or ""), package)
    except (ImportError, ValueError):
        return None
