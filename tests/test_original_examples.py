"""The original d6tflow documentation's small examples, rewritten: a three-task flow on files and in
memory, an ML flow with a switch parameter, and how forced/forced_all/forced_all_upstream rerun."""

from __future__ import annotations

import pandas as pd
import pytest

import d6tflow

calls: list[str] = []


@pytest.fixture(autouse=True)
def clear_calls():
    calls.clear()


def preview_lines(task, capsys):
    capsys.readouterr()
    d6tflow.preview(task)
    return [line for line in capsys.readouterr().out.splitlines() if "--[" in line]


# -- the minimal example: three tasks on parquet files ---------------------------------------------


class Task1(d6tflow.tasks.TaskPqPandas):
    def run(self):
        calls.append("Task1")
        self.save(pd.DataFrame({"a": [0, 1, 2]}))


@d6tflow.requires(Task1)
class Task2(d6tflow.tasks.TaskPqPandas):
    persist = ["twice", "four_times"]

    def run(self):
        calls.append("Task2")
        df = self.inputLoad()
        self.save({"twice": df * 2, "four_times": df * 4})


@d6tflow.requires({"input1": Task1, "input2": Task2})
class Task3(d6tflow.tasks.TaskPqPandas):
    multiplier = d6tflow.IntParameter(default=2)

    def run(self):
        calls.append(f"Task3-{self.multiplier}")
        base = self.input()["input1"].load()
        twice, _ = self.inputLoad(task="input2")
        out = pd.concat([base.add_suffix("1"), twice.add_suffix("2")], axis=1)
        out["b"] = out["a1"] * self.multiplier
        self.save(out)


def test_minimal_example_runs_and_loads(fresh_data_dir):
    result = d6tflow.run(Task3(), execution_summary=False)
    assert result
    assert calls == ["Task1", "Task2", "Task3-2"]
    expected = pd.DataFrame({"a1": [0, 1, 2], "a2": [0, 2, 4], "b": [0, 2, 4]})
    pd.testing.assert_frame_equal(Task3().outputLoad(), expected)
    _, four = Task2().outputLoad()
    assert list(four["a"]) == [0, 4, 8]
    assert (fresh_data_dir / "Task2" / "Task2__99914b932b-four_times.parquet").exists()


def test_minimal_example_preview_of_new_multiplier(capsys):
    d6tflow.run(Task3(), execution_summary=False)
    lines = preview_lines(Task3(multiplier=3), capsys)
    assert lines == [
        "└─--[Task3-{'multiplier': '3'} (PENDING)] parameters new",
        "   |--[Task1-{} (COMPLETE)]",
        "   └─--[Task2-{} (COMPLETE)]",
        "      └─--[Task1-{} (COMPLETE)]",
    ]


def test_minimal_example_new_multiplier_reruns_only_task3():
    d6tflow.run(Task3(), execution_summary=False)
    calls.clear()
    d6tflow.run(Task3(multiplier=3), execution_summary=False)
    assert calls == ["Task3-3"]
    assert list(Task3(multiplier=3).outputLoad()["b"]) == [0, 3, 6]
    assert list(Task3().outputLoad()["b"]) == [0, 2, 4]


def test_minimal_example_summary_lists_what_ran(capsys):
    d6tflow.run(Task3())
    out = capsys.readouterr().out
    assert "Scheduled 3 tasks of which:" in out
    assert "* 3 ran successfully:" in out
    assert "Task3(multiplier=2)" in out


# -- the same flow kept in memory ------------------------------------------------------------------


class CacheTask1(d6tflow.tasks.TaskCachePandas):
    def run(self):
        self.save(pd.DataFrame({"a": [0, 1, 2]}))


@d6tflow.requires(CacheTask1)
class CacheTask2(d6tflow.tasks.TaskCachePandas):
    persist = ["twice", "four_times"]

    def run(self):
        df = self.inputLoad()
        self.save({"twice": df * 2, "four_times": df * 4})


@d6tflow.requires({"input1": CacheTask1, "input2": CacheTask2})
class CacheTask3(d6tflow.tasks.TaskCachePandas):
    multiplier = d6tflow.IntParameter(default=2)

    def run(self):
        base = self.inputLoad(task="input1")
        four = self.inputLoad(task="input2", keys="four_times")
        self.save(base * self.multiplier + four)


def test_in_memory_example_loads_inputs_by_name(fresh_data_dir):
    d6tflow.run(CacheTask3(), execution_summary=False)
    assert list(CacheTask3().outputLoad()["a"]) == [0, 6, 12]
    inputs = CacheTask3().inputLoad(as_dict=True)
    assert list(inputs["input2"]["twice"]["a"]) == [0, 2, 4]
    assert list(CacheTask3().input()["input1"].load()["a"]) == [0, 1, 2]
    assert [p for p in fresh_data_dir.rglob("*") if p.is_file()] == []


def test_in_memory_example_is_gone_when_memory_is_cleared():
    d6tflow.run(CacheTask3(), execution_summary=False)
    assert CacheTask3().complete()
    d6tflow.data.clear()
    assert not CacheTask3().complete()
    assert not CacheTask1().complete()


# -- an ML flow with a switch ----------------------------------------------------------------------


class GetData(d6tflow.tasks.TaskPqPandas):
    def run(self):
        from sklearn.datasets import load_diabetes

        calls.append("GetData")
        self.save(load_diabetes(as_frame=True).frame)


@d6tflow.requires(GetData)
class Preprocess(d6tflow.tasks.TaskPqPandas):
    do_preprocess = d6tflow.BoolParameter(default=True)

    def run(self):
        calls.append(f"Preprocess-{self.do_preprocess}")
        df = self.inputLoad()
        if self.do_preprocess:
            features = df.columns.drop("target")
            df[features] = (df[features] - df[features].mean()) / df[features].std()
        self.save(df)


@d6tflow.requires(Preprocess)
class Train(d6tflow.tasks.TaskPickle):
    def run(self):
        from sklearn.linear_model import LinearRegression

        calls.append(f"Train-{self.do_preprocess}")
        df = self.inputLoad()
        X, y = df.drop(columns="target"), df["target"]
        model = LinearRegression().fit(X, y)
        self.save(model)
        self.metaSave({"score": model.score(X, y)})


def test_ml_flow_trains_and_loads_model():
    d6tflow.run(Train(), execution_summary=False)
    assert calls == ["GetData", "Preprocess-True", "Train-True"]
    model = Train().outputLoad()
    df = Preprocess().outputLoad()
    assert model.predict(df.drop(columns="target")[:5]).shape == (5,)
    assert 0.4 < Train().outputLoadMeta()["score"] < 0.7
    assert df.drop(columns="target").std().round(6).eq(1).all()


def test_ml_flow_changing_the_switch_makes_only_affected_tasks_pending(capsys):
    d6tflow.run(Train(), execution_summary=False)
    lines = preview_lines(Train(do_preprocess=False), capsys)
    assert lines == [
        "└─--[Train-{'do_preprocess': 'False'} (PENDING)] parameters new",
        "   └─--[Preprocess-{'do_preprocess': 'False'} (PENDING)] parameters new",
        "      └─--[GetData-{} (COMPLETE)]",
    ]
    calls.clear()
    result = d6tflow.run(Train(do_preprocess=False), execution_summary=False)
    assert calls == ["Preprocess-False", "Train-False"]
    assert result.status[GetData()] is d6tflow.TaskState.COMPLETE
    assert Train().complete() and Train(do_preprocess=False).complete()
    raw = Preprocess(do_preprocess=False).outputLoad()
    pd.testing.assert_frame_equal(raw, GetData().outputLoad())


# -- forcing reruns --------------------------------------------------------------------------------


class Raw(d6tflow.tasks.TaskPickle):
    n = d6tflow.IntParameter(default=0)

    def run(self):
        calls.append(f"Raw-{self.n}")
        self.save(self.n)


class Clean(d6tflow.tasks.TaskPickle):
    def requires(self):
        return [Raw(n=0), Raw(n=1)]

    def run(self):
        calls.append("Clean")
        self.save(sum(self.inputLoad()))


@d6tflow.requires(Clean)
class Report(d6tflow.tasks.TaskPickle):
    def run(self):
        calls.append("Report")
        self.save(self.inputLoad())


def run_all_then_clear():
    d6tflow.run(Report(), execution_summary=False)
    calls.clear()


def test_forced_all_reruns_only_the_requested_task():
    run_all_then_clear()
    d6tflow.run(Report(), forced_all=True, execution_summary=False)
    assert calls == ["Report"]


def test_forced_all_upstream_reruns_everything_upstream():
    run_all_then_clear()
    d6tflow.run(Report(), forced_all_upstream=True, execution_summary=False)
    assert sorted(calls) == ["Clean", "Raw-0", "Raw-1", "Report"]


def test_forced_reruns_the_given_task_and_what_depends_on_it():
    run_all_then_clear()
    d6tflow.run(Report(), forced=Clean(), execution_summary=False)
    assert calls == ["Clean", "Report"]


def test_forced_with_params_reruns_exactly_that_task_when_in_the_graph():
    run_all_then_clear()
    d6tflow.run(Report(), forced=Raw(n=1), execution_summary=False)
    assert calls == ["Raw-1", "Clean", "Report"]


def test_forced_list_reruns_each_given_task():
    run_all_then_clear()
    d6tflow.run(Report(), forced=[Raw(n=0), Raw(n=1)], execution_summary=False)
    assert sorted(calls) == ["Clean", "Raw-0", "Raw-1", "Report"]


def test_forced_without_anything_complete_just_runs():
    d6tflow.run(Report(), forced=Clean(), execution_summary=False)
    assert sorted(calls) == ["Clean", "Raw-0", "Raw-1", "Report"]


def test_forced_with_confirm_no_runs_nothing_and_deletes_nothing(answer):
    prompts = answer("n")
    run_all_then_clear()
    result = d6tflow.run(Report(), forced=Clean(), confirm=True, execution_summary=False)
    assert len(prompts) == 1
    assert calls == []
    assert not result
    assert Clean().complete() and Report().complete()


def test_forced_with_confirm_yes_reruns(answer):
    prompts = answer("y")
    run_all_then_clear()
    d6tflow.run(Report(), forced=Clean(), confirm=True, execution_summary=False)
    assert len(prompts) == 1
    assert calls == ["Clean", "Report"]


def test_forced_task_with_other_params_forces_that_class_in_the_flow():
    run_all_then_clear()
    d6tflow.run(Report(), forced=Raw(n=9), execution_summary=False)
    assert sorted(calls) == ["Clean", "Raw-0", "Raw-1", "Report"]
    assert not Raw(n=9).complete()


def test_forced_task_of_a_class_outside_the_flow_is_an_error():
    run_all_then_clear()
    with pytest.raises(ValueError, match="GetData"):
        d6tflow.run(Report(), forced=GetData(), execution_summary=False)
    assert calls == []
