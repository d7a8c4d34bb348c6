"""Fingerprints: of file contents (cheap, xxh3) and of code (a task class and the user functions it
calls, normalized so comments, docstrings and formatting don't count).

Hashing lives here and nowhere else; provenance.py decides what the fingerprints mean.
"""

from __future__ import annotations

import ast
import contextlib
import os
import stat
import sys
import sysconfig
import textwrap
import types
from collections.abc import Iterator
from typing import Any

import xxhash

_CHUNK = 1 << 20


def file_hash(path: str | os.PathLike) -> str:
    """Content fingerprint of a file (xxh3-128, ~5 GB/s) or of a folder's files and names."""
    return file_record(path)[2]


def file_record(path: str | os.PathLike) -> tuple[int, int, str]:
    """(size, mtime in ns, content fingerprint) of a file or folder, from one open of a file."""
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if os.path.isdir(path):  # some platforms refuse to open a folder
            return _folder_record(path)
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            return _folder_record(path)
        # Raw descriptor reads, no more than the file holds: most outputs of small tasks are a
        # few bytes, where a file object or a 1 MB read buffer would cost more than hashing.
        digest = xxhash.xxh3_128()
        want, left = min(_CHUNK, st.st_size + 1), st.st_size
        while chunk := os.read(fd, want):
            digest.update(chunk)
            left -= len(chunk)
            if left <= 0 and len(chunk) < want:  # all of it, and the end: no read to see EOF
                break
    finally:
        os.close(fd)
    return st.st_size, st.st_mtime_ns, digest.hexdigest()


def _folder_record(path: str) -> tuple[int, int, str]:
    digest = xxhash.xxh3_128()
    for name in _walk(path):
        digest.update(name.encode())
        digest.update(file_hash(os.path.join(path, name)).encode())
    size, mtime_ns = file_stat(path)  # type: ignore[misc]
    return size, mtime_ns, digest.hexdigest()


def _walk(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.relpath(os.path.join(root, f), folder) for f in sorted(files))
    return found


def file_stat(path: str | os.PathLike) -> tuple[int, int] | None:
    """(size, mtime in ns) of a file, or a folder's total size and newest mtime; None if absent."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size, st.st_mtime_ns
    size, newest = 0, st.st_mtime_ns
    for name in _walk(path):
        sub = os.stat(os.path.join(path, name))
        size, newest = size + sub.st_size, max(newest, sub.st_mtime_ns)
    return size, newest


def text_hash(text: str) -> str:
    return xxhash.xxh3_64_hexdigest(text.encode())


# -- code ------------------------------------------------------------------------------------------

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
_ENGINE_ATTRIBUTES = {
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
    real = os.path.realpath(filename)
    return not any(real.startswith(root + os.sep) for root in _INSTALLED_ROOTS) and (
        "site-packages" not in real
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


def _function_of(value: Any) -> types.FunctionType | None:
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


def _normalized_source(func: types.FunctionType) -> tuple[str, ast.AST | None]:
    """The function's code without comments, docstrings or formatting; bytecode if no source."""
    import inspect  # here, not at the top: importing it costs ~10 ms of `import d6tflow`

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return _bytecode_text(func.__code__), None
    tree = _StripDocstrings().visit(tree)
    return ast.dump(tree, annotate_fields=False, include_attributes=False), tree


def _bytecode_text(code: types.CodeType) -> str:
    consts = [
        _bytecode_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts
    ]
    return f"{code.co_code.hex()}|{consts}|{code.co_names}"


def _closure_text(func: types.FunctionType) -> str:
    """Values a function closes over (e.g. the tasks given to @d6tflow.requires), by name."""
    if not func.__closure__:
        return ""
    parts = []
    for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        parts.append(f"{name}={_describe(value)}")
    return ";".join(parts)


def _describe(value: Any) -> str:
    if isinstance(value, type):
        return f"{module_label(value.__module__)}.{value.__qualname__}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_describe(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k!r}:{_describe(v)}" for k, v in value.items()) + "}"
    if callable(value):
        return getattr(value, "__qualname__", type(value).__name__)
    return repr(value)


def _referenced(func: types.FunctionType, tree: ast.AST | None) -> Iterator[Any]:
    """Objects a function's code names: globals, closure values, and ``module.attr`` chains."""
    if tree is None:
        names = set(func.__code__.co_names)
        for name in names:
            if name in func.__globals__:
                yield func.__globals__[name]
        return
    scope = dict(func.__globals__)
    if func.__closure__:
        for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
            with contextlib.suppress(ValueError):  # an empty cell
                scope[name] = cell.cell_contents
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in scope:
            yield scope[node.id]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = scope.get(node.value.id)
            if isinstance(owner, types.ModuleType):
                yield getattr(owner, node.attr, None)


_class_cache: dict[type, dict[str, str]] = {}
_fingerprinter: CodeFingerprint | None = None


def code_of(cls: type) -> dict[str, str]:
    """The code fingerprint of a task class, computed once per state check or run."""
    global _fingerprinter
    found = _class_cache.get(cls)
    if found is None:
        if _fingerprinter is None:
            _fingerprinter = CodeFingerprint()
        found = _class_cache[cls] = _fingerprinter.of_task_class(cls)
    return found


def code_digest(members: dict[str, str]) -> str:
    """One fingerprint for a whole ``code_of`` map: what a manifest records."""
    return text_hash("|".join(f"{name}={digest}" for name, digest in sorted(members.items())))


_digest_cache: dict[type, str] = {}
# Fingerprints given from outside (a worker runs with its parent's), kept when caches are cleared.
_pinned: dict[type, dict[str, str]] = {}


def code_digest_of(cls: type) -> str:
    """``code_digest(code_of(cls))``, computed once per state check or run."""
    found = _digest_cache.get(cls)
    if found is None:
        found = _digest_cache[cls] = code_digest(code_of(cls))
    return found


def pin_code(cls: type, members: dict[str, str]) -> None:
    """Use ``members`` as the code fingerprint of ``cls`` from now on (a worker process pins
    the one its parent process computed, so both record the same code)."""
    _pinned[cls] = _class_cache[cls] = members
    _digest_cache.pop(cls, None)


def forget_code() -> None:
    """Called before each state check: code may have been edited and re-imported since."""
    _class_cache.clear()
    _class_cache.update(_pinned)
    _digest_cache.clear()


class CodeFingerprint:
    """``{qualified name: hash}`` of a task class's members and the user code they reach.

    Methods, class attributes and parameter declarations of the class (and of its user-defined
    base classes) count; so do the functions and classes from the user's own modules that its
    methods call, followed transitively. Other task classes are not followed: a change there
    shows up as that task being stale, and its output changing.
    """

    def __init__(self) -> None:
        self._function_cache: dict[types.CodeType, tuple[str, ast.AST | None]] = {}

    def of_task_class(self, cls: type) -> dict[str, str]:
        version = getattr(cls, "code_version", None)
        if version is not None:
            return {f"{cls.__name__}.code_version": str(version)}
        found: dict[str, str] = {}
        pending: list[Any] = []
        seen_members: set[str] = set()
        for klass in cls.__mro__:
            if not is_user_module(klass.__module__):
                continue
            for name, value in vars(klass).items():
                if name in _ENGINE_ATTRIBUTES or name in seen_members:
                    continue
                seen_members.add(name)
                found[f"{cls.__name__}.{name}"] = self._member(value, pending)
        self._follow(pending, found)
        return found

    def _member(self, value: Any, pending: list[Any]) -> str:
        from d6tflow.params import Parameter

        if isinstance(value, Parameter):
            return text_hash(f"{type(value).__name__}|{value._default!r}|{value.significant}")
        func = _function_of(value)
        if func is None:
            return text_hash(_describe(value))
        text, tree = self._source(func)
        if is_user_module(func.__module__):
            pending.extend(_referenced(func, tree))
        return text_hash(text + "|" + _closure_text(func))

    def _source(self, func: types.FunctionType) -> tuple[str, ast.AST | None]:
        cached = self._function_cache.get(func.__code__)
        if cached is None:
            cached = self._function_cache[func.__code__] = _normalized_source(func)
        return cached

    def _follow(self, pending: list[Any], found: dict[str, str]) -> None:
        from d6tflow.task import Task

        seen: set[int] = set()
        while pending:
            obj = pending.pop()
            if obj is None or id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, type):
                if issubclass(obj, Task) or not is_user_module(obj.__module__):
                    continue
                label = f"{module_label(obj.__module__)}.{obj.__qualname__}"
                for name, value in vars(obj).items():
                    if name not in _ENGINE_ATTRIBUTES:
                        found[f"{label}.{name}"] = self._member(value, pending)
                continue
            func = _function_of(obj)
            if func is None or not is_user_module(func.__module__):
                continue
            text, tree = self._source(func)
            found[f"{module_label(func.__module__)}.{func.__qualname__}"] = text_hash(text)
            pending.extend(_referenced(func, tree))
