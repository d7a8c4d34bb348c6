"""Fingerprints: of file contents (cheap, xxh3) and of code (a task class and the user functions it
calls, normalized so comments, docstrings and formatting don't count).

Hashing lives here and nowhere else; provenance.py decides what the fingerprints mean.
"""

from __future__ import annotations

import ast
import contextlib
import enum
import os
import stat
import sys
import sysconfig
import textwrap
import types
import weakref
from pathlib import PurePath
from typing import Any, NamedTuple

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


# -- values ----------------------------------------------------------------------------------------
# Code counts, runtime state does not. Data written in the code (numbers, strings, lists of them)
# counts by value; an object (a lock, a client, a model) counts by its type's name and never by
# repr, which may carry a memory address and would make a task stale in every new process.

_scalar_types: frozenset[type] = frozenset()
_MAX_DEPTH = 64  # deeper nesting (or a list that holds itself) is described by type from there


def _scalars() -> frozenset[type]:
    global _scalar_types
    if not _scalar_types:
        # Imported on first use rather than with d6tflow: nothing needs decimal before.
        import datetime
        import decimal
        import fractions

        _scalar_types = frozenset(
            {
                type(None),
                bool,
                int,
                float,
                complex,
                str,
                bytes,
                datetime.date,
                datetime.datetime,
                datetime.time,
                datetime.timedelta,
                decimal.Decimal,
                fractions.Fraction,
            }
        )
    return _scalar_types


def value_text(value: Any, mutable: bool = True) -> str:
    """What a value counts as in a code fingerprint.

    Plain data (None, bools, numbers, strings, bytes, dates and times, Decimal, Fraction, enum
    members, paths, and tuples, lists, dicts, sets and frozensets of them) counts by value: sets in
    an order that does not depend on PYTHONHASHSEED, dicts in their own order. Classes and
    functions count by qualified name; any other object by its type's name. With
    ``mutable=False`` lists, dicts and sets count by type name too (code may change them in place).

    >>> value_text({"b", "a"}), value_text([1, "x"], mutable=False)
    ("set{'a','b'}", '<builtins.list>')
    """
    return _text(value, mutable, _MAX_DEPTH)


def _text(value: Any, mutable: bool, depth: int) -> str:
    kind = type(value)
    scalars = _scalars()
    if kind in scalars:
        return repr(value)
    if isinstance(value, type):
        return _label(value)
    if isinstance(value, enum.Enum):
        return f"{_label(kind)}.{value.name}"
    if isinstance(value, PurePath):
        return repr(value)
    if depth > 0:
        depth -= 1
        if isinstance(value, tuple):
            items = ",".join(_text(v, mutable, depth) for v in value)
            return ("" if kind is tuple else _label(kind)) + f"({items})"
        if isinstance(value, frozenset) or (mutable and isinstance(value, set)):
            # Sorted by their text: a set of strings iterates in an order set by the hash seed.
            items = ",".join(sorted(_text(v, mutable, depth) for v in value))
            return (kind.__name__ if kind in (set, frozenset) else _label(kind)) + f"{{{items}}}"
        if mutable and isinstance(value, list):
            items = ",".join(_text(v, mutable, depth) for v in value)
            return ("" if kind is list else _label(kind)) + f"[{items}]"
        if mutable and isinstance(value, dict):
            items = ",".join(
                f"{_text(k, mutable, depth)}:{_text(v, mutable, depth)}" for k, v in value.items()
            )
            return ("" if kind is dict else _label(kind)) + f"{{{items}}}"
    for base in kind.__mro__[1:]:
        if base in scalars:  # numpy.float64 is a float, pandas.Timestamp a datetime
            return f"{_label(kind)}:{base.__repr__(value)}"
    qualname = getattr(value, "__qualname__", None) if callable(value) else None
    if isinstance(qualname, str):  # functions, builtins, methods
        module = getattr(value, "__module__", None)
        return f"{module_label(module)}.{qualname}" if isinstance(module, str) else qualname
    return f"<{_label(kind)}>"


def _label(kind: type) -> str:
    module = getattr(kind, "__module__", None)
    return f"{module_label(module)}.{kind.__qualname__}" if module else kind.__qualname__


def _is_constant(value: Any) -> bool:
    """Immutable plain data: what a module-level name may hold to count by value."""
    kind = type(value)
    scalars = _scalars()
    if kind in scalars or isinstance(value, (tuple, frozenset, enum.Enum, PurePath)):
        return True
    return any(base in scalars for base in kind.__mro__[1:])


def _closure_text(func: types.FunctionType) -> str:
    """Values a function closes over, by name: immutable data by value, classes and functions by
    name, anything else by type (run() may change a list, dict or Counter it closes over)."""
    if not func.__closure__:
        return ""
    # d6tflow's decorators close over what you gave them (@d6tflow.requires({"a": TaskA})): the
    # declaration itself, never changed afterwards, so it counts in full.
    mutable = (func.__module__ or "").split(".")[0] == "d6tflow"
    parts = []
    for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        parts.append(f"{name}={value_text(value, mutable)}")
    return ";".join(parts)


# -- what code reads -------------------------------------------------------------------------------

_MISSING = object()
Reference = tuple[str, ...]  # a name, or a dotted chain such as ("config", "DEPTH")


def _references(tree: ast.AST) -> tuple[Reference, ...]:
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
_DATA, _COMPUTED = "data", "computed"
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


class _Bindings(NamedTuple):
    #: name -> _DATA, _COMPUTED, or (module, name) for ``from module import name``
    names: dict[str, Any]
    #: the modules of ``from module import *``
    stars: list[str]


def _bindings_of(tree: ast.Module, package: str | None) -> _Bindings:
    found = _Bindings({}, [])
    _bind(tree.body, package, found)
    return found


def _bind(body: list[ast.stmt], package: str | None, found: _Bindings) -> None:
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
                        computed = not data or names.get(leaf.id) == _COMPUTED
                        names[leaf.id] = _COMPUTED if computed else _DATA
        elif isinstance(node, ast.ImportFrom):
            source = _imported_module(node, package)
            for alias in node.names if source else ():
                if alias.name == "*":
                    found.stars.append(source)
                elif names.get(alias.asname or alias.name) != _COMPUTED:
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
    methods call, followed transitively, and the module-level constants they read. Other task
    classes are not followed: a change there shows up as that task being stale, and its output
    changing.
    """

    def __init__(self) -> None:
        self._function_cache: dict[types.CodeType, tuple[str, tuple[Reference, ...]]] = {}
        self._modules: dict[str, tuple[tuple[str, int, int], _Bindings | None]] = {}
        # Class attributes as first seen in this process: run() may change a list, dict or set
        # held by a class in place (a cache, a history), which must not make its task stale.
        self._first_seen: weakref.WeakKeyDictionary[type, dict[str, tuple[Any, str]]] = (
            weakref.WeakKeyDictionary()
        )

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
                found[f"{cls.__name__}.{name}"] = self._member(klass, name, value, pending, found)
        self._follow(pending, found)
        return found

    def _member(
        self, owner: type, name: str, value: Any, pending: list[Any], found: dict[str, str]
    ) -> str:
        from d6tflow.params import Parameter

        if isinstance(value, Parameter):
            default = value_text(value._default)
            return text_hash(f"{type(value).__name__}|{default}|{value.significant}")
        func = _function_of(value)
        if func is None:
            pending.append(value)  # a class, or an object of a class, of yours is code
            return text_hash(self._attribute_text(owner, name, value))
        text, references = self._source(func)
        if is_user_module(func.__module__ or ""):
            self._scan(func, references, pending, found)
        return text_hash(text + "|" + _closure_text(func))

    def _attribute_text(self, owner: type, name: str, value: Any) -> str:
        if type(value) in _scalars():
            return repr(value)
        seen = self._first_seen.setdefault(owner, {})
        entry = seen.get(name)
        if entry is None or entry[0] is not value:  # a new value assigned counts
            entry = seen[name] = (value, value_text(value))
        return entry[1]

    def _source(self, func: types.FunctionType) -> tuple[str, tuple[Reference, ...]]:
        cached = self._function_cache.get(func.__code__)
        if cached is None:
            text, tree = _normalized_source(func)
            if tree is None:
                references = tuple((name,) for name in func.__code__.co_names)
            else:
                references = _references(tree)
            cached = self._function_cache[func.__code__] = text, references
        return cached

    def _scan(
        self,
        func: types.FunctionType,
        references: tuple[Reference, ...],
        pending: list[Any],
        found: dict[str, str],
    ) -> None:
        """Queue the objects a function's code names, to follow; record the module-level
        constants it reads."""
        scope = func.__globals__
        closure = {}
        if func.__closure__:
            for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
                with contextlib.suppress(ValueError):  # an empty cell
                    closure[name] = cell.cell_contents
        module_name = scope.get("__name__") or ""
        for reference in references:
            head = reference[0]
            if head in closure:  # its value is part of the function's closure text
                value = closure[head]
            elif head in scope:
                value = scope[head]
                if len(reference) == 1 and _is_constant(value):
                    self._constant(module_name, head, value, found)
                    continue
            else:
                continue
            if len(reference) == 1:
                pending.append(value)
                continue
            for part in reference[1:-1]:  # through modules only: pkg.sub.NAME
                if not isinstance(value, types.ModuleType):
                    break
                value = getattr(value, part, None)
            else:
                if isinstance(value, types.ModuleType):
                    owner, name = value, reference[-1]
                    value = getattr(owner, name, _MISSING)
                    if value is _MISSING:
                        continue
                    if not _is_constant(value):
                        pending.append(value)
                    elif is_user_module(owner.__name__):  # math.pi is a library's, not yours
                        self._constant(owner.__name__, name, value, found)

    def _constant(self, module_name: str, name: str, value: Any, found: dict[str, str]) -> None:
        if name.startswith("__") and name.endswith("__"):  # __file__, __name__: not constants
            return
        origin = self._origin(module_name, name, 0)
        if origin is not None:
            found[f"{module_label(origin[0])}.{origin[1]}"] = text_hash(value_text(value, False))

    def _origin(self, module_name: str, name: str, hops: int) -> tuple[str, str] | None:
        """Where a module-level name is written as data: (module, name), following
        ``from module import name`` through your modules; None if it is computed at import
        (runtime state) or comes from a library."""
        bindings = self._bindings(module_name)
        if bindings is None:  # no source to read (a notebook, python -c): the value counts
            return module_name, name
        how = bindings.names.get(name)
        if how == _DATA:
            return module_name, name
        sources = [how] if isinstance(how, tuple) else []
        if how is None:
            sources = [(star, name) for star in bindings.stars]
        for source, source_name in sources:
            if hops < 8 and is_user_module(source):
                origin = self._origin(source, source_name, hops + 1)
                if origin is not None:
                    return origin
        return None

    def _bindings(self, module_name: str) -> _Bindings | None:
        """How the module's source binds its names; None without a source file."""
        path = getattr(sys.modules.get(module_name), "__file__", None)
        if not path or not path.endswith(".py"):
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_mtime_ns, st.st_size)
        cached = self._modules.get(module_name)
        if cached is None or cached[0] != key:
            try:
                with open(path, "rb") as f:
                    tree = ast.parse(f.read())
            except (OSError, SyntaxError, ValueError):
                bindings = None
            else:
                package = getattr(sys.modules.get(module_name), "__package__", None)
                bindings = _bindings_of(tree, package)
            cached = self._modules[module_name] = key, bindings
        return cached[1]

    def _follow(self, pending: list[Any], found: dict[str, str]) -> None:
        from d6tflow.task import Task

        seen: set[int] = set()
        while pending:
            obj = pending.pop()
            func = _function_of(obj)
            if func is None and not isinstance(obj, type):
                obj = type(obj)  # an object: its class is code
            if obj is None or id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, type):
                if issubclass(obj, Task) or not is_user_module(obj.__module__ or ""):
                    continue
                label = _label(obj)
                for name, value in vars(obj).items():
                    if name not in _ENGINE_ATTRIBUTES:
                        found[f"{label}.{name}"] = self._member(obj, name, value, pending, found)
                continue
            if func is None or not is_user_module(func.__module__ or ""):
                continue
            text, references = self._source(func)
            label = f"{module_label(func.__module__)}.{func.__qualname__}"
            found[label] = text_hash(text + "|" + _closure_text(func))
            self._scan(func, references, pending, found)
