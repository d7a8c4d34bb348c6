"""TaskData: a task whose outputs are saved by d6tflow and loaded back with one call."""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from d6tflow import settings, sharing
from d6tflow.code_source import module_label
from d6tflow.errors import (
    MetadataMissingError,
    NoOutputFormatError,
    PersistMismatchError,
    TaskFamilyClashError,
    TaskNotCompleteError,
)
from d6tflow.formats import Format, get_format
from d6tflow.graph import Graph
from d6tflow.loading import load_inputs, load_outputs
from d6tflow.protocol import builtin
from d6tflow.provenance import assess, files_of, manifest_of, outputs_staged, remove_records
from d6tflow.status import State, Status, counts_as_done
from d6tflow.stores import check_trusted, folder_text, store_for
from d6tflow.targets import CacheTarget, DataTarget, Target
from d6tflow.task import Task, check_name
from d6tflow.utils import confirm_prompt, flatten, map_structure


class _Naming(NamedTuple):
    """How one task class names its outputs in one naming state (data folder, settings,
    ``target_dir``, ``task_group``, ``persist``): a task's paths are then its id pasted between a
    prefix and a file name. ``fmts`` is None where outputs are made target by target instead."""

    folder: str
    prefix: str  # the folder with a trailing separator
    keys: tuple[str, ...]  # persist
    exts: tuple[str, ...]  # by key
    with_id: bool
    fmts: tuple[Format, ...] | None  # by key
    outputs: dict[str, Any]  # by task id: the target, or {key: target}
    files: dict[str, tuple[dict[str, str], str]]  # by task id: ({key: path}, folder)


# Namings by class and naming state; their targets and paths are shared by equal task instances.
_namings: dict[tuple, _Naming] = {}
_MAX_NAMINGS = 4096
_MAX_REMEMBERED_OUTPUTS = 200_000


def _remember(memo: dict, key: Any, value: Any, limit: int = _MAX_REMEMBERED_OUTPUTS) -> None:
    if len(memo) >= limit:  # a bound, not an LRU: long sessions with many flows stay small
        memo.clear()
    memo[key] = value


@functools.lru_cache(maxsize=4096)
def _folder_of(base: str, sub: str) -> str:
    """``os.path.join(base, sub, "")`` (ends with a separator, so a file name is simply appended),
    remembered: every task of a class shares its folder."""
    return os.path.join(base, sub, "")


def _data_dir(dirpath: Any) -> str:
    """``os.fspath(settings.dirpath)``, remembered for the last Path seen: every task asks."""
    global _last_data_dir
    if _last_data_dir[0] is not dirpath:
        _last_data_dir = (dirpath, dirpath if type(dirpath) is str else folder_text(dirpath))
    return _last_data_dir[1]


_last_data_dir: tuple[Any, str] = (None, "")


# The naming rule, in one place: where a task class's outputs go and what its files are called.
# TaskData applies it per task (and per class, for speed); the functional API's delete() uses it
# to find every file a class ever wrote.


def base_folder(path: Any, task_group: Any, owner: str) -> str:
    """``<path or the data folder>[/group=<task_group>]``: the folder the output folders of a
    task class (``owner`` names it in errors) go in."""
    base = os.fspath(path) if path is not None else _data_dir(settings.dirpath)
    if task_group is None:
        return base
    return os.path.join(base, "group=" + check_name(task_group, "task_group", owner))


def output_folder(path: Any, task_group: Any, target_dir: Any, family: str, owner: str) -> str:
    """``<base folder>/<target_dir or task family>/`` (with the trailing separator, so a file
    name is simply appended): where the outputs of a task class go."""
    if target_dir is not None:
        target_dir = check_name(target_dir, "target_dir", owner, nested=True)
    return _folder_of(base_folder(path, task_group, owner), target_dir or family)


def names_with_id(task_or_class: Any) -> bool:
    """Whether output file names start with the task id (``settings.save_with_param`` and the
    class's ``save_attrib``); without it, every parameter setting shares one file."""
    return bool(settings.save_with_param and getattr(task_or_class, "save_attrib", True))


def output_file_name(key: str, ext: str, task_id: str | None) -> str:
    """``<task id>-<key>.<ext>``, or ``<key>.<ext>`` when names leave the id out (None)."""
    return f"{task_id}-{key}.{ext}" if task_id is not None else f"{key}.{ext}"


# Which module's class writes each task family's outputs in each folder, and whether it is
# external (it then reads what another class wrote there: that is what it is for).
_writers: dict[tuple[str, str], tuple[str, str, bool]] = {}


def _claim(folder: str, cls: type[TaskData]) -> None:
    """Refuse a second class of the same family, from another module, writing to ``folder``:
    the two would make the same task ids there, so each would overwrite the other's outputs and
    load them as its own. One module seen twice (a class redefined in a notebook cell, a script
    run as ``__main__`` and imported) is one writer."""
    family = cls.task_family
    key = (os.path.abspath(folder), family)
    mine = (module_label(cls.__module__), f"{cls.__module__}.{cls.__qualname__}", cls.external)
    found = _writers.get(key)
    if found is None or found[0] == mine[0] or found[2]:
        _remember(_writers, key, mine, _MAX_NAMINGS)
        return
    if mine[2]:
        return
    raise TaskFamilyClashError(
        f"Two task classes named {family} write to {key[0]}: {found[1]} and {mine[1]}. "
        f"Their task ids are the same, so each would overwrite the other's outputs and load "
        f"them as its own. Give one of them a name of its own with a class attribute, e.g. "
        f'task_family = "{family}2" (it names its task ids and folder), or another folder '
        f'with task_group = "..."'
    )


def _pickle_to(path: Path, data: Any) -> None:
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)


def _upstream_meta(task: TaskData) -> Any:
    try:
        return task._read_meta()
    except FileNotFoundError:
        raise MetadataMissingError(
            f"No metadata for upstream task {task!r}: call self.metaSave(...) in its run() "
            f"(looked for {task._meta_path()})"
        ) from None


def check_loadable(task: Task, status: Status, what: str = "") -> None:
    """Refuse to load what ``task`` wrote (``what``: its outputs, or e.g. "the metadata of ")
    unless its ``status`` counts as done: complete, or stale while ``settings.rerun_stale`` is
    off. Stale outputs come from other code, upstream outputs or input files than the current."""
    if counts_as_done(status):
        return
    hint = (
        " (or set d6tflow.settings.rerun_stale = False to use stale outputs as they are)"
        if status.state is State.STALE
        else ""
    )
    raise TaskNotCompleteError(
        f"Cannot load {what}{task!r}, task not complete ({status.describe()}), run flow "
        f"first: d6tflow.run({task!r}){hint}"
    )


def load_meta(task: TaskData, status: Status) -> Any:
    """The metadata ``task`` saved with ``metaSave``, given its ``status`` (see
    :func:`check_loadable`)."""
    check_loadable(task, status, "the metadata of ")
    try:
        return task._read_meta()
    except FileNotFoundError:
        raise TaskNotCompleteError(
            f"No metadata to load for task {task.task_family}: call self.metaSave(...) in its run()"
        ) from None


_NOT_SAVED: Any = object()  # TaskData.metadata: metaSave was not called on this instance


class TaskData(Task):
    """A task with persisted outputs: ``self.save(obj)`` in ``run()``, ``outputLoad()`` after.

    ``persist = ['data']`` (the default) gives one output; a list of names gives several, saved
    together with ``self.save({'a': ..., 'b': ...})``. Subclasses choose a ``format``
    (TaskPqPandas, TaskPickle, … do it for you).
    """

    #: Name of a registered format (see ``d6tflow.formats``), or a Format instance; or a dict
    #: of them by persist key, for outputs of several formats (a model and its metrics).
    format: ClassVar[str | Format | dict[str, str | Format] | None] = None
    #: Legacy: a custom target class with load/save (set ``target_ext`` with it).
    target_class: ClassVar[type[Target] | None] = None
    target_ext: ClassVar[str | None] = None
    persist: ClassVar[list[str]] = ["data"]
    #: Folder name for the outputs instead of the class name.
    target_dir: str | None = None
    #: Outputs go under ``<data folder>/group=<task_group>/``.
    task_group: Any = None
    #: False: file names without the task id (one output file per class).
    save_attrib: bool = True

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        persists = cls.__dict__.get("persists")  # the original accepted this alias
        if persists is not None:
            cls.persist = list(persists)

    # -- where outputs live ------------------------------------------------------------------------

    @property
    def _ext(self) -> str:
        if self.target_ext is not None:
            return self.target_ext
        if self.target_class is not None:
            legacy_format = getattr(self.target_class, "format", None)
            return get_format(legacy_format).ext if legacy_format else "ext"  # the original's
        return self._format_of(self.persist[0]).ext

    def _format_of(self, key: str) -> Format:
        """The format of the output ``key`` of ``persist``."""
        chosen = self.format
        if chosen is None:
            raise NoOutputFormatError(
                f"{type(self).__name__} has no output format: subclass a task flavour such as "
                "d6tflow.tasks.TaskPqPandas or TaskPickle, or set format = '<name>'"
            )
        if isinstance(chosen, dict):
            try:
                chosen = chosen[key]
            except KeyError:
                raise NoOutputFormatError(
                    f"{type(self).__name__}.format has no entry for the output {key!r}: give "
                    f"every name of persist {list(self.persist)} a format, e.g. "
                    f'format = {{"{key}": "pickle", ...}}'
                ) from None
        return get_format(chosen)

    def _base_dir(self) -> str:
        return base_folder(self.path, self.task_group, self._owner())

    def _owner(self) -> str:
        return f"task class {type(self).__name__}"

    def _output_folder(self) -> str:
        """``<base>/<target_dir or task_family>/``: where this task's outputs go."""
        return output_folder(
            self.path, self.task_group, self.target_dir, self.task_family, self._owner()
        )

    def _getpath(self, key: str, ext: str | None = None) -> str:
        ext = self._ext if ext is None else ext
        return self._found(
            output_file_name(key, ext, self.task_id if names_with_id(self) else None)
        )

    def _found(self, name: str) -> str:
        """Where the output file ``name`` is: in this task's folder, or where the original
        d6tflow wrote it if only that exists."""
        path = self._output_folder() + name
        if (
            self.target_dir is None
            and "_" in self.task_family
            and "://" not in path
            and not os.path.exists(path)
        ):
            # The original cut the folder name at the first underscore; find what it wrote there.
            legacy = os.path.join(self._base_dir(), self.task_id.split("_")[0], name)
            if os.path.exists(legacy):
                return legacy
        return path

    def _make_target(self, key: str) -> Target:
        if self.target_class is not None:
            # Custom targets may write to their path directly, as the original allowed: its
            # targets created their folder on construction.
            path = self._getpath(key)
            store_for(path).make_folder(os.path.dirname(path))
            return self.target_class(Path(path))  # a Path, as the original passed
        fmt = self._format_of(key)
        path = self._getpath(key, fmt.ext if self.target_ext is None else self.target_ext)
        return CacheTarget(path) if fmt.in_memory else DataTarget(path, fmt)

    def output(self) -> Any:
        """The target (single output) or ``{key: target}`` (several outputs in ``persist``)."""
        state = self._naming_state()
        if self._outputs_state != state:
            self._outputs = self._shared_output(state)
            self._outputs_state = state
        return self._outputs

    def _file_paths(self) -> tuple[dict[str, str], str]:
        """({persist key: path}, folder) of the outputs d6tflow writes as files, ``({}, "")`` for
        in-memory and custom targets. A state check needs only these, not target objects."""
        if type(self).output is not TaskData.output:
            return files_of(self.output())  # the class makes targets of its own
        state = self._naming_state()
        if self._files_state != state:
            self._files = self._shared_files(state)
            self._files_state = state
        return self._files

    def _naming_state(self) -> tuple:
        """What this task's output paths depend on that may change between calls: the data
        folder, ``settings.save_with_param``, the task's ``path``, and the naming attributes
        the original let code set on one instance (``t.target_dir = ...``)."""
        return (
            _data_dir(settings.dirpath),
            settings.save_with_param,
            self.path,
            self.target_dir,
            self.target_ext,
            self.save_attrib,
        )

    # Equal tasks share their targets and paths: a graph rebuilt for the next run (new instances
    # from requires()) finds them instead of making them again.

    def _shared_output(self, state: tuple) -> Any:
        naming = self._naming_in(state)
        found = naming.outputs.get(self.task_id)
        if found is None:
            persist = self.persist
            single = len(persist) == 1 and persist[0] == "data"  # the single-output shortcut
            if naming.fmts is None:
                found = (
                    self._make_target("data")
                    if single
                    else {name: self._make_target(name) for name in persist}
                )
            else:
                paths, fmts = self._shared_files(state)[0], naming.fmts
                found = (
                    DataTarget.at(paths["data"], fmts[0])
                    if single
                    else {
                        key: DataTarget.at(path, fmt)
                        for (key, path), fmt in zip(paths.items(), fmts, strict=True)
                    }
                )
            _remember(naming.outputs, self.task_id, found)
        return found

    def _shared_files(self, state: tuple) -> tuple[dict[str, str], str]:
        naming = self._naming_in(state)
        found = naming.files.get(self.task_id)
        if found is None:
            if naming.fmts is None:
                found = files_of(self.output())
            else:
                task_id = self.task_id if naming.with_id else None
                found = (
                    {
                        key: naming.prefix + output_file_name(key, ext, task_id)
                        for key, ext in zip(naming.keys, naming.exts, strict=True)
                    },
                    naming.folder,
                )
            _remember(naming.files, self.task_id, found)
        return found

    def _naming_in(self, state: tuple) -> _Naming:
        key = (
            type(self),
            type(self).task_family,  # a class attribute: it may be set after the class is made
            state,
            tuple(self.persist),
            self.task_group,
        )
        naming = _namings.get(key)
        if naming is None:
            naming = self._naming()
            _remember(_namings, key, naming, _MAX_NAMINGS)
        return naming

    def _naming(self) -> _Naming:
        """How this class names its outputs now, worked out once for all of its tasks."""
        prefix = self._output_folder()
        _claim(prefix, type(self))
        persist = tuple(self.persist)
        fmts = None if self.target_class is not None else tuple(map(self._format_of, persist))
        if (
            fmts is None
            or any(fmt.in_memory for fmt in fmts)
            or (self.target_dir is None and "_" in self.task_family)
        ):
            # Custom targets, in-memory outputs and folders the original may have named
            # differently (see _getpath) take the general way, target by target.
            return _Naming("", "", (), (), False, None, {}, {})
        exts = tuple(fmt.ext if self.target_ext is None else self.target_ext for fmt in fmts)
        with_id = names_with_id(self)
        return _Naming(prefix[: -len(os.sep)], prefix, persist, exts, with_id, fmts, {}, {})

    def _forget_derived(self) -> None:
        super()._forget_derived()
        # What output() and _file_paths() worked out, and for which naming state (see output()).
        self._outputs: Any = None
        self._outputs_state: tuple | None = None
        self._files: tuple[dict[str, str], str] = ({}, "")
        self._files_state: tuple | None = None

    def _cascades(self) -> bool:
        return settings.check_dependencies and not self.external

    def _assess(self, deps: list) -> Any:
        return assess(self, deps)

    @builtin
    def complete(self, cascade: bool = True) -> bool:
        """All outputs exist and (unless ``cascade=False``) every upstream task is complete."""
        if not cascade:
            return self._outputs_exist()
        return super().complete()

    # -- saving and loading -----------------------------------------------------------------------

    def save(self, data: Any, **kwargs: Any) -> None:
        """Save this task's output(s); keyword arguments go to the format (e.g. compression).

        Outside ``run()`` (e.g. to provide an external task's data by hand) the outputs are
        taken as they are: the manifest of an earlier run no longer describes them and goes.
        """
        if not outputs_staged(self):
            remove_records(self)
        if list(self.persist) == ["data"]:
            self.output().save(data, **kwargs)
            return
        if not isinstance(data, dict) or set(data) != set(self.persist):
            given = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise PersistMismatchError(
                f"{type(self).__name__}.save needs a dict with exactly the keys of persist "
                f"{list(self.persist)}, got {given}. Save dictionary needs to consistent with "
                "Task.persist"
            )
        targets = self.output()
        for key in self.persist:
            targets[key].save(data[key], **kwargs)

    def outputLoad(
        self, keys: Any = None, as_dict: bool = False, cached: bool = False, **kwargs: Any
    ) -> Any:
        """Load this task's output(s): the object, or a list (``as_dict=True``: a dict) of them.
        Other keyword arguments go to the format's load (``lazy=True`` for Polars,
        ``mmap_mode="r"`` for numpy, ``columns=[...]`` for Parquet)."""
        check_loadable(self, self._status())
        return load_outputs(self, self.output(), keys, as_dict, cached, **kwargs)

    def _status(self) -> Status:
        return Graph([self]).states()[self]

    def inputLoad(
        self, keys: Any = None, task: Any = None, cached: bool = False, as_dict: bool = False
    ) -> Any:
        """Load the outputs of ``requires()``, shaped like it (``task=`` picks one upstream)."""
        return load_inputs(self, keys=keys, task=task, cached=cached, as_dict=as_dict)

    # -- metadata ---------------------------------------------------------------------------------

    @property
    def metadata(self) -> Any:
        """What ``metaSave`` saved: on the instance that ran, the object it was given; on any
        other instance (the one passed to ``d6tflow.run`` when workers ran it, or one built
        later), read from the metadata file while the task counts as done. None otherwise."""
        saved = self.__dict__.get("_metadata_saved", _NOT_SAVED)
        if saved is not _NOT_SAVED:
            return saved
        path = self._meta_path()
        if not store_for(path).exists(path) or not counts_as_done(self._status()):
            return None
        return self._read_meta()

    @metadata.setter
    def metadata(self, data: Any) -> None:
        self.__dict__["_metadata_saved"] = data

    def _metadata_here(self) -> Any:
        """What ``metaSave`` gave this instance, None if it was not called on it; unlike
        :attr:`metadata`, never reads a file (a commit asks it, on the hot path)."""
        return self.__dict__.get("_metadata_saved")

    def _get_meta_path(self, task: TaskData | None = None) -> Path | Any:
        """The original's name for where ``metaSave`` writes (its own tests called it)."""
        path = (task or self)._meta_path()
        return path if "://" in path else Path(path)

    def _meta_path(self) -> str:
        """Where ``metaSave`` writes (a local path, or a URL in a remote data folder)."""
        # The original's name: the meta output's with its last suffix made ".pickle".
        name = output_file_name("meta", self._ext, self.task_id if names_with_id(self) else None)
        return self._found(os.path.splitext(name)[0] + ".pickle")

    def metaSave(self, data: Any) -> None:
        """Save metadata (e.g. scores) next to the outputs; ``outputLoadMeta()`` reads it."""
        self.metadata = data
        path = self._meta_path()
        store_for(path).write(path, lambda tmp: _pickle_to(tmp, data))

    saveMeta = metaSave

    def _read_meta(self) -> Any:
        path = self._meta_path()
        where = store_for(path)
        manifest = manifest_of(self)
        check_trusted(path, manifest and manifest.get("pulled_from"), "metadata")
        with open(where.readable_path(path), "rb") as f:
            return pickle.load(f)

    def metaLoad(self) -> Any:
        """The metadata of the upstream tasks, shaped like ``requires()``."""
        return map_structure(_upstream_meta, self._requires())

    def outputLoadMeta(self) -> Any:
        """This task's own metadata; refused, as :meth:`outputLoad` is, while the task is not
        complete (stale metadata is served only with ``settings.rerun_stale = False``)."""
        return load_meta(self, self._status())

    def outputLoadAllMeta(self) -> dict[str, Any]:
        """``{task family: metadata}`` for this task and every upstream task with some; each
        follows :meth:`outputLoadMeta`'s rule."""
        graph = Graph([self])
        states = graph.states()
        check_loadable(self, states[self])
        return {
            task.task_family: load_meta(task, states[task])
            for task in graph.upstream_of(self)
            if isinstance(task, TaskData) and store_for(task._meta_path()).exists(task._meta_path())
        }

    # -- sharing -----------------------------------------------------------------------------------

    def push(self, remote: Any = None, **kwargs: Any) -> Any:
        """Upload this task's outputs and its upstream tasks' to the remote (``d6tflow.push``)."""
        return sharing.push(self, remote, **kwargs)

    def pull(self, remote: Any = None, **kwargs: Any) -> Any:
        """Download this task's outputs and its upstream tasks' from the remote
        (``d6tflow.pull``)."""
        return sharing.pull(self, remote, **kwargs)

    # -- invalidation -----------------------------------------------------------------------------

    def invalidate(self, confirm: bool = True) -> bool:
        """Delete this task's outputs and metadata (asks first unless ``confirm=False``)."""
        targets = flatten(self.output())
        if confirm and not confirm_prompt(f"invalidating task {self!r}", targets):
            print("Cancelled")
            return False
        remove_records(self)
        for target in targets:
            target.invalidate()
        path = self._meta_path()
        store_for(path).remove(path)
        return True

    def reset(self, confirm: bool = True) -> bool:
        """Same as :meth:`invalidate`."""
        return self.invalidate(confirm=confirm)
