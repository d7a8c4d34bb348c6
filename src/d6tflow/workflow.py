"""Workflow and WorkflowMulti: run a flow of task classes with one set of parameters, or compare
several sets (experiments, parameter grids) side by side.

A Workflow holds a default task class and the parameters every task it builds receives; its
``path``/``env`` and attached flows reach the tasks it builds (and everything upstream of them)
through the engine's flow context, as copies, so nothing leaks onto tasks built elsewhere.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from d6tflow import settings
from d6tflow.display import flows_preview, show_preview
from d6tflow.display import preview as _preview
from d6tflow.errors import (
    ConfigurationError,
    ParameterError,
    TaskNotCompleteError,
    UnknownNameError,
    UsageError,
)
from d6tflow.graph import Graph, taskflow_upstream
from d6tflow.invalidation import (
    complete_between,
    invalidate_downstream,
    invalidate_tasks,
    invalidate_upstream,
)
from d6tflow.notebook import flow_html, results_html
from d6tflow.scheduler import RunResult
from d6tflow.scheduler import run as _run
from d6tflow.sharing import pull as _pull
from d6tflow.sharing import push as _push
from d6tflow.status import counts_as_done
from d6tflow.stores import folder_text
from d6tflow.task import Task, check_name
from d6tflow.task_data import load_meta
from d6tflow.utils import map_structure, params_generator_multiple

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MultiRunResult", "Workflow", "WorkflowMulti"]

TaskClass = type[Task]


class MultiRunResult(dict):
    """``{flow name: RunResult}``; truthy only when every flow succeeded.

    The flows ran together in one ``d6tflow.run`` (shared upstream tasks once); each entry holds
    the states of the tasks of that flow.
    """

    def __bool__(self) -> bool:
        return all(bool(r) for r in self.values())

    def _repr_html_(self) -> str:
        return results_html(self)


def run_together(
    roots_by_name: Mapping[Any, list[Task]], *args: Any, **options: Any
) -> MultiRunResult:
    """Run named groups of root tasks in one ``d6tflow.run`` (a task in several groups runs
    once) and give each group its part of the result; ``args``/``options`` go to ``run``."""
    all_roots = list(dict.fromkeys(t for group in roots_by_name.values() for t in group))
    return split_result(_run(all_roots, *args, **options), roots_by_name)


def split_result(result: RunResult, roots_by_name: Mapping[Any, list[Task]]) -> MultiRunResult:
    """One RunResult per named group of roots, cut from the result of a run of all of them."""
    out = MultiRunResult()
    for name, roots in roots_by_name.items():
        if result.cancelled:
            out[name] = RunResult(cancelled=True)
            continue
        members = set(Graph(roots).deps)
        out[name] = RunResult(
            status={t: s for t, s in result.status.items() if t in members},
            reasons={t: r for t, r in result.reasons.items() if t in members},
            failures=[f for f in result.failures if f.task in members],
            summary=result.summary,
            duration=result.duration,
        )
    return out


def load_all(task: Task, keys: Any, as_dict: bool, cached: bool) -> dict[str, Any]:
    """``{key: outputLoad()}`` for ``task`` and every task upstream of it.

    The key is the class name; when the flow holds several tasks of one class (different
    parameters), each of those is keyed by its task id instead, so none overwrites another.
    """
    tasks = [t for t in taskflow_upstream(task) if hasattr(t, "outputLoad")]
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.task_family] = counts.get(task.task_family, 0) + 1
    return {
        (t.task_family if counts[t.task_family] == 1 else t.task_id): t.outputLoad(
            keys=keys, as_dict=as_dict, cached=cached
        )
        for t in tasks
    }


def _output_paths(task: Task) -> Any:
    return map_structure(lambda target: target.path, task.output())


class Workflow:
    """A default task class and the parameters every task of the flow gets.

    >>> flow = d6tflow.Workflow(TaskTrain, params={"model": "gbm"})
    >>> flow.run()                      # TaskTrain(model="gbm") and what it needs
    >>> model = flow.outputLoad()       # its output
    >>> df = flow.outputLoad(TaskPreprocess)   # any upstream task, same parameters

    ``path`` puts this flow's outputs in another folder, ``env`` in a sub-folder ``env=<env>``
    of it (without ``path``: of the default task's class-level ``path`` if it has one, else of
    the data folder). Either applies to the tasks this Workflow builds and everything upstream
    of them, replacing a class-level ``path`` of theirs, and to no task built elsewhere.
    """

    def __init__(
        self,
        task: TaskClass | None = None,
        params: Mapping[str, Any] | None = None,
        path: str | os.PathLike | None = None,
        env: str | None = None,
    ):
        if isinstance(task, Mapping) and params is None:
            # Workflow({'param': value}): early versions took the parameters first.
            task, params = None, task
        if task is not None:
            _check_task_class(task, "Workflow(task=...)")
        self.default_task = task
        self.params: dict[str, Any] = dict(params or {})
        self._path = path
        self.env = env
        #: Other flows a task can read in run() as ``self.flows[name]`` (see ``attach_flow``).
        self.flows: dict[str, Any] = {}
        self._declared_by: dict[type, frozenset[str]] = {}  # see _names_declared

    def __repr__(self) -> str:
        name = self.default_task.__name__ if self.default_task else None
        return f"Workflow(task={name}, params={self.params!r}, path={self.path!r})"

    def _repr_html_(self) -> str | None:
        return flow_html(self)

    @property
    def env(self) -> str | None:
        """The sub-folder ``env=<env>`` this flow's outputs go to: one folder name."""
        return self._env

    @env.setter
    def env(self, env: str | None) -> None:
        name = self.default_task.__name__ if self.default_task else ""
        self._env = None if env is None else check_name(env, "env", f"Workflow({name})")

    @property
    def path(self) -> str | None:
        """The folder this flow's outputs go to (None: the data folder)."""
        if self.env is None:
            return None if self._path is None else folder_text(self._path)
        base = self._path
        if base is None:
            base = getattr(self.default_task, "path", None) or settings.dirpath
        return f"{folder_text(base)}/env={self.env}"

    # -- building tasks -------------------------------------------------------------------------

    def set_default(self, task: TaskClass) -> None:
        """Make ``task`` the class methods use when called without one."""
        _check_task_class(task, "set_default")
        self.default_task = task

    def get_task(self, task: TaskClass | Task | None = None) -> Task:
        """An instance of ``task`` (default: the default task) with this flow's parameters.

        Parameters the class does not declare are ignored, so one params dict serves every
        task of the flow. A task instance keeps its own parameters and is placed in this flow
        (its path and attached flows).
        """
        if task is None:
            if self.default_task is None:
                raise ConfigurationError(
                    "no default tasks set: pass a task class, or create the Workflow with "
                    "Workflow(TaskX, params) or call flow.set_default(TaskX)"
                )
            task = self.default_task
        if isinstance(task, Task):
            return task if task._context is not None else task._with_context(self._context())
        _check_task_class(task, "Workflow.get_task")
        built = task(**self.params)._with_context(self._context())
        if self.params:
            self._check_params(built)
        return built

    def _check_params(self, built: Task) -> None:
        """A params name that no task of the flow declares is a mistake (a misspelling, a
        parameter renamed since): say so, or it would silently run with the default."""
        declared = type(built).get_param_names(include_significant=True)
        if all(name in declared for name in self.params):
            return
        known = self._names_declared(type(built), built)
        if self.default_task is not None and self.default_task is not type(built):
            default = self.default_task(**self.params)._with_context(self._context())
            known = known | self._names_declared(self.default_task, default)
        unknown = [name for name in self.params if name not in known]
        if not unknown:
            return
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        root = (self.default_task or type(built)).__name__
        raise ParameterError(
            f"Workflow({root}) params: {', '.join(hints)} is not a parameter of {root} or of any "
            f"task upstream of it. Its tasks' parameters: {', '.join(sorted(known)) or 'none'}."
        )

    def _names_declared(self, cls: type, built: Task) -> frozenset[str]:
        """The parameter names of the classes of ``built`` and of every task upstream of it."""
        names = self._declared_by.get(cls)
        if names is None:
            classes = {type(t) for t in taskflow_upstream(built)}
            names = frozenset(n for c in classes for n in c.get_param_names(True))
            self._declared_by[cls] = names
        return names

    def _context(self) -> tuple[str | None, dict[str, Any]]:
        return (self.path, self.flows)

    def _get_tasks(self, tasks: Any) -> list[Task]:
        items = tasks if isinstance(tasks, (list, tuple)) else [tasks]
        return [self.get_task(t) for t in items]

    def attach_flow(self, flow: Any = None, flow_name: str = "flow") -> None:
        """Let this flow's tasks read another flow's outputs: ``self.flows[flow_name]``.

        >>> flow_train.attach_flow(flow_data, "data")
        >>> # in a task's run(): df = self.flows["data"].outputLoad()

        The attached flow is not run for you: run it first.
        """
        self.flows[flow_name] = flow

    attach = attach_flow

    # -- running ---------------------------------------------------------------------------------

    def preview(
        self,
        tasks: Any = None,
        indent: str = "",
        last: bool = True,
        show_params: bool = True,
        clip_params: bool = False,
    ) -> None:
        """Print the dependency tree of ``tasks`` (default: the default task) in this flow."""
        _preview(self._get_tasks(tasks), indent, last, show_params, clip_params)

    def run(
        self,
        tasks: Any = None,
        forced: Any = None,
        forced_all: bool = False,
        forced_all_upstream: bool = False,
        confirm: bool = False,
        workers: int = 1,
        abort: bool = True,
        execution_summary: bool | None = None,
        **kwargs: Any,
    ) -> RunResult:
        """Run ``tasks`` (a class or list of classes; default: the default task) with this
        flow's parameters; see :func:`d6tflow.run` for the other arguments. ``forced`` may be
        given as classes too. An instance runs with its own parameters, in this flow's folder."""
        return _run(
            self._get_tasks(tasks),
            forced=_forced_in([self], forced),
            forced_all=forced_all,
            forced_all_upstream=forced_all_upstream,
            confirm=confirm,
            workers=workers,
            abort=abort,
            execution_summary=execution_summary,
            **kwargs,
        )

    # -- outputs ---------------------------------------------------------------------------------

    def output(self, task: TaskClass | None = None) -> Any:
        """The target(s) of ``task`` in this flow."""
        return self.get_task(task).output()

    def outputPath(self, task: TaskClass | None = None) -> Any:
        """Where ``task``'s output is: a path, or ``{key: path}`` for several outputs."""
        return _output_paths(self.get_task(task))

    def complete(self, task: TaskClass | None = None) -> bool:
        return self.get_task(task).complete()

    def outputLoad(
        self,
        task: TaskClass | None = None,
        keys: Any = None,
        as_dict: bool = False,
        cached: bool = False,
    ) -> Any:
        """Load ``task``'s output (default: the default task), as ``task.outputLoad`` does."""
        return self.get_task(task).outputLoad(keys=keys, as_dict=as_dict, cached=cached)

    def outputLoadMeta(self, task: TaskClass | None = None) -> Any:
        """The metadata ``task`` saved with ``self.metaSave(...)``."""
        return self.get_task(task).outputLoadMeta()

    def outputLoadAll(
        self,
        task: TaskClass | None = None,
        keys: Any = None,
        as_dict: bool = False,
        cached: bool = False,
    ) -> dict[str, Any]:
        """The outputs of ``task`` and of every task upstream of it, keyed by class name.

        When the flow holds several tasks of one class (different parameters), those are keyed
        by their task id (``TaskTrain_gbm_1b2c3d4e5f``) so that none hides another.
        """
        return load_all(self.get_task(task), keys, as_dict, cached)

    # -- sharing -----------------------------------------------------------------------------------

    def push(self, task: TaskClass | None = None, remote: Any = None, **kwargs: Any) -> Any:
        """Upload ``task``'s outputs and its upstream tasks' to the remote (``d6tflow.push``)."""
        return _push(self.get_task(task), remote, **kwargs)

    def pull(self, task: TaskClass | None = None, remote: Any = None, **kwargs: Any) -> Any:
        """Download ``task``'s outputs and its upstream tasks' from the remote
        (``d6tflow.pull``)."""
        return _pull(self.get_task(task), remote, **kwargs)

    # -- invalidation ----------------------------------------------------------------------------

    def reset(self, task: TaskClass | None = None, confirm: bool = False) -> bool:
        """Delete ``task``'s outputs (only that task)."""
        return self.get_task(task).reset(confirm=confirm)

    def reset_upstream(self, task: TaskClass | None = None, confirm: bool = False) -> bool:
        """Delete the outputs of ``task`` and of everything upstream of it."""
        return invalidate_upstream(self.get_task(task), confirm=confirm)

    def reset_downstream(
        self,
        task: TaskClass | None = None,
        task_downstream: TaskClass | None = None,
        confirm: bool = False,
    ) -> bool:
        """Delete the outputs of ``task`` and of the tasks between it and ``task_downstream``
        (default: the default task); other branches stay."""
        return invalidate_downstream(
            self.get_task(task), self.get_task(task_downstream), confirm=confirm
        )


class WorkflowMulti:
    """Several flows of the same tasks, one per parameter set: experiments to compare.

    ``params`` is one of:

    * ``{"ols": {"model": "ols"}, "gbm": {"model": "gbm"}}`` — named parameter sets;
    * ``{"model": ["ols", "gbm"], "scale": [True, False]}`` — a grid: every combination, named
      ``"model_ols_scale_True"`` … (keys sorted, as the original named them);
    * ``[{"model": "ols"}, {"model": "gbm"}]`` — flows named ``0``, ``1``, …

    Methods take ``flow=<name>`` to act on one flow; without it they act on every flow and
    return ``{flow name: result}``.

    >>> flows = d6tflow.WorkflowMulti(TaskTrain, {"model": ["ols", "gbm"]})
    >>> flows.run()                       # shared upstream tasks run once
    >>> flows.compare()                   # one row per flow: parameters and metadata
    """

    def __init__(
        self,
        task: TaskClass | None = None,
        params: Any = None,
        path: str | os.PathLike | None = None,
        env: str | None = None,
    ):
        if isinstance(task, (Mapping, list)) and params is None:
            task, params = None, task
        self.params = _flow_params(params)
        self.default_task = task
        self.workflow_objs: dict[Any, Workflow] = {
            name: Workflow(task, params=p, path=path, env=env) for name, p in self.params.items()
        }

    def __repr__(self) -> str:
        name = self.default_task.__name__ if self.default_task else None
        return f"WorkflowMulti(task={name}, flows={list(self.workflow_objs)!r})"

    def _repr_html_(self) -> str | None:
        return flow_html(self)

    @property
    def flow_names(self) -> list[Any]:
        return list(self.workflow_objs)

    def get_flow(self, flow: Any) -> Workflow:
        """The Workflow of one flow."""
        try:
            return self.workflow_objs[flow]
        except KeyError:
            raise UnknownNameError(
                f"No flow named {flow!r}; the flows are {list(self.workflow_objs)}"
            ) from None

    def _flows(self, flow: Any) -> dict[Any, Workflow]:
        if flow is None:
            return dict(self.workflow_objs)
        return {flow: self.get_flow(flow)}

    def _each(self, flow: Any, fn: Any) -> Any:
        if flow is not None:
            return fn(self.get_flow(flow))
        return {name: fn(w) for name, w in self.workflow_objs.items()}

    def set_default(self, task: TaskClass) -> None:
        self.default_task = task
        for workflow in self.workflow_objs.values():
            workflow.set_default(task)

    def get_task(self, task: TaskClass | None = None, flow: Any = None) -> Any:
        """The task of one flow, or ``{flow: task}``."""
        return self._each(flow, lambda w: w.get_task(task))

    def preview(
        self,
        tasks: Any = None,
        flow: Any = None,
        indent: str = "",
        last: bool = True,
        show_params: bool = True,
        clip_params: bool = False,
    ) -> None:
        """Print the tree of one flow, or of all flows: the tasks every flow shares once, then
        each flow's own tasks under its name."""
        if flow is not None:
            self.get_flow(flow).preview(tasks, indent, last, show_params, clip_params)
            return
        roots = {name: w._get_tasks(tasks) for name, w in self.workflow_objs.items()}
        show_preview(flows_preview(roots, show_params, clip_params, indent, last))

    def run(
        self,
        tasks: Any = None,
        flow: Any = None,
        forced: Any = None,
        forced_all: bool = False,
        forced_all_upstream: bool = False,
        confirm: bool = False,
        workers: int = 1,
        abort: bool = True,
        execution_summary: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run one flow (returns its RunResult) or all flows (returns ``{flow: RunResult}``,
        truthy only if all succeeded).

        All flows go to ``d6tflow.run`` together: a task shared by several flows (same class and
        parameters) runs once, and ``workers``/``executor`` can run independent flows in
        parallel.
        """
        options = dict(
            forced_all=forced_all,
            forced_all_upstream=forced_all_upstream,
            confirm=confirm,
            workers=workers,
            abort=abort,
            execution_summary=execution_summary,
            **kwargs,
        )
        if flow is not None:
            return self.get_flow(flow).run(tasks, forced=forced, **options)
        flows = self.workflow_objs.values()
        roots = {name: w._get_tasks(tasks) for name, w in self.workflow_objs.items()}
        return run_together(roots, forced=_forced_in(flows, forced), **options)

    # -- outputs ---------------------------------------------------------------------------------

    def output(self, task: TaskClass | None = None, flow: Any = None) -> Any:
        return self._each(flow, lambda w: w.output(task))

    def outputPath(self, task: TaskClass | None = None, flow: Any = None) -> Any:
        return self._each(flow, lambda w: w.outputPath(task))

    def complete(self, task: TaskClass | None = None, flow: Any = None) -> Any:
        return self._each(flow, lambda w: w.complete(task))

    def outputLoad(
        self,
        task: TaskClass | None = None,
        flow: Any = None,
        keys: Any = None,
        as_dict: bool = False,
        cached: bool = False,
    ) -> Any:
        """One flow's output, or ``{flow: output}``."""
        return self._each(flow, lambda w: w.outputLoad(task, keys, as_dict, cached))

    def outputLoadMeta(self, task: TaskClass | None = None, flow: Any = None) -> Any:
        """One flow's metadata, or ``{flow: metadata}``; :meth:`compare` makes it a table."""
        return self._each(flow, lambda w: w.outputLoadMeta(task))

    def outputLoadAll(
        self,
        task: TaskClass | None = None,
        flow: Any = None,
        keys: Any = None,
        as_dict: bool = False,
        cached: bool = False,
    ) -> Any:
        """``{key: output}`` over the upstream of ``task`` (keys as in
        :meth:`Workflow.outputLoadAll`), for one flow or as ``{flow: {...}}``."""
        return self._each(flow, lambda w: w.outputLoadAll(task, keys, as_dict, cached))

    def compare(self, task: TaskClass | None = None) -> pd.DataFrame:
        """A DataFrame with one row per flow: the task's parameters, its metadata, its state.

        The index is the flow name. Metadata saved as a dict gives one column per key (a key
        that is also a parameter name becomes ``<key>_meta``); anything else, a ``meta``
        column. Sort it to pick the best experiment:

        >>> flows.compare().sort_values("score", ascending=False)

        The ``state`` column says whether each row's metadata is current: ``COMPLETE``, or
        ``STALE: <why>`` / ``PENDING: <why>``. Those rows keep their parameters but show no
        metadata (NaN): it came from other code or data than the flow has now, or is missing.
        With ``settings.rerun_stale = False`` stale rows show theirs, as ``outputLoad`` loads
        stale outputs then. One stale experiment does not hide the others' results; when no flow
        has current metadata there is nothing to compare, and TaskNotCompleteError says why.
        """
        import pandas as pd

        tasks = {name: w.get_task(task) for name, w in self.workflow_objs.items()}
        states = Graph(tasks.values()).states()
        rows = {}
        for name, instance in tasks.items():
            row = dict(instance.get_param_values_dict())
            state_column = "state" if "state" not in row else "task_state"
            status = states[instance]
            meta = load_meta(instance, status) if counts_as_done(status) else {}
            if not isinstance(meta, Mapping):
                meta = {"meta": meta}
            for key, value in meta.items():
                row[f"{key}_meta" if key in row or key == state_column else key] = value
            row[state_column] = status.describe()
            rows[name] = row
        if not any(counts_as_done(states[t]) for t in tasks.values()):
            listed = "; ".join(f"{name!r}: {states[t].describe()}" for name, t in tasks.items())
            raise TaskNotCompleteError(
                f"Cannot compare the flows of {self!r}: no flow's task is complete ({listed}), "
                "run flow first: flows.run()"
            )
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "flow"
        return frame

    # -- sharing -----------------------------------------------------------------------------------

    def push(
        self, task: TaskClass | None = None, flow: Any = None, remote: Any = None, **kwargs: Any
    ) -> Any:
        """Upload ``task``'s outputs (and upstream) of one flow, or of every flow at once."""
        return _push([w.get_task(task) for w in self._flows(flow).values()], remote, **kwargs)

    def pull(
        self, task: TaskClass | None = None, flow: Any = None, remote: Any = None, **kwargs: Any
    ) -> Any:
        """Download ``task``'s outputs (and upstream) of one flow, or of every flow at once."""
        return _pull([w.get_task(task) for w in self._flows(flow).values()], remote, **kwargs)

    # -- invalidation ----------------------------------------------------------------------------

    def reset(self, task: TaskClass | None = None, flow: Any = None, confirm: bool = False) -> Any:
        """Delete ``task``'s outputs in one flow, or in every flow (one confirmation)."""
        if flow is not None:
            return self.get_flow(flow).reset(task, confirm=confirm)
        return invalidate_tasks(
            [w.get_task(task) for w in self.workflow_objs.values()], confirm, "resetting"
        )

    def reset_upstream(
        self, task: TaskClass | None = None, flow: Any = None, confirm: bool = False
    ) -> bool:
        """Delete the outputs of ``task`` and everything upstream of it, in one flow or all."""
        tasks = [t for w in self._flows(flow).values() for t in taskflow_upstream(w.get_task(task))]
        return invalidate_tasks(tasks, confirm, "resetting upstream")

    def reset_downstream(
        self,
        task: TaskClass | None = None,
        flow: Any = None,
        task_downstream: TaskClass | None = None,
        confirm: bool = False,
    ) -> bool:
        """Delete the outputs of ``task`` and of the tasks between it and ``task_downstream``
        (default: the default task), in one flow or all. The arguments are those of
        :meth:`Workflow.reset_downstream`, in its order, with ``flow`` after ``task`` as in every
        method here."""
        if isinstance(task_downstream, bool):
            # reset_downstream(task, flow, confirm): the original's order, before task_downstream
            # was an argument here; a bool is never a task class.
            task_downstream, confirm = None, task_downstream
        tasks = [
            t
            for w in self._flows(flow).values()
            for t in complete_between(w.get_task(task), w.get_task(task_downstream))
        ]
        return invalidate_tasks(tasks, confirm, "resetting downstream")


def _forced_in(flows: Iterable[Workflow], forced: Any) -> list[Task] | None:
    """``forced`` (classes or instances) as the tasks of each of ``flows``."""
    if forced is None:
        return None
    return list(dict.fromkeys(t for w in flows for t in w._get_tasks(forced)))


def _check_task_class(task: Any, where: str) -> None:
    if isinstance(task, type) and issubclass(task, Task):
        return
    if isinstance(task, Task):
        raise UsageError(
            f"{where}: got the instance {task!r}; pass its class {type(task).__name__}, the "
            "Workflow supplies the parameters"
        )
    if isinstance(task, (list, tuple)):
        raise UsageError(
            f"{where}: got a list; a Workflow has one default task class. To run several, "
            "pass them to run(): flow.run([TaskA, TaskB])"
        )
    raise UsageError(f"{where}: {task!r} is not a task class")


def _flow_params(params: Any) -> dict[Any, dict[str, Any]]:
    """``{flow name: params}`` from named sets, a grid (dict of lists) or a list of dicts."""
    if params is None:
        raise ParameterError(
            "Need to pass task parameters or use d6tflow.Workflow: WorkflowMulti(task, "
            "{'flow1': {...}, 'flow2': {...}}) or a grid {'param': [value1, value2]}"
        )
    if isinstance(params, (list, tuple)):
        if not params or not all(isinstance(p, Mapping) for p in params):
            raise ParameterError("WorkflowMulti: a list of params must hold one dict per flow")
        return {i: dict(p) for i, p in enumerate(params)}
    if not isinstance(params, Mapping):
        raise UsageError(
            "Params has to be a dictionary of flows {'name': {param: value}}, a grid "
            f"{{'param': [values]}} or a list of dicts, got {type(params).__name__}"
        )
    if not params:
        raise ParameterError("WorkflowMulti: params is empty; give at least one flow")
    values = list(params.values())
    if all(isinstance(v, Mapping) for v in values):
        return {name: dict(p) for name, p in params.items()}
    if all(isinstance(v, (list, tuple)) for v in values):
        return params_generator_multiple(params)
    raise ParameterError(
        "WorkflowMulti: params mixes parameter sets and lists. Give either named sets "
        "{'flow': {param: value}} or a grid {'param': [values]} (put a fixed value in a "
        "one-element list)"
    )
