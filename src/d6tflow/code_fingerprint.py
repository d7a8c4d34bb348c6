"""Code fingerprints: ``{qualified name: hash}`` of a task class's members and the user code they
reach, computed once per class per state check, and the one digest a manifest records.

What counts as code and what it reads is in code_source.py; what a value counts as, in
code_values.py.
"""

from __future__ import annotations

import ast
import contextlib
import os
import sys
import types
import weakref
from typing import Any

from d6tflow.code_source import (
    DATA,
    ENGINE_ATTRIBUTES,
    Bindings,
    Reference,
    bindings_of,
    function_of,
    is_user_module,
    module_label,
    normalized_source,
    readable_source,
    references_in,
)
from d6tflow.code_values import closure_text, is_constant, scalar_types, type_label, value_text
from d6tflow.fingerprint import text_hash
from d6tflow.params import Parameter
from d6tflow.protocol import is_task_class

_MISSING = object()

_class_cache: dict[type, dict[str, str]] = {}
# What each member's hash was taken of (a function, or the text hashed), by class: the readable
# source of a member is worked out from it only when a folder first records that code.
_material_cache: dict[type, dict[str, Any]] = {}
_fingerprinter: CodeFingerprint | None = None


def code_of(cls: type) -> dict[str, str]:
    """The code fingerprint of a task class, computed once per state check or run."""
    global _fingerprinter
    found = _class_cache.get(cls)
    if found is None:
        if _fingerprinter is None:
            _fingerprinter = CodeFingerprint()
        found = _class_cache[cls] = _fingerprinter.of_task_class(cls)
        _material_cache[cls] = _fingerprinter.material
    return found


def code_sources(cls: type) -> dict[str, tuple[str, str]]:
    """``{member name: (hash, readable source)}`` of a task class's code fingerprint: the
    normalized source of each function (no comments or docstrings), the text a value or a
    parameter declaration counts as. Worked out again from the code when this process has only a
    fingerprint given from outside (``pin_code``)."""
    material = _material_cache.get(cls)
    members = _class_cache.get(cls)
    if material is None or members is None:
        fingerprinter = CodeFingerprint()
        members = fingerprinter.of_task_class(cls)
        material = fingerprinter.material
    return {
        name: (digest, material_text(material[name]))
        for name, digest in members.items()
        if name in material
    }


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
    _material_cache.clear()
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
        self._modules: dict[str, tuple[tuple[str, int, int], Bindings | None]] = {}
        # Class attributes as first seen in this process: run() may change a list, dict or set
        # held by a class in place (a cache, a history), which must not make its task stale.
        self._first_seen: weakref.WeakKeyDictionary[type, dict[str, tuple[Any, str]]] = (
            weakref.WeakKeyDictionary()
        )
        #: Of the last class fingerprinted: what each member's hash was taken of.
        self.material: dict[str, Any] = {}

    def of_task_class(self, cls: type) -> dict[str, str]:
        self.material = {}
        version = getattr(cls, "code_version", None)
        if version is not None:
            self.material[f"{cls.__name__}.code_version"] = str(version)
            return {f"{cls.__name__}.code_version": str(version)}
        found: dict[str, str] = {}
        pending: list[Any] = []
        seen_members: set[str] = set()
        for klass in cls.__mro__:
            if not is_user_module(klass.__module__):
                continue
            for name, value in vars(klass).items():
                if name in ENGINE_ATTRIBUTES or name in seen_members:
                    continue
                seen_members.add(name)
                label = f"{cls.__name__}.{name}"
                found[label] = self._member(klass, name, value, pending, found, label)
        self._follow(pending, found)
        return found

    def _member(
        self,
        owner: type,
        name: str,
        value: Any,
        pending: list[Any],
        found: dict[str, str],
        label: str,
    ) -> str:
        if isinstance(value, Parameter):
            default = value_text(value.default)
            text = f"{type(value).__name__}|{default}|{value.significant}"
            self.material[label] = text
            return text_hash(text)
        func = function_of(value)
        if func is None:
            pending.append(value)  # a class, or an object of a class, of yours is code
            text = self.material[label] = self._attribute_text(owner, name, value)
            return text_hash(text)
        self.material[label] = func
        text, references = self._source(func)
        if is_user_module(func.__module__ or ""):
            self._scan(func, references, pending, found)
        return text_hash(text + "|" + closure_text(func))

    def _attribute_text(self, owner: type, name: str, value: Any) -> str:
        if type(value) in scalar_types():
            return repr(value)
        seen = self._first_seen.setdefault(owner, {})
        entry = seen.get(name)
        if entry is None or entry[0] is not value:  # a new value assigned counts
            entry = seen[name] = (value, value_text(value))
        return entry[1]

    def _source(self, func: types.FunctionType) -> tuple[str, tuple[Reference, ...]]:
        cached = self._function_cache.get(func.__code__)
        if cached is None:
            text, tree = normalized_source(func)
            if tree is None:
                references = tuple((name,) for name in func.__code__.co_names)
            else:
                references = references_in(tree)
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
                if len(reference) == 1 and is_constant(value):
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
                    if not is_constant(value):
                        pending.append(value)
                    elif is_user_module(owner.__name__):  # math.pi is a library's, not yours
                        self._constant(owner.__name__, name, value, found)

    def _constant(self, module_name: str, name: str, value: Any, found: dict[str, str]) -> None:
        if name.startswith("__") and name.endswith("__"):  # __file__, __name__: not constants
            return
        origin = self._origin(module_name, name, 0)
        if origin is not None:
            label = f"{module_label(origin[0])}.{origin[1]}"
            text = self.material[label] = value_text(value, False)
            found[label] = text_hash(text)

    def _origin(self, module_name: str, name: str, hops: int) -> tuple[str, str] | None:
        """Where a module-level name is written as data: (module, name), following
        ``from module import name`` through your modules; None if it is computed at import
        (runtime state) or comes from a library."""
        bindings = self._bindings(module_name)
        if bindings is None:  # no source to read (a notebook, python -c): the value counts
            return module_name, name
        how = bindings.names.get(name)
        if how == DATA:
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

    def _bindings(self, module_name: str) -> Bindings | None:
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
                bindings = bindings_of(tree, package)
            cached = self._modules[module_name] = key, bindings
        return cached[1]

    def _follow(self, pending: list[Any], found: dict[str, str]) -> None:
        seen: set[int] = set()
        while pending:
            obj = pending.pop()
            func = function_of(obj)
            if func is None and not isinstance(obj, type):
                obj = type(obj)  # an object: its class is code
            if obj is None or id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, type):
                if is_task_class(obj) or not is_user_module(obj.__module__ or ""):
                    continue
                label = type_label(obj)
                for name, value in vars(obj).items():
                    if name not in ENGINE_ATTRIBUTES:
                        found[f"{label}.{name}"] = self._member(
                            obj, name, value, pending, found, f"{label}.{name}"
                        )
                continue
            if func is None or not is_user_module(func.__module__ or ""):
                continue
            text, references = self._source(func)
            label = f"{module_label(func.__module__)}.{func.__qualname__}"
            self.material[label] = func
            found[label] = text_hash(text + "|" + closure_text(func))
            self._scan(func, references, pending, found)


def material_text(material: Any) -> str:
    """The readable form of what a member's hash was taken of."""
    if isinstance(material, types.FunctionType):
        text = readable_source(material)
        closed = closure_text(material)
        return text + (f"\n# closure: {closed}" if closed else "")
    return str(material)
