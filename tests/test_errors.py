"""Every error d6tflow raises on purpose is a d6tflow.errors class that is still the built-in
exception raised before, so ``except ValueError`` (or TypeError, KeyError…) in user code keeps
catching it; a source scan keeps bare built-in raises from coming back."""

from __future__ import annotations

import ast
import builtins
import sys
from pathlib import Path

import pytest

import d6tflow
from d6tflow import errors
from d6tflow.errors import (
    ConfigurationError,
    D6tflowError,
    InvalidArgumentError,
    MetadataMissingError,
    MissingArgumentError,
    MissingDependencyError,
    MissingFileError,
    NoOutputFormatError,
    ParameterError,
    PersistMismatchError,
    TaskDefinitionError,
    UnknownExecutorError,
    UnknownNameError,
    UnknownTaskClassError,
    UsageError,
)

SRC = Path(d6tflow.__file__).parent

# The built-in(s) each public error must stay: what d6tflow (or the original) raised there.
BUILTIN_BASES: dict[str, tuple[type[BaseException], ...]] = {
    "D6tflowError": (Exception,),
    "UsageError": (TypeError,),
    "MissingArgumentError": (TypeError, IndexError),
    "InvalidArgumentError": (ValueError,),
    "UnknownNameError": (KeyError,),
    "UnknownExecutorError": (ValueError,),
    "UnknownTaskClassError": (ValueError,),
    "ConfigurationError": (RuntimeError,),
    "MissingFileError": (FileNotFoundError,),
    "MetadataMissingError": (FileNotFoundError,),
    "MissingDependencyError": (ImportError,),
    "MissingExtraError": (ImportError,),
    "ParameterError": (ValueError,),
    "MissingParameterError": (ValueError,),
    "TaskDefinitionError": (TypeError,),
    "TaskFamilyClashError": (TypeError,),
    "NoOutputFormatError": (TypeError,),
    "FolderNameError": (ValueError,),
    "CycleError": (RuntimeError,),
    "TaskNotCompleteError": (RuntimeError,),
    "OutputError": (RuntimeError,),
    "OutputsNotSavedError": (RuntimeError,),
    "UntrustedPickleError": (RuntimeError,),
    "TransferError": (RuntimeError,),
    "RemoteStorageError": (OSError,),
    "OutputKeyError": (IndexError, KeyError),
    "PersistMismatchError": (ValueError,),
    "FlowFailedError": (RuntimeError,),
    "RemoteTaskError": (RuntimeError,),
    "WorkerDiedError": (RuntimeError,),
    "NotShippableError": (TypeError,),
    "DataFolderNotSharedError": (ValueError,),
    "AcceptRefusedError": (ValueError,),
}


def _error_classes() -> dict[str, type]:
    return {
        name: obj
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, BaseException)
    }


def test_every_error_class_is_exported_and_has_its_builtin_base():
    defined = _error_classes()
    assert set(defined) == set(BUILTIN_BASES), "add the new class to BUILTIN_BASES (and the docs)"
    assert set(defined) <= set(errors.__all__)
    for name, cls in defined.items():
        assert issubclass(cls, D6tflowError), name
        for builtin in BUILTIN_BASES[name]:
            assert issubclass(cls, builtin), f"{name} must stay a {builtin.__name__}"


def test_errors_that_moved_keep_their_old_import_paths():
    from d6tflow.executors.dask import DataFolderNotSharedError
    from d6tflow.executors.shipping import NotShippableError, RemoteTaskError, WorkerDiedError
    from d6tflow.loading import OutputKeyError

    assert DataFolderNotSharedError is errors.DataFolderNotSharedError
    assert NotShippableError is errors.NotShippableError
    assert RemoteTaskError is errors.RemoteTaskError
    assert WorkerDiedError is errors.WorkerDiedError
    assert OutputKeyError is errors.OutputKeyError


def test_lookup_errors_print_their_message_without_quotes():
    with pytest.raises(KeyError) as caught:
        d6tflow.formats.get_format("no-such-format")
    assert str(caught.value).startswith("No format named 'no-such-format'")


# -- each class, raised by the mistake it describes ------------------------------------------------


class TaskA(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(1)


class TaskOther(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(2)


def test_passing_a_task_class_to_run_raises_usage_error():
    for caught in (UsageError, TypeError):
        with pytest.raises(caught, match=r"pass an instance: TaskA\(\)"):
            d6tflow.run(TaskA)


def test_unknown_keyword_to_run_raises_usage_error():
    with pytest.raises(UsageError, match="force"):
        d6tflow.run(TaskA(), force=True)


def test_requires_with_no_task_raises_missing_argument_error():
    for caught in (MissingArgumentError, IndexError, TypeError):
        with pytest.raises(caught, match="needs at least one task class"):
            d6tflow.requires()


def test_invalidate_orphans_without_tasks_raises_missing_argument_error():
    with pytest.raises(MissingArgumentError, match="invalidate_all"):
        d6tflow.invalidate_orphans(confirm=False)


def test_forcing_a_task_outside_the_flow_raises_invalid_argument_error():
    for caught in (InvalidArgumentError, ValueError):
        with pytest.raises(caught, match="not part of the flow"):
            d6tflow.run(TaskA(), forced=TaskOther(), execution_summary=False)
    assert not TaskA().complete()  # refused before anything ran


def test_fork_start_method_raises_invalid_argument_error():
    with pytest.raises(InvalidArgumentError, match="fork"):
        d6tflow.run(TaskA(), executor="process", start_method="fork")


def test_unknown_executor_raises_unknown_executor_error():
    for caught in (UnknownExecutorError, UnknownNameError, ValueError):
        with pytest.raises(caught, match="Unknown executor 'nope'"):
            d6tflow.run(TaskA(), executor="nope")


def test_unknown_format_raises_unknown_name_error():
    class TaskOdd(d6tflow.tasks.TaskData):
        format = "no-such-format"

    for caught in (UnknownNameError, KeyError):
        with pytest.raises(caught, match="Known formats"):
            TaskOdd().output()


def test_unknown_flow_raises_unknown_name_error():
    flows = d6tflow.WorkflowMulti(TaskA, {"a": {}, "b": {}})
    for caught in (UnknownNameError, KeyError):
        with pytest.raises(caught, match="No flow named 'c'"):
            flows.get_flow("c")


def test_unknown_function_of_a_functional_flow_raises_unknown_name_error():
    from d6tflow.functional import Workflow as FunctionalWorkflow

    flow = FunctionalWorkflow()
    for caught in (UnknownNameError, KeyError):
        with pytest.raises(caught, match="No function named 'nope'"):
            flow.run("nope")


def test_unknown_task_class_name_raises_unknown_task_class_error():
    for caught in (UnknownTaskClassError, ValueError):
        with pytest.raises(caught, match="No task class named 'NoSuchTask'"):
            d6tflow.TaskParameter().parse("NoSuchTask")


def test_workflow_without_default_task_raises_configuration_error():
    for caught in (ConfigurationError, RuntimeError):
        with pytest.raises(caught, match="no default tasks set"):
            d6tflow.Workflow().run()


def test_set_dir_under_d6tpipe_raises_configuration_error(monkeypatch):
    monkeypatch.setattr(d6tflow.settings, "isinitpipe", True)
    for caught in (ConfigurationError, RuntimeError):
        with pytest.raises(caught, match="d6tpipe"):
            d6tflow.set_dir("elsewhere")


def test_flow_import_of_a_missing_file_raises_missing_file_error(tmp_path):
    for caught in (MissingFileError, FileNotFoundError):
        with pytest.raises(caught, match="FlowExport"):
            d6tflow.FlowImport(str(tmp_path), "no_such_module")


class TaskNoMeta(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(1)


@d6tflow.requires(TaskNoMeta)
class TaskReadsMeta(d6tflow.tasks.TaskPickle):
    def run(self):
        self.metaLoad()
        self.save(2)


def test_upstream_without_metadata_raises_metadata_missing_error():
    d6tflow.run(TaskNoMeta(), execution_summary=False)
    for caught in (MetadataMissingError, MissingFileError, FileNotFoundError):
        with pytest.raises(caught, match=r"call self\.metaSave"):
            TaskReadsMeta().metaLoad()


def test_dask_executor_without_distributed_raises_missing_dependency_error(monkeypatch):
    pytest.importorskip("dask")
    from d6tflow.executors.dask import DaskExecutor

    # Uninstalling a package is not possible here; a None entry in sys.modules is how Python
    # itself makes an import fail, so the import inside DaskExecutor fails for real.
    monkeypatch.setitem(sys.modules, "distributed", None)
    for caught in (MissingDependencyError, ImportError):
        with pytest.raises(caught, match=r"d6tflow\[dask\]"):
            DaskExecutor()


def test_task_without_format_raises_no_output_format_error():
    class TaskBare(d6tflow.tasks.TaskData):
        pass

    for caught in (NoOutputFormatError, TaskDefinitionError, TypeError):
        with pytest.raises(caught, match="TaskBare has no output format"):
            TaskBare().output()


def test_target_without_format_raises_no_output_format_error(tmp_path):
    with pytest.raises(NoOutputFormatError, match="DataTarget has no format"):
        d6tflow.targets.DataTarget(tmp_path / "x").save(1)


def test_saving_keys_that_do_not_match_persist_raises_persist_mismatch_error():
    class TaskTwo(d6tflow.tasks.TaskPickle):
        persist = ["a", "b"]

        def run(self):
            self.save({"a": 1})

    for caught in (PersistMismatchError, ValueError):
        with pytest.raises(caught, match="exactly the keys of persist"):
            TaskTwo().run()


def test_applying_flow_task_twice_raises_task_definition_error():
    from d6tflow.functional import Workflow as FunctionalWorkflow

    flow = FunctionalWorkflow()
    with pytest.raises(TaskDefinitionError, match="applied twice"):

        @flow.task(d6tflow.tasks.TaskPickle)
        @flow.task(d6tflow.tasks.TaskPickle)
        def step(task):
            task.save(1)


def test_unreadable_parameter_values_raise_parameter_error():
    for parse in (
        lambda: d6tflow.BoolParameter().parse("maybe"),
        lambda: d6tflow.DateIntervalParameter().parse("not a date"),
        lambda: d6tflow.TimeDeltaParameter().parse("soon"),
    ):
        with pytest.raises(ParameterError):
            parse()


def test_empty_workflow_multi_params_raise_parameter_error():
    for caught in (ParameterError, ValueError):
        with pytest.raises(caught, match="params is empty"):
            d6tflow.WorkflowMulti(TaskA, {})


# -- no bare built-in raise creeps back -----------------------------------------------------------

# (module, function, exception): raises that are a Python protocol or never reach the user.
ALLOWED_BUILTIN_RAISES = {
    # json.dumps(default=...) must raise TypeError for a value it cannot serialize.
    ("params.py", "_thaw", "TypeError"),
    ("provenance.py", "_json_scalar", "TypeError"),
    # Caught two lines below and raised as OutputError.
    ("manifests.py", "_write_whole", "OSError"),
    # Abstract methods: a subclass that forgets one is a programming error.
    ("targets.py", "exists", "NotImplementedError"),
    ("targets.py", "load", "NotImplementedError"),
    ("targets.py", "save", "NotImplementedError"),
    ("targets.py", "invalidate", "NotImplementedError"),
    ("formats/base.py", "save", "NotImplementedError"),
    ("formats/base.py", "load", "NotImplementedError"),
    # __getattr__/__delattr__ must raise AttributeError for hasattr() and getattr(x, n, default).
    ("__init__.py", "__getattr__", "AttributeError"),
    ("share.py", "__getattr__", "AttributeError"),
    ("share.py", "__delattr__", "AttributeError"),
}

_BUILTIN_EXCEPTIONS = {
    name
    for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, BaseException)
}


def _raised_name(node: ast.Raise) -> str | None:
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return exc.id if isinstance(exc, ast.Name) else None


def _builtin_raises() -> set[tuple[str, str, str]]:
    found = set()
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Raise) and node.exc is not None:
                    name = _raised_name(node)
                    if name in _BUILTIN_EXCEPTIONS:
                        where = path.relative_to(SRC).as_posix()
                        found.add((where, func.name, name))
    return found


def test_no_bare_builtin_raise_outside_the_allow_list():
    unexpected = _builtin_raises() - ALLOWED_BUILTIN_RAISES
    assert not unexpected, (
        f"raise a d6tflow.errors class (subclassing the builtin) instead of: {sorted(unexpected)}"
    )


def test_error_classes_are_defined_only_in_errors_py():
    stray = []
    for path in SRC.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                if bases & (_BUILTIN_EXCEPTIONS | {"D6tflowError"}):
                    stray.append(f"{path.relative_to(SRC)}: {node.name}")
    assert not stray, f"public error classes belong in d6tflow/errors.py: {stray}"
