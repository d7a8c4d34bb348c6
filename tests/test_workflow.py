"""Workflow: one default task class and one set of parameters for every task of a flow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import d6tflow
from d6tflow import TaskState
from d6tflow.errors import ParameterError, TaskNotCompleteError

calls: list[str] = []


@pytest.fixture(autouse=True)
def quiet_and_clear(monkeypatch):
    monkeypatch.setattr(d6tflow.settings, "execution_summary", False)
    calls.clear()


class WfGetData(d6tflow.tasks.TaskPqPandas):
    def run(self):
        calls.append("WfGetData")
        self.save(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 4.0, 6.0, 8.0]}))


@d6tflow.requires(WfGetData)
class WfPrep(d6tflow.tasks.TaskPqPandas):
    scale = d6tflow.BoolParameter(default=True)

    def run(self):
        calls.append(f"WfPrep-{self.scale}")
        df = self.inputLoad()
        self.save(df / 10 if self.scale else df)


@d6tflow.requires(WfPrep)
class WfTrain(d6tflow.tasks.TaskPickle):
    model = d6tflow.Parameter(default="ols")

    def run(self):
        calls.append(f"WfTrain-{self.model}-{self.scale}")
        df = self.inputLoad()
        self.save({"model": self.model, "rows": len(df)})
        self.metaSave({"score": 0.5 if self.model == "ols" else 0.9})


class WfSplit(d6tflow.tasks.TaskPickle):
    persist = ["train", "test"]

    def run(self):
        self.save({"train": [1, 2, 3], "test": [4]})


class WfCache(d6tflow.tasks.TaskCache):
    def run(self):
        self.save("in memory")


class WfStep(d6tflow.tasks.TaskPickle):
    n = d6tflow.IntParameter(default=1)

    def run(self):
        self.save(self.n * 10)


class WfTotal(d6tflow.tasks.TaskPickle):
    def requires(self):
        return [WfStep(n=1), WfStep(n=2)]

    def run(self):
        self.save(sum(self.inputLoad()))


# -- building tasks ---------------------------------------------------------------------------


def test_get_task_gives_every_class_the_flow_params_it_declares():
    flow = d6tflow.Workflow(WfTrain, params={"model": "gbm", "scale": False})
    assert flow.get_task() == WfTrain(model="gbm", scale=False)
    assert flow.get_task(WfPrep) == WfPrep(scale=False)
    assert flow.get_task(WfGetData) == WfGetData()


def test_a_misspelled_param_no_task_of_the_flow_declares_is_an_error_naming_it():
    flow = d6tflow.Workflow(WfTrain, params={"modle": "gbm", "scale": False})
    with pytest.raises(ParameterError, match=r"'modle' \(did you mean 'model'\?\)"):
        flow.run()
    # an upstream class is asked for: the names are still checked against the whole flow
    with pytest.raises(ParameterError, match="'modle'"):
        flow.outputLoad(WfPrep)
    assert not calls


def test_a_misspelled_name_in_a_workflow_multi_grid_is_an_error_naming_it():
    flows = d6tflow.WorkflowMulti(WfTrain, {"model": ["ols", "gbm"], "sacle": [True, False]})
    with pytest.raises(ParameterError, match=r"'sacle' \(did you mean 'scale'\?\)"):
        flows.run()


def test_without_default_task_methods_raise_runtime_error():
    flow = d6tflow.Workflow(params={"model": "gbm"})
    for call in (flow.get_task, flow.run, flow.outputLoad, flow.preview):
        with pytest.raises(RuntimeError, match="no default tasks set"):
            call()
    flow.set_default(WfTrain)
    assert flow.get_task() == WfTrain(model="gbm")


def test_params_given_first_are_accepted_as_the_original_tests_did():
    flow = d6tflow.Workflow({"model": "gbm"})
    assert flow.default_task is None
    assert flow.get_task(WfTrain).model == "gbm"


def test_instance_or_list_instead_of_a_class_is_explained():
    with pytest.raises(TypeError, match=r"pass its class WfTrain"):
        d6tflow.Workflow(WfTrain())
    with pytest.raises(TypeError, match=r"flow.run\(\[TaskA, TaskB\]\)"):
        d6tflow.Workflow(task=[WfTrain, WfPrep])
    with pytest.raises(TypeError, match="not a task class"):
        d6tflow.Workflow(WfTrain).get_task("WfTrain")


# -- running ------------------------------------------------------------------------------------


def test_run_runs_default_task_and_upstream_with_the_flow_params():
    flow = d6tflow.Workflow(WfTrain, params={"model": "gbm", "scale": False})
    result = flow.run()
    assert result
    assert calls == ["WfGetData", "WfPrep-False", "WfTrain-gbm-False"]
    assert set(result.status.values()) == {TaskState.DONE}
    # The outputs are those of the plain tasks with the same parameters.
    assert WfTrain(model="gbm", scale=False).outputLoad() == {"model": "gbm", "rows": 4}
    assert flow.outputLoad() == {"model": "gbm", "rows": 4}
    assert flow.complete() and flow.complete(WfGetData)
    assert not d6tflow.Workflow(WfTrain).complete()


def test_run_accepts_a_list_of_classes_and_forced_classes():
    flow = d6tflow.Workflow(WfTrain, params={"model": "gbm"})
    assert flow.run([WfPrep, WfGetData])
    assert calls == ["WfGetData", "WfPrep-True"]
    flow.run()
    calls.clear()
    flow.run(forced=WfPrep)
    assert calls == ["WfPrep-True", "WfTrain-gbm-True"]
    calls.clear()
    flow.run(forced_all=True)
    assert calls == ["WfTrain-gbm-True"]
    calls.clear()
    flow.run(forced_all_upstream=True)
    assert calls == ["WfGetData", "WfPrep-True", "WfTrain-gbm-True"]


def test_an_instance_keeps_its_params_and_joins_the_flow_folder(tmp_path):
    flow = d6tflow.Workflow(WfTrain, params={"model": "gbm"}, path=tmp_path / "flow")
    flow.run([WfTrain(model="ols", scale=False)])
    assert calls == ["WfGetData", "WfPrep-False", "WfTrain-ols-False"]
    assert flow.outputLoad(WfTrain(model="ols", scale=False)) == {"model": "ols", "rows": 4}
    assert (tmp_path / "flow" / "WfPrep").is_dir()
    assert not WfTrain(model="ols", scale=False).complete()


def test_run_passes_workers_executor_and_other_options_on(monkeypatch):
    seen = {}

    def fake_run(tasks, **kwargs):
        seen.update(kwargs, tasks=tasks)
        return "result"

    monkeypatch.setattr("d6tflow.workflow._run", fake_run)
    flow = d6tflow.Workflow(WfTrain)
    assert flow.run(workers=4, executor="inline", abort=False) == "result"
    assert seen["workers"] == 4 and seen["executor"] == "inline" and seen["abort"] is False
    assert seen["tasks"] == [WfTrain()]


def test_declined_confirmation_runs_nothing(answer):
    flow = d6tflow.Workflow(WfTrain)
    flow.run()
    calls.clear()
    answer("n")
    result = flow.run(forced_all=True, confirm=True)
    assert not result and result.cancelled
    assert calls == []


def test_preview_prints_the_tree_with_flow_params(capsys):
    flow = d6tflow.Workflow(WfTrain, params={"scale": False})
    flow.preview()
    out = capsys.readouterr().out
    assert out.count("PENDING") == 3
    assert out.count("'scale': 'False'") == 2
    flow.run(WfGetData)
    flow.preview([WfPrep], show_params=False)
    out = capsys.readouterr().out
    assert "[WfPrep- (PENDING" in out and "[WfGetData- (COMPLETE" in out


# -- outputs ----------------------------------------------------------------------------------


def test_outputLoad_forwards_keys_and_as_dict():
    flow = d6tflow.Workflow(WfSplit)
    with pytest.raises(TaskNotCompleteError):
        flow.outputLoad()
    flow.run()
    assert flow.outputLoad() == [[1, 2, 3], [4]]
    assert flow.outputLoad(keys="test") == [4]
    assert flow.outputLoad(as_dict=True) == {"train": [1, 2, 3], "test": [4]}
    assert flow.outputLoad(WfSplit, ["test"], True) == {"test": [4]}


def test_outputLoadMeta_reads_the_metadata():
    flow = d6tflow.Workflow(WfTrain, params={"model": "gbm"})
    flow.run()
    assert flow.outputLoadMeta() == {"score": 0.9}
    with pytest.raises(RuntimeError, match="No metadata"):
        flow.outputLoadMeta(WfPrep)


def test_outputPath_and_output_for_single_multi_and_memory_outputs():
    flow = d6tflow.Workflow(WfTrain, params={"model": "gbm"})
    path = flow.outputPath()
    assert isinstance(path, Path)
    assert path == WfTrain(model="gbm").output().path
    assert path.name.startswith("WfTrain_gbm_True_") and path.suffix == ".pkl"
    split = flow.outputPath(WfSplit)
    assert set(split) == {"train", "test"} and split["test"].name.endswith("-test.pkl")
    # One type for every target: the in-memory output's path is a Path too (the original gave a
    # str here), and d6tflow.data takes it as a key.
    memory = flow.outputPath(WfCache)
    assert isinstance(memory, Path) and memory.name.endswith("-data.cache")
    assert flow.output().path == path


def test_outputLoadAll_keys_every_upstream_output_by_class_name():
    flow = d6tflow.Workflow(WfTrain, params={"model": "gbm"})
    flow.run()
    data = flow.outputLoadAll()
    assert list(data) == ["WfTrain", "WfPrep", "WfGetData"]
    assert data["WfTrain"] == {"model": "gbm", "rows": 4}
    assert data["WfGetData"]["x"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert flow.outputLoadAll(WfPrep).keys() == {"WfPrep", "WfGetData"}


def test_outputLoadAll_keys_tasks_of_one_class_by_task_id_so_none_is_lost():
    flow = d6tflow.Workflow(WfTotal)
    flow.run()
    data = flow.outputLoadAll()
    assert data["WfTotal"] == 30
    assert data[WfStep(n=1).task_id] == 10
    assert data[WfStep(n=2).task_id] == 20
    assert len(data) == 3


# -- invalidation -----------------------------------------------------------------------------


def test_reset_deletes_only_that_task():
    flow = d6tflow.Workflow(WfTrain, params={"model": "gbm"})
    flow.run()
    assert flow.reset(WfPrep)
    assert not WfPrep().output().exists()
    assert WfGetData().complete() and WfTrain(model="gbm").output().exists()
    calls.clear()
    flow.run()
    assert calls[0] == "WfPrep-True" and flow.complete()


def test_reset_upstream_defaults_to_the_default_task():
    flow = d6tflow.Workflow(WfTrain)
    flow.run()
    flow.reset_upstream()  # the original required the task argument here
    assert not any(flow.complete(t) for t in (WfTrain, WfPrep, WfGetData))
    flow.run()
    flow.reset_upstream(WfPrep)
    assert not WfGetData().complete() and WfTrain().output().exists()


def test_reset_downstream_deletes_the_path_down_to_the_default_task_only():
    flow = d6tflow.Workflow(WfTrain)
    flow.run()
    d6tflow.run(WfPrep(scale=False))
    assert flow.reset_downstream(WfPrep)
    assert WfGetData().complete()
    assert not WfPrep().output().exists() and not WfTrain().output().exists()
    assert WfPrep(scale=False).complete()  # another branch: untouched


def test_reset_asks_before_deleting_when_confirm(answer):
    flow = d6tflow.Workflow(WfTrain)
    flow.run()
    answer("n")
    assert not flow.reset(confirm=True)
    assert flow.complete()
    answer("y")
    flow.reset_upstream(confirm=True)
    assert not flow.complete(WfGetData)


# -- path, env and attached flows ---------------------------------------------------------


def test_path_applies_to_the_flow_tasks_and_never_to_plain_tasks(tmp_path):
    flow = d6tflow.Workflow(WfTrain, path=tmp_path / "elsewhere")
    flow.run()
    expected = tmp_path / "elsewhere" / "WfTrain" / f"{WfTrain().task_id}-data.pkl"
    assert flow.outputPath() == expected and expected.exists()
    assert (tmp_path / "elsewhere" / "WfGetData").is_dir()  # upstream tasks follow the flow
    # A plain task built afterwards still uses the data folder: nothing leaked.
    assert WfTrain().path is None
    assert not WfTrain().complete()
    assert not (d6tflow.settings.dirpath / "WfTrain").exists()


def test_env_puts_outputs_in_an_env_folder_of_the_data_folder():
    flow = d6tflow.Workflow(WfTrain, env="prod")
    flow.run()
    folder = d6tflow.settings.dirpath / "env=prod"
    assert flow.outputPath() == folder / "WfTrain" / f"{WfTrain().task_id}-data.pkl"
    assert (folder / "WfGetData").is_dir()
    assert not WfTrain().complete()


def test_env_with_path_nests_the_env_folder_in_the_path(tmp_path):
    flow = d6tflow.Workflow(WfTrain, path=tmp_path / "p", env="dev")
    assert flow.path == f"{tmp_path / 'p'}/env=dev"
    flow.run()
    assert (tmp_path / "p" / "env=dev" / "WfPrep").is_dir()


def test_two_flows_with_different_paths_keep_separate_outputs(tmp_path):
    dev = d6tflow.Workflow(WfTrain, env="dev")
    prod = d6tflow.Workflow(WfTrain, env="prod")
    dev.run()
    assert dev.complete() and not prod.complete()
    calls.clear()
    prod.run()
    assert calls == ["WfGetData", "WfPrep-True", "WfTrain-ols-True"]
    assert dev.outputPath() != prod.outputPath()


def test_the_flow_path_and_env_apply_to_a_task_with_a_class_level_path(tmp_path):
    class WfPinned(d6tflow.tasks.TaskPickle):
        path = str(tmp_path / "pinned")

        def run(self):
            self.save(1)

    flow = d6tflow.Workflow(WfPinned, path=tmp_path / "flow")
    flow.run()
    assert str(flow.outputPath()).startswith(str(tmp_path / "flow"))
    dev, prod = (d6tflow.Workflow(WfPinned, env=env) for env in ("dev", "prod"))
    assert str(dev.outputPath()).startswith(str(tmp_path / "pinned" / "env=dev"))
    assert dev.outputPath() != prod.outputPath()
    assert str(WfPinned().output().path).startswith(str(tmp_path / "pinned" / "WfPinned"))


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ("x/../../../escaped", "contains a path separator"),
        ("..", "is empty, '.' or '..'"),
        ("/tmp/abs", "contains a path separator"),
        ("a\\b", "contains a path separator"),
        ("a\0b", "contains a NUL character"),
        ("", "is empty"),
    ],
)
def test_env_must_be_one_folder_name_inside_the_data_folder(tmp_path, env, problem):
    with pytest.raises(ValueError) as refused:
        d6tflow.Workflow(WfTrain, env=env)
    message = str(refused.value)
    assert message.startswith(f"Workflow(WfTrain): env {env!r} {problem}")
    assert "a single folder name such as 'prod'" in message
    assert isinstance(refused.value, d6tflow.errors.FolderNameError)
    flow = d6tflow.Workflow(WfTrain)
    with pytest.raises(ValueError, match="env"):
        flow.env = env  # set later, it is checked too
    flow.run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing written beside it


def test_attached_flow_is_readable_from_a_task_run():
    class WfUseOther(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(self.flows["data"].outputLoad()["rows"] + 1)

    upstream = d6tflow.Workflow(WfTrain, params={"model": "gbm"})
    upstream.run()
    flow = d6tflow.Workflow(WfUseOther)
    flow.attach_flow(upstream, "data")
    flow.run()
    assert flow.outputLoad() == 5
    assert WfUseOther().flows is None  # plain tasks do not see the flow's attachments


def test_attach_flow_default_name_is_flow():
    flow = d6tflow.Workflow(WfTrain)
    other = d6tflow.Workflow(WfPrep)
    flow.attach_flow(other)
    assert flow.get_task().flows == {"flow": other}
    assert flow.get_task(WfGetData).flows == {"flow": other}
