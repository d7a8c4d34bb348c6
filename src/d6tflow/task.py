"""The Task base: identity (parameters, task_id), dependencies, outputs and completeness.

``Task`` is what luigi's Task was to the original d6tflow: parameters, ``requires``, ``output``,
``complete``, ``run``. ``TaskData`` (``task_data.py``) adds saved outputs and one-call loading.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import re
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any, ClassVar

try:  # CPython's own md5: about half the cost of hashlib's OpenSSL one for a short task id
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - interpreters built without it
    from hashlib import md5 as _md5

from d6tflow import settings
from d6tflow.errors import (
    FolderNameError,
    MissingParameterError,
    ParameterError,
    TaskDefinitionError,
    UsageError,
)
from d6tflow.graph import is_complete
from d6tflow.params import Parameter, ParameterVisibility, adopted
from d6tflow.protocol import builtin, register_class, task_class_by_name
from d6tflow.provenance import assess_by_existence
from d6tflow.utils import flatten, map_structure
from d6tflow.viewing import HtmlView

logger = logging.getLogger("d6tflow")

_INVALID_ID_CHARS = re.compile(r"[^A-Za-z0-9_]")
_FAMILY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_SEPARATORS = re.compile(r"[/\\]")  # both, on every platform: a flow may move to Windows
_TASK_ID_HASH_LEN = 10

# Bumped whenever a parameter is added to any task class, so cached parameter lists refresh.
_param_generation = 0
_task_ids: dict[tuple, str] = {}
#: "Not worked out yet", for memos whose value may be None.
UNSET = object()


@functools.lru_cache(maxsize=1024)
def _name_problem(text: str, nested: bool) -> str | None:
    """Why ``text`` may not name a folder inside another (None: it may). ``nested``: a relative
    path of such names (``a/b``) is allowed too."""
    if "\0" in text:
        return "contains a NUL character"
    if nested and (
        os.path.isabs(text) or os.path.splitdrive(text)[0] or text.startswith(("/", "\\"))
    ):
        return "is an absolute path"
    parts = _SEPARATORS.split(text)
    if len(parts) > 1 and not nested:
        return "contains a path separator"
    if "" in parts or "." in parts or ".." in parts:
        return "is empty or has a '.' or '..' part" if nested else "is empty, '.' or '..'"
    return None


def check_name(value: Any, what: str, owner: str, nested: bool = False) -> str:
    """``str(value)``, checked to name a folder inside the data folder: ``env``, ``task_group``
    (one name) or ``target_dir`` (``nested=True``: ``a/b`` allowed). Parameter values are made
    safe by the task id; these are taken as they are, so a value that would put outputs outside
    the data folder (``..``, an absolute path) is refused instead.

    >>> check_name("prod", "env", "Workflow(TaskTrain)")
    'prod'
    """
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    problem = _name_problem(text, nested)
    if problem is None:
        return text
    allowed = (
        "a relative folder path such as 'models' or 'models/v2'"
        if nested
        else "a single folder name such as 'prod'"
    )
    raise FolderNameError(
        f"{owner}: {what} {text!r} {problem}; it must stay inside the data folder: give "
        f"{allowed} (no '..', no absolute path, no NUL character)"
    )


def _check_family(value: Any, cls_name: str) -> str:
    if not isinstance(value, str) or not _FAMILY.match(value):
        raise FolderNameError(
            f"class {cls_name}: task_family {value!r} is not allowed; it names the task ids and "
            "the output folder: use letters, digits, '_', '.' and '-', starting with a letter, "
            'digit or "_" (e.g. task_family = "TaskTrainV2")'
        )
    return value


__all__ = ["Task", "as_task_list", "builtin", "check_name", "task_class_by_name"]


class TaskMeta(type):
    """Registers task classes by name and lets parameters be added after a class is created."""

    def __init__(cls, name: str, bases: tuple, namespace: dict):
        super().__init__(name, bases, namespace)
        for attr, value in namespace.items():
            param = adopted(value)
            if param is not value:  # a luigi parameter: it becomes a d6tflow one
                param.__set_name__(cls, attr)
                type.__setattr__(cls, attr, param)
        # Every class gets a family of its own, never its parent's: a subclass that inherited
        # one would share its parent's task ids and folder.
        family = namespace.get("task_family", name)
        if family != name:  # a class name is always fine (any identifier, as the original)
            family = _check_family(family, name)
        type.__setattr__(cls, "task_family", family)
        register_class(cls, name, family)
        cls._params_cache = None  # type: ignore[attr-defined]
        cls._filtered_params_cache = None  # type: ignore[attr-defined]

    def __setattr__(cls, name: str, value: Any) -> None:
        value = adopted(value)
        if isinstance(value, Parameter):
            global _param_generation
            value.__set_name__(cls, name)
            _param_generation += 1
        elif name == "task_family":
            value = _check_family(value, cls.__name__)
            _task_ids.clear()  # the ids remembered for this class start with the old family
            register_class(cls, value)
        super().__setattr__(name, value)


class Task(HtmlView, metaclass=TaskMeta):
    """A unit of work with parameters, dependencies (``requires``) and outputs (``output``).

    Parameters are class attributes; an instance's values are read as ``self.<name>``. Tasks with
    equal parameters are equal, so building the same task twice yields the same outputs.
    """

    #: Accepted for compatibility; task ids use the bare class name, as the original's did.
    task_namespace: ClassVar[str | None] = None
    #: What task ids start with and the name of the class's output folder: the class name unless
    #: the class sets its own (e.g. two classes of one name in different modules). Never
    #: inherited: each class has its own.
    task_family: ClassVar[str]
    #: A class-level ``path`` wins over the constructor argument (the original's rule).
    path: Any = None
    #: True: ``complete()`` looks only at this task's own outputs, never upstream.
    external: ClassVar[bool] = False

    _params_cache: ClassVar[tuple[int, list[tuple[str, Parameter]]] | None]

    def __init__(self, *args: Any, path: Any = None, flows: Any = None, **kwargs: Any):
        params = type(self).get_params()
        values = self._bind(params, args, kwargs)
        for name, value in values.items():
            setattr(self, name, value)
        self.param_kwargs = values
        if type(self).path is None:
            self.path = path
        self.flows = flows
        # Identity is fixed at construction: graphs hash tasks constantly, so it must be cheap.
        self.task_id = self._lookup_task_id()
        self._set_identity()
        #: (path, flows) that a Workflow applies to this task and everything upstream of it.
        self._context: tuple[Any, Any] | None = None
        # Every memo attribute now, not when first worked out: CPython sizes an instance's
        # inline attribute storage when it is created, so an attribute added later to one of
        # thousands of tasks gives it a dict of its own (400 bytes, two allocations).
        self._forget_derived()

    def _set_identity(self) -> None:
        # No (class, id, path) tuple is kept: it would be one more object per task for the
        # garbage collector to walk; equality compares the parts.
        self._id_path = os.fspath(self.path) if self.path is not None else None
        self._hash = self._identity_hash()

    def _identity_hash(self) -> int:
        return hash((type(self), self.task_id, self._id_path))

    def _forget_derived(self) -> None:
        """Drop what was worked out from this task's identity (requires(), outputs): a copy
        with another path or context must work it out again."""
        self._requires_cache: Any = UNSET
        self._deps_cache: list[Task] | None = None

    # -- parameters ------------------------------------------------------------------------------

    @classmethod
    def get_params(cls) -> list[tuple[str, Parameter]]:
        """``(name, Parameter)`` pairs in declaration order, including inherited ones."""
        cached = cls.__dict__.get("_params_cache")
        if cached is not None and cached[0] == _param_generation:
            return cached[1]
        found: dict[str, Parameter] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Parameter):
                    found[name] = value
                elif name in found:  # a subclass replaced the parameter with a plain attribute
                    del found[name]
        params = sorted(found.items(), key=lambda item: item[1]._counter)
        type.__setattr__(cls, "_params_cache", (_param_generation, params))
        return params

    @classmethod
    def get_param_names(cls, include_significant: bool = False) -> list[str]:
        return [name for name, p in cls.get_params() if include_significant or p.significant]

    @classmethod
    def _bind(cls, params: list, args: tuple, kwargs: dict) -> dict[str, Any]:
        given = kwargs  # a fresh dict of this call's keyword arguments: ours to consume
        if args:
            positional = [(n, p) for n, p in params if p.positional]
            if len(args) > len(positional):
                raise ParameterError(
                    f"{cls.__name__} takes {len(positional)} positional parameter(s), "
                    f"got {len(args)}"
                )
            for (name, _), value in zip(positional, args, strict=False):
                if name in given:
                    raise ParameterError(f"{cls.__name__}: parameter '{name}' given twice")
                given[name] = value
        values: dict[str, Any] = {}
        for name, param in params:
            if name in given:
                raw = given.pop(name)
            elif param.has_default:
                raw = param.default
            else:
                raise MissingParameterError(
                    f"{cls.__name__}: missing required parameter '{name}'. Pass it, e.g. "
                    f"{cls.__name__}({name}=...), or give the parameter a default."
                )
            try:
                value = param.normalize(raw) if raw is not None else None
                # luigi made top-level lists and sets tuples (hashable), in the id and the task.
                values[name] = tuple(value) if type(value) in (list, set) else value
            except ParameterError as e:
                raise ParameterError(f"{cls.__name__}: parameter '{name}': {e}") from None
        if given:
            # Workflows pass one params dict to every task of a flow: unknown names are ignored.
            logger.debug("%s ignores unknown arguments %s", cls.__name__, sorted(given))
        return values

    def to_str_params(self, only_significant: bool = False, only_public: bool = False) -> dict:
        """``{name: serialized value}``; the significant public ones make the task id."""
        values = self.param_kwargs
        return {
            name: param.serialize(values[name]) if values[name] is not None else param.none_text
            for name, param in type(self)._params_where(only_significant, only_public)
        }

    @classmethod
    def _params_where(cls, only_significant: bool, only_public: bool) -> list:
        """``get_params()`` filtered, cached per class: every new task's id is built from it."""
        cached = cls.__dict__.get("_filtered_params_cache")
        if cached is None or cached[0] != _param_generation:
            cached = (_param_generation, {})
            type.__setattr__(cls, "_filtered_params_cache", cached)
        found = cached[1].get((only_significant, only_public))
        if found is None:
            found = cached[1][only_significant, only_public] = [
                (name, p)
                for name, p in cls.get_params()
                if (p.significant or not only_significant)
                and (p.visibility == ParameterVisibility.PUBLIC or not only_public)
            ]
        return found

    @classmethod
    def _id_params(cls) -> list[tuple[str, Parameter, str]]:
        """``(name, parameter, JSON key)`` of what a task id is made of (significant, public),
        sorted by name as luigi's ``json.dumps(..., sort_keys=True)`` sorts them; cached like
        ``_params_where``."""
        cached = cls.__dict__.get("_filtered_params_cache")
        if cached is not None and cached[0] == _param_generation and "id" in cached[1]:
            return cached[1]["id"]
        found = [
            (name, param, _json_string(name) + ":")
            for name, param in sorted(cls._params_where(True, True), key=lambda item: item[0])
        ]
        cls.__dict__["_filtered_params_cache"][1]["id"] = found
        return found

    def get_param_values_dict(self) -> dict[str, Any]:
        return dict(self.param_kwargs)

    @classmethod
    def get_param_values(
        cls, params: list[tuple[str, Parameter]], args: tuple, kwargs: dict
    ) -> list[tuple[str, Any]]:
        """luigi's ``[(name, value), ...]`` for ``cls(*args, **kwargs)``: defaults filled in,
        values normalized; keyword arguments that are not parameters are ignored."""
        values = cls._bind(params, tuple(args), dict(kwargs))
        return [(name, values[name]) for name, _ in params]

    @classmethod
    def from_str_params(cls, params_str: dict[str, str]) -> Task:
        """The task whose ``to_str_params()`` is ``params_str`` (luigi's way back from text)."""
        values = {
            name: param.parse(params_str[name])
            for name, param in cls.get_params()
            if name in params_str
        }
        return cls(**values)

    def on_success(self) -> None:
        """Called after ``run()`` succeeded and its outputs were saved (luigi's hook, as the
        original called it): override it to notify or clean up."""

    def on_failure(self, exception: BaseException) -> str | None:
        """Called when ``run()`` raised ``exception`` (luigi's hook); the text it returns, if
        any, is logged with the failure."""
        return None

    # -- identity ----------------------------------------------------------------------------------

    @classmethod
    def get_task_family(cls) -> str:
        return cls.task_family

    def _lookup_task_id(self) -> str:
        """``<Family>_<readable params>_<md5[:10]>``, identical to the original d6tflow's."""
        # Graphs create the same task many times (every requires() call); compute its id once.
        key = (
            type(self),
            settings._id_nparams,
            settings._id_param_len,
            *self.param_kwargs.values(),
        )
        try:
            task_id = _task_ids.get(key)
        except TypeError:  # an unhashable value in a plain Parameter
            return self._compute_task_id()
        if task_id is None:
            task_id = _task_ids[key] = self._compute_task_id()
        return task_id

    def _compute_task_id(self) -> str:
        # luigi hashes json.dumps(params, separators=(",", ":"), sort_keys=True); for a dict of
        # strings these are the same bytes, built without an encoder's per-call set-up. Every
        # task of a new process computes its id once, so this loop is much of building a graph.
        values = self.param_kwargs
        pairs, shown = [], []
        for name, param, json_key in type(self)._id_params():
            value = values[name]
            text = param.serialize(value) if value is not None else param.none_text
            if not isinstance(text, str):
                raise TaskDefinitionError(
                    f"{self.task_family}: parameter '{name}' serializes to "
                    f"{type(text).__name__}, not str; its serialize() must return a string"
                )
            pairs.append(json_key + _json_string(text))
            shown.append(text[: settings._id_param_len])
        digest = _md5(f"{{{','.join(pairs)}}}".encode()).hexdigest()[:_TASK_ID_HASH_LEN]
        summary = "_".join(shown[: settings._id_nparams])
        return f"{self.task_family}_{_INVALID_ID_CHARS.sub('_', summary)}_{digest}"

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A class hashes by its id, which differs in another process: an unpickled task gets the
        # hash that equal tasks made there have.
        self.__dict__.update(state)
        self._hash = self._identity_hash()

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.task_id == self.task_id  # type: ignore[attr-defined]
            and other._id_path == self._id_path  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        parts = [
            f"{name}={param.serialize(self.param_kwargs[name])}"
            for name, param in type(self).get_params()
            if param.significant and self.param_kwargs[name] is not None
        ]
        return f"{self.task_family}({', '.join(parts)})"

    def clone(self, cls: type[Task] | None = None, **kwargs: Any) -> Task:
        """A task of class ``cls`` (default: this one) with this task's values for the parameters
        ``cls`` declares, overridden by ``kwargs``."""
        cls = cls or type(self)
        values = {}
        for name, _ in cls.get_params():
            if name in kwargs:
                values[name] = kwargs[name]
            elif name in self.param_kwargs:
                values[name] = self.param_kwargs[name]
        return cls(**values)

    # -- dependencies and outputs ------------------------------------------------------------

    def requires(self) -> Any:
        """The tasks this one needs: a task, a list, a dict, or nested. Override it."""
        return []

    def _requires(self) -> Any:
        """``requires()``, called once per instance: the graph, ``input()`` and ``inputLoad()``
        then share the same upstream instances (and their resolved outputs)."""
        if self._requires_cache is UNSET:
            found = self.requires()
            if self._context is not None:
                found = map_structure(self._pass_context, found)
            self._requires_cache = found
        return self._requires_cache

    def _pass_context(self, upstream: Any) -> Any:
        if isinstance(upstream, Task) and upstream._context is None:
            return upstream._with_context(self._context)
        return upstream

    def _with_context(self, context: tuple[Any, Any]) -> Task:
        """A copy of this task inside a flow: it (and, through ``requires()``, everything
        upstream of it) writes under the flow's path and sees its ``flows``. The task itself is
        left untouched, so nothing leaks to other uses of it."""
        path, flows = context
        # A flow's path applies to all its tasks (the original did so too).
        twin = self._relocated(self.path if path is None else path, context)
        twin.flows = flows
        return twin

    def _relocated(self, path: Any, context: tuple[Any, Any] | None) -> Task:
        """A copy of this task with another own ``path`` and flow ``context``: its identity,
        ``requires()`` and outputs are worked out again (upstream tasks get the context too)."""
        twin = copy.copy(self)
        twin.path = path
        twin._context = context
        twin._set_identity()
        twin._forget_derived()
        return twin

    def deps(self) -> list[Task]:
        """The tasks this one needs, as a flat list (``requires()`` checked and flattened)."""
        if self._deps_cache is not None:
            return self._deps_cache
        required = self._requires()
        if isinstance(required, Task):  # one upstream task, the most common shape: nothing to walk
            self._deps_cache = [required]
            return self._deps_cache
        found = flatten(required)
        for dep in found:
            if not isinstance(dep, Task):
                hint = (
                    f" Return an instance: {dep.__name__}() or self.clone({dep.__name__})."
                    if isinstance(dep, type) and issubclass(dep, Task)
                    else ""
                )
                raise TaskDefinitionError(
                    f"{self!r}.requires() returned {dep!r}, which is not a task.{hint}"
                )
        self._deps_cache = found
        return found

    def _graph_deps(self) -> list[Task]:
        """What the scheduler must finish before this task: ``deps()`` (aggregators add more)."""
        return self.deps()

    def input(self) -> Any:
        """The outputs (targets) of ``requires()``, in the same shape."""
        return map_structure(lambda t: t.output(), self._requires())

    def output(self) -> Any:
        """This task's targets; a task without outputs is never complete and always runs."""
        return []

    def run(self) -> Any:
        """Do the work. Override it."""

    def _outputs_exist(self) -> bool:
        outputs = flatten(self.output())
        return bool(outputs) and all(t.exists() for t in outputs)

    def _cascades(self) -> bool:
        """Does completeness also require every upstream task to be complete?"""
        return False

    def _assess(self, deps: list) -> Any:
        """This task's :class:`~d6tflow.status.Status`, given its dependencies' statuses."""
        return assess_by_existence(self, deps)

    @builtin
    def complete(self) -> bool:
        """True when every output exists (and, for data tasks, every upstream task is complete)."""
        return is_complete(self)


def as_task_list(tasks: Any, what: str = "tasks") -> list[Task]:
    """``tasks`` (one task, or a list or tuple of them) as a list, refusing anything that is not
    a task instance with an error that says what to pass instead.

    >>> as_task_list(TaskTrain())
    [TaskTrain()]
    """
    items = tasks if isinstance(tasks, (list, tuple)) else [tasks]
    for item in items:
        if isinstance(item, type) and issubclass(item, Task):
            raise UsageError(
                f"{what}: got the class {item.__name__}; pass an instance: {item.__name__}()"
            )
        if not isinstance(item, Task):
            raise UsageError(f"{what}: {item!r} is not a task instance")
    return list(items)
