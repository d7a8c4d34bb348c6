"""WorkflowMulti: several flows of the same tasks, one per parameter set, and parameter grids."""

from __future__ import annotations

import pathlib
import re

import pandas as pd
import pytest

import d6tflow
from d6tflow import TaskState
from d6tflow.utils import params_generator_multiple, params_generator_single
from d6tflow.workflow import MultiRunResult

calls: list[str] = []


@pytest.fixture(autouse=True)
def quiet_and_clear(monkeypatch):
    monkeypatch.setattr(d6tflow.settings, "execution_summary", False)
    calls.clear()


class MGetData(d6tflow.tasks.TaskPqPandas):
    def run(self):
        calls.append("MGetData")
        self.save(pd.DataFrame({"x": [1.0, 2.0, 3.0]}))


@d6tflow.requires(MGetData)
class MPrep(d6tflow.tasks.TaskPqPandas):
    scale = d6tflow.BoolParameter(default=True)

    def run(self):
        calls.append(f"MPrep-{self.scale}")
        df = self.inputLoad()
        self.save(df / 10 if self.scale else df)


@d6tflow.requires(MPrep)
class MTrain(d6tflow.tasks.TaskPickle):
    model = d6tflow.Parameter(default="ols")

    def run(self):
        calls.append(f"MTrain-{self.model}-{self.scale}")
        if self.model == "broken":
            raise ValueError("no such model")
        self.save(f"{self.model}/{self.scale}")
        self.metaSave({"score": {"ols": 0.5, "gbm": 0.9}[self.model] + (0.01 if self.scale else 0)})


EXPERIMENTS = {"ols": {"model": "ols"}, "gbm": {"model": "gbm"}}


# -- parameter sets and grids -----------------------------------------------------------------


def test_named_parameter_sets_make_one_flow_each():
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    assert flows.flow_names == ["ols", "gbm"]
    assert flows.get_flow("gbm").params == {"model": "gbm"}
    assert flows.get_task() == {"ols": MTrain(model="ols"), "gbm": MTrain(model="gbm")}
    assert flows.get_task(MPrep, flow="gbm") == MPrep()


def test_a_dict_of_lists_is_a_full_grid_named_as_the_original_named_it():
    flows = d6tflow.WorkflowMulti(MTrain, {"scale": [True, False], "model": ["ols", "gbm"]})
    assert flows.flow_names == [
        "model_ols_scale_True",
        "model_ols_scale_False",
        "model_gbm_scale_True",
        "model_gbm_scale_False",
    ]
    assert flows.get_flow("model_gbm_scale_False").params == {"model": "gbm", "scale": False}


def test_a_list_of_dicts_makes_flows_numbered_from_zero():
    flows = d6tflow.WorkflowMulti(MTrain, [{"model": "ols"}, {"model": "gbm"}])
    assert flows.flow_names == [0, 1]
    assert flows.get_task(flow=1) == MTrain(model="gbm")


def test_params_given_first_are_accepted():
    flows = d6tflow.WorkflowMulti(EXPERIMENTS)
    flows.set_default(MTrain)
    assert flows.get_task(flow="gbm") == MTrain(model="gbm")


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        (None, ValueError, "Need to pass task parameters"),
        ({}, ValueError, "params is empty"),
        ([], ValueError, "one dict per flow"),
        ({"a": {"model": "ols"}, "model": ["gbm"]}, ValueError, "mixes parameter sets"),
        ("ols", TypeError, "Params has to be a dictionary"),
    ],
)
def test_bad_params_are_explained(params, error, message):
    with pytest.raises(error, match=message):
        d6tflow.WorkflowMulti(MTrain, params)


def test_params_generator_single_numbers_the_values_and_adds_the_base():
    assert params_generator_single({"model": ["ols", "gbm"]}) == {
        0: {"model": "ols"},
        1: {"model": "gbm"},
    }
    assert params_generator_single({"model": ["ols"]}, params_base={"scale": False}) == {
        0: {"scale": False, "model": "ols"}
    }


def test_params_generator_multiple_is_the_grid_with_sorted_keys():
    grid = params_generator_multiple({"b": [1, 2], "a": ["x"], "c": [0.5]})
    assert grid == {
        "a_x_b_1_c_0.5": {"a": "x", "b": 1, "c": 0.5},
        "a_x_b_2_c_0.5": {"a": "x", "b": 2, "c": 0.5},
    }
    assert params_generator_multiple({"a": [1]}) == {"a_1": {"a": 1}}
    assert d6tflow.utils.params_generator_multiple({"a": [1]}, {"z": 0}) == {
        "a_1": {"z": 0, "a": 1}
    }


# -- running ------------------------------------------------------------------------------------


def test_run_all_flows_runs_shared_upstream_tasks_once():
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    result = flows.run()
    assert isinstance(result, MultiRunResult) and result
    assert sorted(calls) == ["MGetData", "MPrep-True", "MTrain-gbm-True", "MTrain-ols-True"]
    assert result["gbm"].status == {
        MGetData(): TaskState.DONE,
        MPrep(): TaskState.DONE,
        MTrain(model="gbm"): TaskState.DONE,
    }
    calls.clear()
    again = flows.run()
    assert calls == [] and set(again["ols"].status.values()) == {TaskState.COMPLETE}


def test_each_flows_result_says_why_its_tasks_ran():
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    result = flows.run()
    assert set(result["gbm"].reasons) == {MGetData(), MPrep(), MTrain(model="gbm")}
    assert all(result["gbm"].reasons.values())  # e.g. ("output missing",)
    assert MTrain(model="ols") not in result["gbm"].reasons


def test_run_one_flow_returns_its_result_only():
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    result = flows.run(flow="gbm")
    assert result and MTrain(model="gbm") in result.status
    assert flows.complete() == {"ols": False, "gbm": True}
    calls.clear()
    flows.run()
    assert calls == ["MTrain-ols-True"]


def test_a_failing_flow_is_falsy_while_the_others_succeed():
    flows = d6tflow.WorkflowMulti(MTrain, {"good": {"model": "gbm"}, "bad": {"model": "broken"}})
    result = flows.run(abort=False)
    assert not result
    assert result["good"] and not result["bad"]
    assert [f.task for f in result["bad"].failures] == [MTrain(model="broken")]
    assert flows.get_flow("good").complete()


def test_run_passes_workers_and_forced_on_in_one_call(monkeypatch):
    seen = []

    def fake_run(tasks, **kwargs):
        seen.append((tasks, kwargs))
        return d6tflow.RunResult()

    monkeypatch.setattr("d6tflow.workflow._run", fake_run)
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    flows.run(workers=3, forced=MPrep, executor="inline")
    ((tasks, kwargs),) = seen
    assert tasks == [MTrain(model="ols"), MTrain(model="gbm")]
    assert kwargs["workers"] == 3 and kwargs["executor"] == "inline"
    assert kwargs["forced"] == [MPrep()]


def test_forced_all_reruns_each_flow_task_but_not_upstream():
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    flows.run()
    calls.clear()
    flows.run(forced_all=True)
    assert sorted(calls) == ["MTrain-gbm-True", "MTrain-ols-True"]


def test_path_and_env_apply_to_every_flow(tmp_path):
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS, path=tmp_path / "exp", env="test")
    flows.run()
    assert (tmp_path / "exp" / "env=test" / "MTrain").is_dir()
    assert not MTrain().complete()


def test_preview_prints_shared_tasks_once_then_each_flows_own_tasks(capsys):
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    assert flows.preview() is None
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[1:-1] == [
        "Shared by all 2 flows:",
        "└─--[MPrep-{'scale': 'True'} (PENDING)] parameters new",
        "   └─--[MGetData-{} (PENDING)] parameters new",
        "Flow 'ols':",
        "└─--[MTrain-{'scale': 'True', 'model': 'ols'} (PENDING)] parameters new",
        "   └─--[MPrep-{'scale': 'True'} (shared, shown above)]",
        "Flow 'gbm':",
        "└─--[MTrain-{'scale': 'True', 'model': 'gbm'} (PENDING)] parameters new",
        "   └─--[MPrep-{'scale': 'True'} (shared, shown above)]",
    ]
    flows.preview(flow="gbm", show_params=False)
    out = capsys.readouterr().out
    assert "Flow" not in out and "[MTrain- (PENDING" in out


def test_preview_of_a_six_flow_grid_shows_the_task_all_share_once(capsys):
    grid = d6tflow.WorkflowMulti(MTrain, {"model": ["ols", "gbm", "rf"], "scale": [True, False]})
    d6tflow.run(MGetData())
    grid.preview()
    out = capsys.readouterr().out
    # MGetData is in every flow: its state once, in the shared part; MPrep(scale=...) is in
    # three flows each, so it is each flow's own.
    assert out.count("[MGetData-{} (COMPLETE)]") == 1
    assert out.index("Shared by all 6 flows:") < out.index("[MGetData-{} (COMPLETE)]")
    assert out.count("[MGetData-{} (shared, shown above)]") == 6
    assert out.count("Flow '") == 6
    assert out.count("[MTrain-") == 6 and out.count("[MPrep-") == 6
    assert out.count("Execution Preview") == 2


def test_preview_of_flows_sharing_nothing_has_no_shared_part(capsys):
    class Alone(d6tflow.tasks.TaskPickle):
        n = d6tflow.IntParameter()

    d6tflow.WorkflowMulti(Alone, {"n": [1, 2]}).preview()
    out = capsys.readouterr().out
    assert "Shared" not in out
    assert "Flow 'n_1':\n└─--[Alone-{'n': '1'} (PENDING)] parameters new" in out


# -- outputs ----------------------------------------------------------------------------------


def test_outputs_per_flow_or_for_all_flows():
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    flows.run()
    assert flows.outputLoad() == {"ols": "ols/True", "gbm": "gbm/True"}
    assert flows.outputLoad(flow="gbm") == "gbm/True"
    assert flows.outputLoad(MPrep, flow="gbm")["x"].tolist() == [0.1, 0.2, 0.3]
    assert flows.outputLoadMeta() == {"ols": {"score": 0.51}, "gbm": {"score": 0.91}}
    assert flows.outputLoadMeta(flow="ols") == {"score": 0.51}
    paths = flows.outputPath()
    assert paths["gbm"] == MTrain(model="gbm").output().path
    assert flows.outputPath(flow="ols") == paths["ols"]
    assert flows.output(flow="ols").path == paths["ols"]
    everything = flows.outputLoadAll()
    assert list(everything["gbm"]) == ["MTrain", "MPrep", "MGetData"]
    assert flows.outputLoadAll(flow="gbm")["MTrain"] == "gbm/True"


def test_compare_makes_a_table_of_parameters_and_metadata_ready_to_sort():
    flows = d6tflow.WorkflowMulti(MTrain, {"model": ["ols", "gbm"], "scale": [True, False]})
    flows.run()
    table = flows.compare().sort_values("score", ascending=False)
    assert table.index.name == "flow"
    assert list(table.columns) == ["scale", "model", "score", "state"]
    assert set(table["state"]) == {"COMPLETE"}
    assert table.index[0] == "model_gbm_scale_True"
    assert table.loc["model_ols_scale_False", "score"] == 0.5
    assert not table.loc["model_ols_scale_False", "scale"]


def test_compare_handles_plain_metadata_and_name_clashes():
    class MMeta(d6tflow.tasks.TaskPickle):
        n = d6tflow.IntParameter(default=0)

        def run(self):
            self.save(self.n)
            self.metaSave(self.n * 2 if self.n else {"n": "clash", "ok": True})

    flows = d6tflow.WorkflowMulti(MMeta, {"n": [0, 3]})
    flows.run()
    table = flows.compare()
    assert table.loc["n_3", "meta"] == 6
    assert table.loc["n_0", "n_meta"] == "clash" and table.loc["n_0", "n"] == 0


def test_compare_before_running_says_what_to_do():
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    with pytest.raises(RuntimeError, match="run flow first"):
        flows.compare()


class MScored(d6tflow.tasks.TaskPickle):
    model = d6tflow.Parameter(default="ols")

    def input_files(self):
        return [f"{self.model}.txt"]

    def run(self):
        value = float(pathlib.Path(f"{self.model}.txt").read_text())
        self.save(value)
        self.metaSave({"score": value})


def test_compare_marks_a_stale_flow_and_shows_no_stale_metadata():
    for model in ("ols", "gbm"):
        pathlib.Path(f"{model}.txt").write_text("0.5")
    flows = d6tflow.WorkflowMulti(MScored, {"model": ["ols", "gbm"]})
    flows.run()
    pathlib.Path("gbm.txt").write_text("0.9")  # gbm's score now describes other data
    table = flows.compare()
    assert table.loc["model_ols", "state"] == "COMPLETE"
    assert table.loc["model_ols", "score"] == 0.5
    assert table.loc["model_gbm", "state"] == "STALE: input file gbm.txt changed"
    assert pd.isna(table.loc["model_gbm", "score"])
    assert table.loc["model_gbm", "model"] == "gbm"  # the row stays, with its parameters


def test_compare_shows_stale_metadata_marked_when_rerun_stale_is_off():
    pathlib.Path("ols.txt").write_text("0.5")
    flows = d6tflow.WorkflowMulti(MScored, {"model": ["ols"]})
    flows.run()
    pathlib.Path("ols.txt").write_text("0.9")
    d6tflow.settings.rerun_stale = False
    table = flows.compare()
    assert table.loc["model_ols", "score"] == 0.5
    assert table.loc["model_ols", "state"].startswith("STALE")


def test_compare_with_no_current_flow_says_each_state():
    pathlib.Path("ols.txt").write_text("0.5")
    flows = d6tflow.WorkflowMulti(MScored, {"model": ["ols"]})
    flows.run()
    pathlib.Path("ols.txt").write_text("0.9")
    with pytest.raises(
        RuntimeError, match=re.escape("'model_ols': STALE: input file ols.txt changed")
    ):
        flows.compare()


def test_env_of_every_flow_must_stay_inside_the_data_folder():
    with pytest.raises(ValueError, match=r"Workflow\(MTrain\): env '\.\./x'"):
        d6tflow.WorkflowMulti(MTrain, EXPERIMENTS, env="../x")


# -- invalidation -----------------------------------------------------------------------------


def test_reset_one_flow_or_all_flows():
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    flows.run()
    assert flows.reset(flow="ols")
    assert flows.complete() == {"ols": False, "gbm": True}
    flows.run()
    assert flows.reset() is True
    assert flows.complete() == {"ols": False, "gbm": False}
    assert MPrep().complete()


def test_reset_upstream_with_flow_resets_that_flow_and_its_upstream():
    flows = d6tflow.WorkflowMulti(MTrain, {"a": {"scale": True}, "b": {"scale": False}})
    flows.run()
    flows.reset_upstream(flow="a")  # the original reset only MTrain here
    assert not MPrep(scale=True).output().exists()
    assert not MGetData().output().exists()
    assert MTrain(scale=False).output().exists() and MPrep(scale=False).output().exists()
    flows.run()
    flows.reset_upstream()
    assert not any(flows.complete().values())


def test_reset_downstream_with_flow_resets_from_task_down_to_the_default_task():
    flows = d6tflow.WorkflowMulti(MTrain, {"a": {"scale": True}, "b": {"scale": False}})
    flows.run()
    flows.reset_downstream(MPrep, flow="b")  # the original reset only MPrep here
    assert not MPrep(scale=False).output().exists()
    assert not MTrain(scale=False).output().exists()
    assert MGetData().complete() and flows.get_flow("a").complete()
    flows.run()
    flows.reset_downstream(MPrep)
    assert flows.complete() == {"a": False, "b": False}
    assert MGetData().complete()


def test_reset_downstream_takes_workflows_arguments_in_its_order_after_flow(answer):
    # Workflow: (task, task_downstream, confirm); WorkflowMulti: the same with flow after task.
    flows = d6tflow.WorkflowMulti(MTrain, {"a": {"scale": True}, "b": {"scale": False}})
    flows.run()
    assert flows.reset_downstream(MGetData, "b", MPrep)
    assert not MPrep(scale=False).output().exists() and not MGetData().output().exists()
    assert MTrain(scale=False).output().exists()  # below task_downstream: kept
    flows.run()
    prompts = answer("n")
    assert flows.reset_downstream(MPrep, "a", MTrain, True) is False
    assert len(prompts) == 1 and flows.complete() == {"a": True, "b": True}


def test_reset_downstream_still_takes_the_originals_task_flow_confirm(answer):
    flows = d6tflow.WorkflowMulti(MTrain, {"a": {"scale": True}, "b": {"scale": False}})
    flows.run()
    prompts = answer("n")
    assert flows.reset_downstream(MPrep, "a", True) is False
    assert len(prompts) == 1 and flows.complete() == {"a": True, "b": True}
    assert flows.reset_downstream(MPrep, "a", False) is True
    assert flows.complete() == {"a": False, "b": True}


def test_reset_all_flows_asks_once(answer):
    flows = d6tflow.WorkflowMulti(MTrain, EXPERIMENTS)
    flows.run()
    prompts = answer("n")
    assert flows.reset_upstream(confirm=True) is False
    assert len(prompts) == 1 and all(flows.complete().values())
